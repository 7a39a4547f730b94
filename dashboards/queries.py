"""The InfluxQL behind every panel, in one place (layout lives in boards/).

Queries use Grafana's InfluxDB macros: `$timeFilter` (the dashboard range) and
`$__interval`; template variables as `${grid:raw}` (a regex of meter ids, inserted as is)
and `$household` / `${household:text}` (a meter id and its household code).
Measurements and tags are the storage layout (../shared/DESIGN.md, InfluxDB layout): one measurement per kind,
`device_status` (tag `kind`), `gateway_state`, `dead_letter` (tag `code`) and `alert`
(tags action, rule, severity, grid).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from storage.escape import string_literal as quote
from storage.measurements import ALERT, DEAD_LETTER, DEVICE_STATUS, GATEWAY_STATE
from wire.models import Kind

WATER = Kind.WATER_METER.value
RIVER = Kind.RIVER_GAUGE.value
BUTTON = Kind.CALL_BUTTON.value
CAMERA = Kind.CAMERA.value
DEVICE_KINDS = (WATER, BUTTON, RIVER, CAMERA)
#: every measurement ingest writes device traffic to
TRAFFIC = "/^(" + "|".join((*DEVICE_KINDS, DEVICE_STATUS)) + ")$/"
_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def alternation(ids: Iterable[str]) -> str:
    """'a|b|c' for an InfluxQL regex; ids are registry codes / wire ids (checked, escaped)."""
    out = []
    for i in ids:
        if not _CODE.match(i):
            raise ValueError(f"{i!r} is not a registry code or wire id")
        out.append(i.replace(".", r"\."))  # the only regex metacharacter a code may hold
    if not out:
        raise ValueError("an empty selection would match nothing")
    return "|".join(out)


def any_of(tag: str, ids: Iterable[str]) -> str:
    """`"tag" =~ /^(a|b)$/`."""
    return f'"{tag}" =~ /^({alternation(ids)})$/'


# --- river stations ----------------------------------------------------------------------


def river_level(device: str) -> str:
    return (f'SELECT mean("level_m") AS "level" FROM "{RIVER}" WHERE "device" = {quote(device)} AND $timeFilter '
            f"GROUP BY time($__interval) fill(none)")


def river_last_level(device: str) -> str:
    return f'SELECT last("level_m") AS "level" FROM "{RIVER}" WHERE "device" = {quote(device)} AND $timeFilter'


def river_margin(device: str, line_m: float) -> str:
    """Metres left below a line (negative: above it), from the latest reading."""
    return (f'SELECT {line_m!r} - last("level_m") AS "margin" FROM "{RIVER}" '
            f'WHERE "device" = {quote(device)} AND $timeFilter')


def river_rise(device: str) -> str:
    """Rate of rise in m/h over 15-minute medians (a median so one spike does not fake a rise)."""
    return (f'SELECT derivative(median("level_m"), 1h) AS "rise" FROM "{RIVER}" '
            f'WHERE "device" = {quote(device)} AND $timeFilter GROUP BY time(15m) fill(none)')


# --- water use -----------------------------------------------------------------------------


def _per_device_use(where: str) -> str:
    return (f'SELECT non_negative_difference(max("total_l")) AS "used" FROM "{WATER}" WHERE {where} AND $timeFilter '
            f'GROUP BY time($__interval), "device"')


def water_use_total(where: str) -> str:
    """Litres used per interval, summed over the selected meters (register advance per meter)."""
    return (f'SELECT sum("used") AS "litres" FROM ({_per_device_use(where)}) WHERE $timeFilter '
            f"GROUP BY time($__interval) fill(0)")


def water_use_in_range(where: str) -> str:
    """Litres used over the whole range by the selected meters."""
    return (f'SELECT sum("used") AS "litres" FROM (SELECT spread("total_l") AS "used" FROM "{WATER}" '
            f'WHERE {where} AND $timeFilter GROUP BY "device")')


def meters_reporting(where: str, window: str = "1h") -> str:
    """How many of the selected meters sent a reading in the last `window`."""
    return (f'SELECT count("register") AS "meters" FROM (SELECT last("total_l") AS "register" FROM "{WATER}" '
            f'WHERE {where} AND time > now() - {window} GROUP BY "device")')


def meters_without_use(where: str, window: str = "12h") -> str:
    """How many of the selected meters' registers did not move in the last `window` (count, no identities)."""
    return (f'SELECT count("used") AS "meters" FROM (SELECT spread("total_l") AS "used" FROM "{WATER}" '
            f'WHERE {where} AND time > now() - {window} GROUP BY "device") WHERE "used" = 0')


def leak_flags(where: str) -> str:
    return (f'SELECT count("leak_flag") AS "leak flags" FROM "{WATER}" WHERE {where} AND "leak_flag" = true '
            f"AND $timeFilter GROUP BY time($__interval) fill(0)")


def grid_households_table() -> str:
    """Per meter of the selected grid: litres used in the range, register and flow now."""
    return (f'SELECT spread("total_l") AS "used_l", last("total_l") AS "register_l", last("flow_lpm") AS "flow_lpm" '
            f'FROM "{WATER}" WHERE "device" =~ /^(${{grid:raw}})$/ AND $timeFilter GROUP BY "device"')


def household_register() -> str:
    return (f'SELECT last("total_l") AS "register" FROM "{WATER}" WHERE "device" = \'$household\' AND $timeFilter '
            f"GROUP BY time($__interval) fill(previous)")


def household_use() -> str:
    return (f'SELECT non_negative_difference(max("total_l")) AS "litres" FROM "{WATER}" '
            f"WHERE \"device\" = '$household' AND $timeFilter GROUP BY time($__interval) fill(none)")


def household_flow() -> str:
    return (f'SELECT max("flow_lpm") AS "flow" FROM "{WATER}" WHERE "device" = \'$household\' AND $timeFilter '
            f"GROUP BY time($__interval) fill(none)")


def household_alerts() -> str:
    return (f'SELECT "rule", "state", "severity", "id" FROM "{ALERT}" WHERE "subject" = \'${{household:text}}\' '
            f"AND $timeFilter")


# --- call buttons and alerts -----------------------------------------------------------------


def alert_scope(grids: Iterable[str], subjects: Iterable[str]) -> str:
    """A community's alerts: its grids' (grid tag) and its stations' and gateways' (no grid)."""
    parts = []
    grids, subjects = list(grids), list(subjects)
    if grids:
        parts.append(any_of("grid", grids))
    if subjects:
        parts.append(any_of("subject", subjects))
    return "(" + " OR ".join(parts) + ")"


def alerts_opened_by(scope: str, tags: str) -> str:
    return (f'SELECT count("id") AS "alerts" FROM "{ALERT}" WHERE "action" = \'opened\' AND {scope} AND $timeFilter '
            f"GROUP BY {tags}")


def alerts_opened_over_time(scope: str) -> str:
    return (f'SELECT count("id") AS "alerts" FROM "{ALERT}" WHERE "action" = \'opened\' AND {scope} AND $timeFilter '
            f'GROUP BY time($__interval), "severity" fill(0)')


def time_to(field: str, action: str, scope: str) -> str:
    """Mean and worst time (minutes) from opening to `action`, by severity."""
    return (f'SELECT mean("{field}") / 60 AS "mean", max("{field}") / 60 AS "worst", count("{field}") AS "alerts" '
            f'FROM "{ALERT}" WHERE "action" = {quote(action)} AND {scope} AND $timeFilter GROUP BY "severity"')


def mean_time_to(field: str, action: str, scope: str) -> str:
    """Mean time (minutes) from opening to `action`, by severity."""
    return (f'SELECT mean("{field}") / 60 AS "minutes" FROM "{ALERT}" WHERE "action" = {quote(action)} AND {scope} '
            f'AND $timeFilter GROUP BY "severity"')


def alert_log(scope: str) -> str:
    return (f'SELECT "id", "rule", "severity", "action", "state", "subject" FROM "{ALERT}" WHERE {scope} '
            f"AND $timeFilter ORDER BY time DESC LIMIT 200")


def button_events(where: str, action: str) -> str:
    return (f'SELECT count("action") AS "{action}" FROM "{BUTTON}" WHERE {where} AND "action" = {quote(action)} '
            f"AND $timeFilter GROUP BY time($__interval) fill(0)")


def button_log(where: str) -> str:
    return (f'SELECT "action", "device", "gateway" FROM "{BUTTON}" WHERE {where} AND $timeFilter '
            f"ORDER BY time DESC LIMIT 100")


# --- devices and gateways ----------------------------------------------------------------------


def gateway_presence(where: str) -> str:
    """Each gateway's latest presence (birth or last will) with its time."""
    return f'SELECT last("online") AS "online" FROM "{GATEWAY_STATE}" WHERE {where} AND $timeFilter GROUP BY "gateway"'


def gateway_health(where: str) -> str:
    return (f'SELECT last("connected") AS "connected", last("outbox_depth") AS "outbox", '
            f'last("outbox_oldest_s") AS "oldest_s", last("uptime_s") AS "uptime_s", last("cpu_pct") AS "cpu_pct", '
            f'last("rss_mb") AS "rss_mb", last("drivers_down") AS "drivers_down" FROM "{DEVICE_STATUS}" '
            f"WHERE \"kind\" = 'gateway' AND {where} AND $timeFilter GROUP BY \"gateway\"")


def outbox_depth(where: str) -> str:
    return (f'SELECT max("outbox_depth") AS "outbox" FROM "{DEVICE_STATUS}" WHERE "kind" = \'gateway\' AND {where} '
            f'AND $timeFilter GROUP BY time($__interval), "gateway" fill(none)')


def last_seen(where: str) -> str:
    """Per device and measurement, the time of its newest message."""
    return f'SELECT last("seq") AS "seq" FROM {TRAFFIC} WHERE {where} AND $timeFilter GROUP BY "device", "gateway"'


def battery(where: str) -> str:
    return (f'SELECT last("battery_v") AS "battery_v" FROM "{DEVICE_STATUS}" WHERE {where} AND $timeFilter '
            f'GROUP BY "device", "kind"')


def lowest_battery(where: str) -> str:
    return f'SELECT min("battery_v") AS "battery_v" FROM ({battery(where)})'


def offline_list(where: str) -> str:
    """Devices and gateways that are offline now: active gateway-offline / device-silent alerts' latest states."""
    return (f'SELECT "id", "subject", "rule", "state" FROM "{ALERT}" '
            f'WHERE "rule" =~ /^(gateway_offline|device_silent)$/ AND {where} AND $timeFilter')


def offline_gateways(where: str) -> str:
    return (f'SELECT "online" FROM (SELECT last("online") AS "online" FROM "{GATEWAY_STATE}" WHERE {where} '
            f'AND $timeFilter GROUP BY "gateway") WHERE "online" = false GROUP BY "gateway"')


# --- ingest health ------------------------------------------------------------------------------


def points_per_measurement() -> str:
    """Points stored per interval, per measurement (what ingest wrote, by device time)."""
    return f'SELECT count("seq") AS "points" FROM {TRAFFIC} WHERE $timeFilter GROUP BY time($__interval) fill(0)'


def dead_letters_by_code() -> str:
    return (f'SELECT count("size") AS "rejected" FROM "{DEAD_LETTER}" WHERE $timeFilter '
            f'GROUP BY time($__interval), "code" fill(0)')


def dead_letter_log() -> str:
    return (f'SELECT "code", "reason", "topic", "size" FROM "{DEAD_LETTER}" WHERE $timeFilter '
            f"ORDER BY time DESC LIMIT 100")


def newest_point_by_gateway() -> str:
    """Time of the newest stored point per gateway: how far behind ingest (and the uplinks) are."""
    return f'SELECT last("seq") AS "seq" FROM {TRAFFIC} WHERE time > now() - 7d GROUP BY "gateway"'


def rejected_share() -> str:
    return f'SELECT count("size") AS "rejected" FROM "{DEAD_LETTER}" WHERE $timeFilter'
