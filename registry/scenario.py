"""A simulator scenario's community as registry rows (what staff would have entered for that place): the one
bridge from a scenario to a registry, used by `shouwang registry import-scenario`, `shouwang up` (an empty
registry is seeded from the scenario it simulates), `shouwang evaluate` and `shouwang dashboards --scenario`.

The community comes from the simulator (firmware_sim.scenario.load_scenario); this module only reads its
attributes, so the registry does not import the simulator (the caller, a level above both, loads it).
Thresholds the scenario does not state are set as a site would: camera zones watched at
night (22:00-06:00), a rate-of-rise threshold of 0.2 m/h, one grid worker per grid and a
duty officer for the community and the street, family contacts from the scenario's
registry details. Inactivity windows outside 6-8 h are clamped into that range.

People and places a scenario does not name get plausible, FICTITIOUS ones, as staff would have entered them:
buildings "N号楼", households "单元 房号" (the building's name goes in front when shown, see
RegistrySnapshot.address), a resident for each household without registry details, and names for grid
workers (网格员) and duty officers, drawn deterministically from the code (the same registry on every run).
Their phone numbers lie in 138-0000-xxxx, a range that reads as fake. A household's own registry details
(name, address, phone, family) win. Camera zones keep the scenario's local name (what the cameras' triggers say,
"riverside") as their node name and get a Chinese display name for people ("河岸", ZONE_NAMES; a local name not
in it is shown as it is).
"""

from __future__ import annotations

import csv
import io
import tempfile
import zlib
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


SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏魏吕丁任沈姚卢"
GIVEN = ("秀英", "桂兰", "玉兰", "凤英", "淑珍", "建国", "建华", "志强", "国平", "文华", "丽娟", "海燕", "春梅", "晓红",
         "德明", "振华", "明", "伟", "芳", "静", "敏", "磊", "洋", "勇", "军", "杰", "涛", "婷", "娜", "鹏", "浩然",
         "子涵", "雨桐", "思远", "嘉怡", "宇航", "欣怡", "俊杰", "梓萱", "一鸣")
#: fictitious phone numbers: 138-0000-NNNN; households from 1000 on, staff from 9000 on (the shipped scenarios'
#: own registry details use 138-0000-0001.. for residents and 139-0000-0001.. for family)
HOUSEHOLD_PHONE_BASE = 1000
STAFF_PHONE_BASE = 9000
#: display names of the camera zones' local names the shipped scenarios use (what staff would have entered)
ZONE_NAMES = {"gate": "大门", "gate-line": "大门警戒线", "parking": "停车场", "courtyard": "中心庭院",
              "riverside": "河岸", "bridge": "桥头", "bridge-line": "桥头警戒线", "embankment": "堤岸",
              "bike-shed": "自行车棚", "pump-house": "泵房"}
ROOMS_PER_FLOOR = 2
FLOORS = 6


def fictitious_name(key: str) -> str:
    """A plausible Chinese name for a code, the same on every run (not a real person)."""
    h = zlib.crc32(key.encode())
    return SURNAMES[h % len(SURNAMES)] + GIVEN[(h // len(SURNAMES)) % len(GIVEN)]


def fictitious_phone(n: int) -> str:
    """138-0000-NNNN as stored (digits only); "" beyond the range's 10,000 numbers."""
    return f"1380000{n:04d}" if 0 <= n < 10_000 else ""


def _room(k: int) -> str:
    """The k-th flat of a building (from 0) as 单元 and 房号: two flats a floor, six floors a unit."""
    unit, rest = divmod(k, ROOMS_PER_FLOOR * FLOORS)
    floor, flat = divmod(rest, ROOMS_PER_FLOOR)
    return f"{unit + 1}单元 {(floor + 1) * 100 + flat + 1}"


def _building_names(c: Community) -> dict[str, str]:
    """Each building's name: the scenario's, else "N号楼" by its order (skipping names already taken)."""
    taken = {b.name for b in c.buildings if b.name}
    names: dict[str, str] = {}
    n = 0
    for b in c.buildings:
        if b.name:
            names[b.id] = b.name
            continue
        n += 1
        while f"{n}号楼" in taken:
            n += 1
        names[b.id] = f"{n}号楼"
    return names


def _household_names(c: Community, buildings: dict[str, str]) -> dict[str, str]:
    """Each household's node name: its address without the building's name ("2单元 501"), or a free flat."""
    names: dict[str, str] = {}
    used: dict[str, set[str]] = {}
    for h in c.households:
        address = (h.registry.address if h.registry else "").strip()
        building = buildings.get(h.building, "")
        if address and building and address.startswith(building):
            address = address[len(building):].strip() or address
        if address:
            names[h.id] = address
            used.setdefault(h.building, set()).add(address)
    counter: dict[str, int] = {}
    for h in c.households:
        if h.id in names:
            continue
        taken = used.setdefault(h.building, set())
        k = counter.get(h.building, 0)
        while _room(k) in taken:
            k += 1
        names[h.id] = _room(k)
        taken.add(names[h.id])
        counter[h.building] = k + 1
    return names


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
    duty = f"duty-{street}"
    add(record="contact", code=duty, parent=street, role="street_duty", channels="ntfy://sw-street-duty",
        name=fictitious_name(duty), phone=fictitious_phone(STAFF_PHONE_BASE + 990))
    duty = f"duty-{c.community.id}"
    add(record="contact", code=duty, parent=c.community.id, role="community_duty",
        channels="ntfy://sw-community-duty", name=fictitious_name(duty), phone=fictitious_phone(STAFF_PHONE_BASE + 900))
    for i, g in enumerate(c.grids):
        add(record="grid", code=g.id, parent=c.community.id, name=g.name or g.id)
        worker = f"worker-{g.id}"
        add(record="contact", code=worker, parent=g.id, role="grid_worker", channels=f"ntfy://sw-{g.id}",
            name=fictitious_name(worker), phone=fictitious_phone(STAFF_PHONE_BASE + 1 + i) if i < 899 else "")
    buildings = _building_names(c)
    for b in c.buildings:
        add(record="building", code=b.id, parent=b.grid, name=buildings[b.id])
    flats = _household_names(c, buildings)
    for n, h in enumerate(c.households):
        sleep_end = h.bedtime_ms + int(h.sleep_hours * 3_600_000)
        reg = h.registry
        resident = (reg.name if reg else "") or fictitious_name(h.id)
        in_range = n < STAFF_PHONE_BASE - HOUSEHOLD_PHONE_BASE
        phone = reg.phone if reg and reg.name else fictitious_phone(HOUSEHOLD_PHONE_BASE + n) if in_range else ""
        add(record="household", code=h.id, parent=h.building, name=flats[h.id], resident=resident, phone=phone,
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
                phone=p.phone, channels=f"ntfy://sw-family-{h.id}-{i + 1}")
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
            add(record="zone", code=code, parent=grid, name=z, display_name=ZONE_NAMES.get(z, ""), schedule=NIGHT_WATCH,
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
