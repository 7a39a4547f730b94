"""What the console reads from InfluxDB: last seen, battery, gateway presence, river levels, water use.

Ids come from the registry (wire ids, `^[a-z0-9][a-z0-9-]*$`) and are still escaped. A
failing InfluxDB raises InfluxError; handlers answer with the store's data and say the
readings are unavailable, never a 500.

A device's readings are the rows its registered gateway sent (tag `gateway`): another gateway may publish under
its own topic with any device id (one gateway's stolen password), and ingest stores that as it came; shown as the
device's, it would make a dead meter look alive or a gauge read what the thief likes (alerts/engine.py
Engine.own_gateway judges the same way).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from storage.escape import regex_alternation, string_literal
from storage.influx import InfluxClient
from storage.measurements import DEVICE_MEASUREMENTS

CHUNK = 200
_FROM_DEVICES = ",".join(f'"{m}"' for m in DEVICE_MEASUREMENTS)


def _regex(ids: Sequence[str]) -> str:
    return f"/^({regex_alternation(ids)})$/"


def _chunks(ids: Iterable[str]) -> Iterable[list[str]]:
    ids = sorted(set(ids))
    for i in range(0, len(ids), CHUNK):
        yield ids[i:i + CHUNK]


@dataclass(frozen=True, slots=True)
class DeviceReadings:
    last_seen: int | None = None
    battery_v: float | None = None
    rssi_dbm: float | None = None


def _own(devices: Mapping[str, str], row: dict) -> bool:
    """The row came from the device's registered gateway (or the registry names none)."""
    gw = devices.get(row.get("device", ""), "")
    return not gw or row.get("gateway") == gw


def _gateway_clause(gateway: str) -> str:
    return f' AND "gateway" = {string_literal(gateway)}' if gateway else ""


def device_readings(influx: InfluxClient, devices: Mapping[str, str],
                    lookback_d: int = 30) -> dict[str, DeviceReadings]:
    """Last message time, battery and signal per device (device id -> its registered gateway, "" for any)."""
    seen: dict[str, int] = {}
    battery: dict[str, tuple[int, float]] = {}
    rssi: dict[str, tuple[int, float]] = {}
    for chunk in _chunks(devices):
        where = f'"device" =~ {_regex(chunk)} AND time > now() - {lookback_d}d'
        for r in influx.rows(f'SELECT last("seq") FROM {_FROM_DEVICES} WHERE {where} '
                             f'GROUP BY "device", "gateway"'):
            if _own(devices, r):
                seen[r["device"]] = max(seen.get(r["device"], 0), int(r["time"]))
        for r in influx.rows(f'SELECT last("battery_v") FROM "device_status","water_meter" WHERE {where} '
                             f'GROUP BY "device", "gateway"'):
            if (r.get("last") is not None and _own(devices, r)
                    and int(r["time"]) >= battery.get(r["device"], (0, 0.0))[0]):
                battery[r["device"]] = (int(r["time"]), float(r["last"]))
        for r in influx.rows(f'SELECT last("rssi_dbm") FROM "device_status" WHERE {where} '
                             f'GROUP BY "device", "gateway"'):
            if (r.get("last") is not None and _own(devices, r)
                    and int(r["time"]) >= rssi.get(r["device"], (0, 0.0))[0]):
                rssi[r["device"]] = (int(r["time"]), float(r["last"]))
    return {d: DeviceReadings(seen.get(d), battery.get(d, (0, None))[1], rssi.get(d, (0, None))[1])
            for d in set(seen) | set(battery) | set(rssi)}


def gateway_presence(influx: InfluxClient, gateways: Iterable[str]) -> dict[str, tuple[bool, int]]:
    """(online, since when) per gateway from its last presence message."""
    out: dict[str, tuple[bool, int]] = {}
    for chunk in _chunks(gateways):
        q = (f'SELECT last("online") FROM "gateway_state" WHERE "gateway" =~ {_regex(chunk)} AND time > now() - 30d '
             f'GROUP BY "gateway"')
        for r in influx.rows(q):
            out[r["gateway"]] = (bool(r["last"]), int(r["time"]))
    return out


def river_levels(influx: InfluxClient, device: str, since_ms: int, gateway: str = "") -> list[tuple[int, float]]:
    """(ms, level_m) of a gauge since a time, oldest first; gateway: the gauge's registered gateway."""
    q = (f'SELECT "level_m" FROM "river_gauge" WHERE "device" = {string_literal(device)}{_gateway_clause(gateway)} '
         f'AND time >= {int(since_ms)}ms ORDER BY time ASC')
    return [(int(r["time"]), float(r["level_m"])) for r in influx.rows(q) if r.get("level_m") is not None]


def last_levels(influx: InfluxClient, devices: Mapping[str, str]) -> dict[str, tuple[int, float]]:
    """The last level of each gauge (device id -> its registered gateway)."""
    out: dict[str, tuple[int, float]] = {}
    for chunk in _chunks(devices):
        q = (f'SELECT last("level_m") FROM "river_gauge" WHERE "device" =~ {_regex(chunk)} AND time > now() - 7d '
             f'GROUP BY "device", "gateway"')
        for r in influx.rows(q):
            if _own(devices, r) and int(r["time"]) >= out.get(r["device"], (0, 0.0))[0]:
                out[r["device"]] = (int(r["time"]), float(r["last"]))
    return out


@dataclass(frozen=True, slots=True)
class WaterUse:
    last_reading: int | None
    total_l: float | None
    last_use: int | None  # when the register last moved (within the lookback)


def water_use(influx: InfluxClient, meter: str, gateway: str = "", lookback_h: int = 48) -> WaterUse:
    """The meter's last reading and when water was last used (the register last advanced); gateway: the meter's
    registered gateway."""
    q = (f'SELECT "total_l" FROM "water_meter" WHERE "device" = {string_literal(meter)}{_gateway_clause(gateway)} '
         f'AND time > now() - {int(lookback_h)}h ORDER BY time DESC LIMIT 5000')
    rows = [(int(r["time"]), float(r["total_l"])) for r in influx.rows(q) if r.get("total_l") is not None]
    if not rows:
        return WaterUse(None, None, None)
    last_t, last_v = rows[0]
    use = None
    for (t_new, v_new), (_t_old, v_old) in zip(rows, rows[1:]):
        if v_new > v_old:
            use = t_new
            break
    return WaterUse(last_t, last_v, use)
