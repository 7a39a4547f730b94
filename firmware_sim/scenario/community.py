"""The community a scenario describes, expanded and cross-checked: what the device models run on.

Groups are expanded into households and buildings with concrete values (ranges are drawn
per household from the scenario seed), and every reference is checked: a building's grid,
a household's building, an incident's target. Errors carry the TOML path so the loader
can name the line.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from firmware_sim.scenario import schema as s
from firmware_sim.seeding import rng_for
from firmware_sim.timeparse import DAY_MS


class RefError(ValueError):
    """A cross-reference problem at a TOML path (turned into a ScenarioError by the loader)."""

    def __init__(self, loc: tuple[str | int, ...], reason: str) -> None:
        super().__init__(reason)
        self.loc = loc
        self.reason = reason


@dataclass(frozen=True, slots=True)
class BuildingSpec:
    id: str
    grid: str
    gateway: str
    name: str = ""


@dataclass(frozen=True, slots=True)
class MeterSpec:
    id: str
    resolution_l: float
    interval: int
    status_interval: int
    leak_detect: bool


@dataclass(frozen=True, slots=True)
class ButtonSpec:
    id: str
    heartbeat: int
    heartbeat_jitter: int
    battery_v: float
    battery_decay_v_per_day: float
    battery_low_v: float
    accidental_press_per_day: float
    test_every_days: int


def _meter(m: s.Meter) -> MeterSpec:
    return MeterSpec(m.id, m.resolution_l, m.interval, m.status_interval, m.leak_detect)


def _button(b: s.Button) -> ButtonSpec:
    return ButtonSpec(b.id, b.heartbeat, b.heartbeat_jitter, b.battery_v, b.battery_decay_v_per_day, b.battery_low_v,
                      b.accidental_press_per_day, b.test_every_days)


@dataclass(frozen=True, slots=True)
class HouseholdSpec:
    """One household with concrete routine parameters."""

    id: str
    building: str
    grid: str
    gateway: str
    profile: s.Profile
    members: int
    solitary_elderly: bool
    bedtime_ms: int
    sleep_hours: float
    naps: bool
    inactivity_window_h: float
    away_prob: float
    night_toilet: float
    meter: MeterSpec | None
    button: ButtonSpec | None
    registry: s.Registry | None = None


@dataclass(frozen=True, slots=True)
class Community:
    """A validated, expanded scenario."""

    meta: s.Meta
    source: str
    community: s.Community
    grids: tuple[s.Grid, ...]
    buildings: tuple[BuildingSpec, ...]
    households: tuple[HouseholdSpec, ...]
    gauges: tuple[s.RiverGauge, ...]
    cameras: tuple[s.Camera, ...]
    incidents: tuple[Any, ...]  # of the scripted days (`at`)
    seed: int
    _index: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    live_incidents: tuple[Any, ...] = ()  # of a live run (`after`, `window_ends_after`), by offset

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.meta.timezone)

    @property
    def gateways(self) -> tuple[str, ...]:
        """Every gateway a device of the scenario sends through, sorted."""
        gws = {b.gateway for b in self.buildings}
        gws.update(g.gateway for g in self.gauges)
        gws.update(c.gateway for c in self.cameras)
        return tuple(sorted(gws))

    def device_count(self) -> dict[str, int]:
        """Devices by kind."""
        return {
            "water_meter": sum(1 for h in self.households if h.meter),
            "call_button": sum(1 for h in self.households if h.button),
            "river_gauge": len(self.gauges),
            "camera": len(self.cameras),
        }

    def start_ms(self, start: dt.date | dt.datetime | None = None, today: dt.date | None = None) -> int:
        """Epoch ms of the first simulated instant: a given start, the file's, or `days` days before today."""
        zone = self.zone
        if isinstance(start, dt.datetime):
            when = start if start.tzinfo else start.replace(tzinfo=zone)
            return int(when.timestamp() * 1000)
        day = start or self.meta.start
        if day is None:
            today = today or dt.datetime.now(zone).date()
            day = today - dt.timedelta(days=self.meta.days)
        return int(dt.datetime.combine(day, dt.time(0), tzinfo=zone).timestamp() * 1000)


def _draw(rng, value):  # noqa: ANN001, ANN202
    if isinstance(value, tuple):
        lo, hi = value
        if isinstance(lo, int) and isinstance(hi, int):
            return rng.randint(min(lo, hi), max(lo, hi))
        return rng.uniform(min(lo, hi), max(lo, hi))
    return value


def _expand_buildings(f: s.ScenarioFile) -> list[tuple[BuildingSpec, tuple]]:
    out = [(BuildingSpec(b.id, b.grid, b.gateway, b.name), ("buildings", i)) for i, b in enumerate(f.buildings)]
    for gi, g in enumerate(f.building_groups):
        for k in range(g.count):
            n = g.first + k
            out.append((BuildingSpec(f"{g.id_prefix}{n:04d}", g.grids[k % len(g.grids)], f"{g.gateway_prefix}{n:04d}"),
                        ("building_groups", gi)))
    return out


def _expand_households(f: s.ScenarioFile, seed: int, buildings: dict[str, BuildingSpec]) -> Iterator[tuple]:
    for i, h in enumerate(f.households):
        b = buildings.get(h.building)
        if b is None:
            raise RefError(("households", i, "building"), f"unknown building {h.building!r}")
        elderly = h.profile == s.Profile.ELDERLY
        yield HouseholdSpec(
            h.id, b.id, b.grid, b.gateway, h.profile, h.members or (1 if elderly else 3), h.solitary_elderly,
            h.bedtime, h.sleep_hours, elderly if h.naps is None else h.naps, h.inactivity_window_h, h.away_prob,
            h.night_toilet, h.meter and _meter(h.meter), h.button and _button(h.button), h.registry), ("households", i)
    all_buildings = list(buildings)
    for gi, g in enumerate(f.household_groups):
        names = g.buildings or all_buildings
        for j, name in enumerate(names):
            if name not in buildings:
                raise RefError(("household_groups", gi, "buildings", j), f"unknown building {name!r}")
        elderly = g.profile == s.Profile.ELDERLY
        for k in range(g.count):
            n = g.first + k
            hid = f"{g.id_prefix}{n:04d}"
            rng = rng_for(seed, hid, "profile")
            b = buildings[names[k % len(names)]]
            members = _draw(rng, g.members) if g.members is not None else (1 if elderly else rng.randint(2, 5))
            meter = MeterSpec(f"{g.meter_prefix}{n:04d}", g.resolution_l, g.interval, g.status_interval, g.leak_detect)
            button = None
            if g.call_button:
                d = s.Button(id="x")  # the per-button defaults of the schema
                button = ButtonSpec(f"{g.button_prefix}{n:04d}", g.button_heartbeat, d.heartbeat_jitter, d.battery_v,
                                    d.battery_decay_v_per_day, d.battery_low_v, g.accidental_press_per_day,
                                    d.test_every_days)
            bedtime = int(_draw(rng, g.bedtime)) // 60_000 * 60_000
            yield HouseholdSpec(
                hid, b.id, b.grid, b.gateway, g.profile, members, g.solitary_elderly, bedtime,
                round(_draw(rng, g.sleep_hours), 2), elderly if g.naps is None else g.naps,
                round(_draw(rng, g.inactivity_window_h), 2), g.away_prob, g.night_toilet, meter, button), \
                ("household_groups", gi)


_TARGET_FIELD = {"household": "household", "button": "call_button", "gauge": "river_gauge", "camera": "camera"}


def build_community(f: s.ScenarioFile, source: str, seed: int | None = None) -> Community:
    """Expand groups and check every reference; RefError names the TOML path of a problem."""
    seed = f.scenario.seed if seed is None else seed
    grids = {g.id for g in f.grids}
    _unique([(g.id, ("grids", i, "id")) for i, g in enumerate(f.grids)], "grid")
    blds = _expand_buildings(f)
    _unique([(b.id, loc + ("id",) if loc[0] == "buildings" else loc) for b, loc in blds], "building")
    for b, loc in blds:
        if b.grid not in grids:
            raise RefError(loc + ("grid",) if loc[0] == "buildings" else loc + ("grids",), f"unknown grid {b.grid!r}")
    buildings = {b.id: b for b, _ in blds}
    hhs = list(_expand_households(f, seed, buildings))
    _unique([(h.id, loc + ("id",) if loc[0] == "households" else loc) for h, loc in hhs], "household")
    devices: dict[str, tuple[str, Any, tuple]] = {}  # id -> (kind, spec, loc)

    def add(dev_id: str, kind: str, spec: Any, loc: tuple) -> None:
        if dev_id in devices:
            raise RefError(loc, f"device id {dev_id!r} is used twice (also at "
                                f"{_dotted(devices[dev_id][2])})")
        devices[dev_id] = (kind, spec, loc)

    for h, loc in hhs:
        if h.meter:
            add(h.meter.id, "water_meter", h, loc + (("meter", "id") if loc[0] == "households" else ()))
        if h.button:
            add(h.button.id, "call_button", h, loc + (("button", "id") if loc[0] == "households" else ()))
    for i, g in enumerate(f.river_gauges):
        add(g.id, "river_gauge", g, ("river_gauges", i, "id"))
        if g.grid and g.grid not in grids:
            raise RefError(("river_gauges", i, "grid"), f"unknown grid {g.grid!r}")
        if g.guaranteed_level_m < g.warning_level_m:
            raise RefError(("river_gauges", i, "guaranteed_level_m"), "must not be below warning_level_m")
    cameras = [(c, ("cameras", i)) for i, c in enumerate(f.cameras)]
    for gi, g in enumerate(f.camera_groups):
        for k in range(g.count):
            try:
                cam = s.Camera(id=f"{g.id_prefix}{g.first + k:04d}", gateway=g.gateways[k % len(g.gateways)],
                               zones=g.zones, lines=g.lines, activity_per_hour=g.activity_per_hour,
                               night_factor=g.night_factor, person_share=g.person_share, pulse_share=g.pulse_share,
                               burst_prob=g.burst_prob, status_interval=g.status_interval)
            except ValueError as exc:
                raise RefError(("camera_groups", gi), str(exc).splitlines()[-1].strip()) from None
            cameras.append((cam, ("camera_groups", gi)))
    for c, cloc in cameras:
        add(c.id, "camera", c, cloc + ("id",) if cloc[0] == "cameras" else cloc)
        if c.grid and c.grid not in grids:
            raise RefError(cloc + ("grid",), f"unknown grid {c.grid!r}")
        for j, line in enumerate(c.lines):
            if line not in c.zones:
                raise RefError(cloc + ("lines", j), f"line {line!r} is not one of the zones {c.zones}")
    households = {h.id: h for h, _ in hhs}
    gateways = {b.gateway for b in buildings.values()} | {g.gateway for g in f.river_gauges} | {
        c.gateway for c, _ in cameras}
    for i, inc in enumerate(f.incidents):
        _check_incident(i, inc, f.scenario.days, households, devices, gateways)
    ordered = sorted((i for i in f.incidents if not i.live), key=lambda x: (x.day, x.at))
    live = sorted((i for i in f.incidents if i.live), key=lambda x: x.after if x.after is not None else -1)
    return Community(f.scenario, source, f.community, tuple(f.grids), tuple(buildings.values()),
                     tuple(h for h, _ in hhs), tuple(f.river_gauges), tuple(c for c, _ in cameras), tuple(ordered), seed,
                     {k: v[1] for k, v in devices.items()}, tuple(live))


def _check_incident(i: int, inc: Any, days: int, households: dict, devices: dict, gateways: set) -> None:
    loc = ("incidents", i)
    if inc.live and inc.day:
        raise RefError(loc + ("day",), "a live incident (`after`) is timed from the run's start: it takes no `day`")
    if inc.day >= days:
        raise RefError(loc + ("day",), f"day {inc.day} is outside the scenario's {days} day(s) (0..{days - 1})")
    if not inc.live and inc.day * DAY_MS + inc.at >= days * DAY_MS:
        raise RefError(loc + ("at",), "time is after the end of the scenario")
    for attr, kind in _TARGET_FIELD.items():
        target = getattr(inc, attr, None)
        if target is None:
            continue
        if attr == "household":
            h = households.get(target)
            if h is None:
                raise RefError(loc + (attr,), f"unknown household {target!r}")
            if h.meter is None:
                raise RefError(loc + (attr,), f"household {target!r} has no water meter")
        elif target not in devices or devices[target][0] != kind:
            raise RefError(loc + (attr,), f"unknown {kind} {target!r}")
    if inc.type == "device_silent" and inc.device not in devices:
        raise RefError(loc + ("device",), f"unknown device {inc.device!r}")
    if inc.type == "gateway_outage" and inc.gateway not in gateways:
        raise RefError(loc + ("gateway",), f"unknown gateway {inc.gateway!r} (not used by any device)")
    if inc.type == "intrusion":
        cam = devices[inc.camera][1]
        if inc.zone not in cam.zones:
            raise RefError(loc + ("zone",), f"camera {inc.camera!r} has no zone {inc.zone!r} (zones: {cam.zones})")


def _dotted(loc: tuple) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else (f".{p}" if i else p) for i, p in enumerate(loc))


def _unique(items: list[tuple[str, tuple]], what: str) -> None:
    seen: dict[str, tuple] = {}
    for ident, loc in items:
        if ident in seen:
            raise RefError(loc, f"{what} id {ident!r} is used twice")
        seen[ident] = loc
