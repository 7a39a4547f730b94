"""A simulator scenario's community as registry rows (what staff would have entered for that place): the one
bridge from a scenario to a registry, used by `shouwang registry import-scenario`, `shouwang up` (an empty
registry is seeded from the scenario it simulates), `shouwang evaluate` and `shouwang dashboards --scenario`.

The community comes from the simulator (firmware_sim.scenario.load_scenario); this module only reads its
attributes, so the registry does not import the simulator (the caller, a level above both, loads it).
Thresholds the scenario does not state are set as a site would: camera zones watched at
night (22:00-06:00), a rate-of-rise threshold of 0.2 m/h, one grid worker per grid and a
duty officer for the community and the street, family contacts from the scenario's
registry details. Inactivity windows outside 6-8 h are clamped into that range.
"""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import func, select

from ground.errors import ConfigError
from registry.csvio import COLUMNS, ImportReport, import_rows
from registry.model import RegistrySnapshot, load_snapshot
from registry.tables import Node
from storage.sql import Database

NIGHT_WATCH = "22:00-06:00"
RISE_M_PER_H = 0.2


class Community(Protocol):
    """What the bridge reads of a simulator community (firmware_sim.scenario.Community)."""

    @property
    def meta(self) -> Any: ...  # name, timezone
    @property
    def community(self) -> Any: ...  # id, name, street
    @property
    def grids(self) -> Sequence[Any]: ...
    @property
    def buildings(self) -> Sequence[Any]: ...
    @property
    def households(self) -> Sequence[Any]: ...
    @property
    def gauges(self) -> Sequence[Any]: ...
    @property
    def cameras(self) -> Sequence[Any]: ...


def _hhmm(ms: int) -> str:
    m = (ms // 60_000) % 1440
    return f"{m // 60:02d}:{m % 60:02d}"


def registry_rows(c: Community) -> list[dict[str, str]]:
    """Rows for registry.csvio from a simulator community."""
    rows: list[dict[str, str]] = []

    def add(**kw: Any) -> None:
        rows.append({col: "" if kw.get(col) is None else str(kw[col]) for col in COLUMNS})

    street = f"{c.community.id}-street"
    add(record="street", code=street, name=c.community.street or street)
    add(record="community", code=c.community.id, parent=street, name=c.community.name or c.community.id)
    add(record="contact", code=f"duty-{street}", parent=street, role="street_duty", channels="ntfy://sw-street-duty")
    add(record="contact", code=f"duty-{c.community.id}", parent=c.community.id, role="community_duty",
        channels="ntfy://sw-community-duty")
    for g in c.grids:
        add(record="grid", code=g.id, parent=c.community.id, name=g.name or g.id)
        add(record="contact", code=f"worker-{g.id}", parent=g.id, role="grid_worker", channels=f"ntfy://sw-{g.id}")
    for b in c.buildings:
        add(record="building", code=b.id, parent=b.grid, name=b.name or b.id)
    for h in c.households:
        sleep_end = h.bedtime_ms + int(h.sleep_hours * 3_600_000)
        add(record="household", code=h.id, parent=h.building, name=(h.registry.address if h.registry else "") or h.id,
            flags="solitary_elderly" if h.solitary_elderly else "", sleep=f"{_hhmm(h.bedtime_ms)}-{_hhmm(sleep_end)}",
            window_h=f"{min(8.0, max(6.0, h.inactivity_window_h)):g}")
        if h.meter:
            add(record="device", code=h.meter.id, parent=h.id, gateway=h.gateway, kind="water_meter",
                interval_s=h.meter.interval // 1000, step_l=f"{h.meter.resolution_l:g}")
        if h.button:
            add(record="device", code=h.button.id, parent=h.id, gateway=h.gateway, kind="call_button",
                interval_s=h.button.heartbeat // 1000)
        for i, p in enumerate(h.registry.contacts if h.registry else []):
            add(record="contact", code=f"family-{h.id}-{i + 1}", parent=h.id, role="family", name=p.name,
                channels=f"ntfy://sw-family-{h.id}-{i + 1}")
    for g in c.gauges:
        add(record="station", code=g.id, parent=c.community.id, name=g.name or g.id,
            warning_m=g.warning_level_m, guaranteed_m=g.guaranteed_level_m, rise_m_per_h=RISE_M_PER_H)
        add(record="device", code=g.id, parent=g.id, gateway=g.gateway, kind="river_gauge",
            interval_s=g.interval // 1000)
    grid_of_gateway = {b.gateway: b.grid for b in c.buildings}
    done: set[str] = set()
    for cam in c.cameras:
        grid = cam.grid or grid_of_gateway.get(cam.gateway) or c.grids[0].id
        codes = []
        for z in cam.zones:
            code = f"{grid}.{z}"
            codes.append(code)
            if code in done:
                continue
            done.add(code)
            add(record="zone", code=code, parent=grid, name=z, schedule=NIGHT_WATCH,
                types="line_crossing" if z in cam.lines else "intrusion;person")
        add(record="device", code=cam.id, parent=codes[0], gateway=cam.gateway, kind="camera",
            interval_s=cam.status_interval // 1000)
    return rows


def registry_csv(c: Community) -> str:
    """The same rows as CSV text."""
    buf = io.StringIO(newline="")
    w = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    w.writeheader()
    w.writerows(registry_rows(c))
    return buf.getvalue()


def source_name(c: Community) -> str:
    """How an import of the community names its source in reports and logs."""
    return f"scenario {c.meta.name}"


def import_community(db: Database, c: Community) -> ImportReport:
    """Import the community's places, devices and contacts (rows already there are updated, by code)."""
    return import_rows(db, registry_csv(c), source_name(c))


def require_clean(report: ImportReport, c: Community) -> None:
    """ConfigError naming the first rejected rows, if any row of the community was rejected."""
    if report.errors:
        raise ConfigError(f"{source_name(c)}: registry rows rejected: " + "; ".join(map(str, report.errors[:3])))


def seed_if_empty(db: Database, c: Community) -> ImportReport | None:
    """Import the community if the registry has no place yet; None if it had one."""
    with db.session() as s:
        if s.scalar(select(func.count()).select_from(Node)):
            return None
    return import_community(db, c)


def community_snapshot(c: Community) -> RegistrySnapshot:
    """The registry a site would have for the community (built in a temporary database)."""
    with tempfile.TemporaryDirectory(prefix="sw-registry-") as tmp, \
            Database(f"sqlite:///{Path(tmp) / 'registry.db'}") as db:
        require_clean(import_community(db, c), c)
        return load_snapshot(db)
