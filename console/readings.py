"""What the console reads from InfluxDB: last seen, battery, gateway presence, river levels, water use.

Ids come from the registry (wire ids, `^[a-z0-9][a-z0-9-]*$`) and are still escaped. A
failing InfluxDB raises InfluxError; handlers answer with the store's data and say the
readings are unavailable, never a 500.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
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


def device_readings(influx: InfluxClient, ids: Iterable[str], lookback_d: int = 30) -> dict[str, DeviceReadings]:
    """Last message time, battery and signal per device."""
    seen: dict[str, int] = {}
    battery: dict[str, tuple[int, float]] = {}
    rssi: dict[str, float] = {}
    for chunk in _chunks(ids):
        where = f'"device" =~ {_regex(chunk)} AND time > now() - {lookback_d}d'
        for r in influx.rows(f'SELECT last("seq") FROM {_FROM_DEVICES} WHERE {where} '
                             f'GROUP BY "device"'):
            seen[r["device"]] = max(seen.get(r["device"], 0), int(r["time"]))
        for r in influx.rows(f'SELECT last("battery_v") FROM "device_status","water_meter" WHERE {where} '
                             f'GROUP BY "device"'):
            if r.get("last") is not None and int(r["time"]) >= battery.get(r["device"], (0, 0.0))[0]:
                battery[r["device"]] = (int(r["time"]), float(r["last"]))
        for r in influx.rows(f'SELECT last("rssi_dbm") FROM "device_status" WHERE {where} GROUP BY "device"'):
            if r.get("last") is not None:
                rssi[r["device"]] = float(r["last"])
    return {d: DeviceReadings(seen.get(d), battery.get(d, (0, None))[1], rssi.get(d))
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


def river_levels(influx: InfluxClient, device: str, since_ms: int) -> list[tuple[int, float]]:
    """(ms, level_m) of a gauge since a time, oldest first."""
    q = (f'SELECT "level_m" FROM "river_gauge" WHERE "device" = {string_literal(device)} AND time >= {int(since_ms)}ms '
         f'ORDER BY time ASC')
    return [(int(r["time"]), float(r["level_m"])) for r in influx.rows(q) if r.get("level_m") is not None]


def last_levels(influx: InfluxClient, devices: Iterable[str]) -> dict[str, tuple[int, float]]:
    out: dict[str, tuple[int, float]] = {}
    for chunk in _chunks(devices):
        q = (f'SELECT last("level_m") FROM "river_gauge" WHERE "device" =~ {_regex(chunk)} AND time > now() - 7d '
             f'GROUP BY "device"')
        for r in influx.rows(q):
            out[r["device"]] = (int(r["time"]), float(r["last"]))
    return out


@dataclass(frozen=True, slots=True)
class WaterUse:
    last_reading: int | None
    total_l: float | None
    last_use: int | None  # when the register last moved (within the lookback)


def water_use(influx: InfluxClient, meter: str, lookback_h: int = 48) -> WaterUse:
    """The meter's last reading and when water was last used (the register last advanced)."""
    q = (f'SELECT "total_l" FROM "water_meter" WHERE "device" = {string_literal(meter)} AND time > now() - {int(lookback_h)}h '
         f'ORDER BY time DESC LIMIT 5000')
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
