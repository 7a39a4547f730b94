"""The registry as the engine sees it: an immutable snapshot of places, devices and contacts.

Loaded from the store at start and reloaded when the registry revision (bumped by every
import) changes. Personal data (names, channel URLs) lives only here and in the store;
rules and logs work with codes and device ids.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.tables import CameraZone, Contact, Device, Household, Meta, Node, RiverStation
from registry.types import ROLE_LEVEL, Level, Role
from storage.sql import Database

REVISION_KEY = "registry_revision"


def parse_hhmm_range(text: str) -> tuple[int, int] | None:
    """'22:00-06:30' -> (1320, 390) minutes after midnight; '' -> None; ValueError if malformed."""
    text = text.strip()
    if not text:
        return None
    try:
        a, b = text.split("-")
        return _hhmm(a), _hhmm(b)
    except ValueError:
        raise ValueError(f"{text!r} is not a range like 22:00-06:30") from None


def _hhmm(part: str) -> int:
    h, m = part.strip().split(":")
    hh, mm = int(h), int(m)
    if not (0 <= hh <= 24 and 0 <= mm < 60 and hh * 60 + mm <= 1440):
        raise ValueError(part)
    return hh * 60 + mm


def format_hhmm_range(rng: tuple[int, int] | None) -> str:
    if rng is None:
        return ""
    return "-".join(f"{m // 60:02d}:{m % 60:02d}" for m in rng)


def in_daily_range(minute: int, rng: tuple[int, int] | None) -> bool:
    """Whether a minute of the day lies in a daily range that may wrap midnight (None = always)."""
    if rng is None:
        return True
    a, b = rng
    if a == b:
        return True
    return a <= minute < b if a < b else (minute >= a or minute < b)


@dataclass(frozen=True, slots=True)
class NodeInfo:
    code: str
    level: Level
    parent: str | None
    name: str


@dataclass(frozen=True, slots=True)
class HouseholdInfo:
    code: str
    flags: frozenset[str]
    sleep: tuple[int, int]
    window_h: float
    away_until: dt.date | None
    resident: str = ""  # personal data: who lives there
    phone: str = ""  # personal data: the household's phone, digits with an optional leading +
    max_window_h: float | None = None  # the inactivity limit staff approved above the window (None: the window)

    def away_on(self, day: dt.date) -> bool:
        return self.away_until is not None and day <= self.away_until


@dataclass(frozen=True, slots=True)
class StationInfo:
    code: str
    warning_m: float
    guaranteed_m: float
    rise_m_per_h: float


@dataclass(frozen=True, slots=True)
class ZoneInfo:
    code: str
    schedule: tuple[int, int] | None
    types: frozenset[str]
    display_name: str = ""  # what people read; the node's name is the local name cameras match the zone by


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    id: str
    gateway: str
    kind: str
    place: str
    interval_s: int | None
    step_l: float | None


@dataclass(frozen=True, slots=True)
class ContactInfo:
    code: str
    place: str
    role: Role
    name: str
    channels: tuple[str, ...]
    language: str
    quiet: tuple[int, int] | None
    phone: str = ""  # personal data: digits with an optional leading + (for tel: links), "" if unknown

    def quiet_at(self, minute_of_day: int) -> bool:
        """Whether a minute of the day lies in the contact's quiet hours (a contact without any: never)."""
        return self.quiet is not None and in_daily_range(minute_of_day, self.quiet)


@dataclass(frozen=True, slots=True)
class RegistrySnapshot:
    """Everything the engine needs to know about places, devices and people, at one revision."""

    revision: int = 0
    nodes: Mapping[str, NodeInfo] = field(default_factory=dict)
    households: Mapping[str, HouseholdInfo] = field(default_factory=dict)
    stations: Mapping[str, StationInfo] = field(default_factory=dict)
    zones: Mapping[str, ZoneInfo] = field(default_factory=dict)
    devices: Mapping[str, DeviceInfo] = field(default_factory=dict)
    contacts: Mapping[str, tuple[ContactInfo, ...]] = field(default_factory=dict)  # by place code
    grids: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # community code -> its grid codes
    zones_by_site: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # parent code -> zone codes

    def ancestors(self, code: str) -> list[NodeInfo]:
        """The node and its ancestors, nearest first."""
        out: list[NodeInfo] = []
        seen: set[str] = set()
        node = self.nodes.get(code)
        while node is not None and node.code not in seen:
            out.append(node)
            seen.add(node.code)
            node = self.nodes.get(node.parent) if node.parent else None
        return out

    def ancestor(self, code: str, level: Level) -> str | None:
        """Code of the nearest node of `level` at or above `code`."""
        for node in self.ancestors(code):
            if node.level is level:
                return node.code
        return None

    def name_of(self, code: str) -> str:
        """A node's name as people read it: a camera zone's display name (its node name is the local name the
        cameras use, "riverside"), else the node's name; "" if it has none."""
        node = self.nodes.get(code)
        if node is None:
            return ""
        zone = self.zones.get(code)
        return (zone.display_name if zone is not None else "") or node.name

    def location(self, code: str) -> str:
        """Human-readable place, street first (personal data: notifications only, never logs)."""
        parts = [self.name_of(n.code) or n.code for n in reversed(self.ancestors(code))]
        return " / ".join(parts) or code

    def address(self, code: str) -> str:
        """A household's 楼栋/单元/房号 as people say it ("3号楼 2单元 501": building name, then the household's
        name unless it already starts with it); a camera zone's display name; any other place's name; the code if
        the registry has no name.
        Personal data: console and notifications only, never logs."""
        node = self.nodes.get(code)
        if node is None:
            return code
        name = self.name_of(code) or node.code
        if node.level is Level.HOUSEHOLD and node.parent and node.parent in self.nodes:
            building = self.nodes[node.parent].name
            if building and node.name and not node.name.startswith(building):
                return f"{building} {node.name}"
        return name

    def audience(self, place: str, roles: Iterable[Role | str]) -> list[ContactInfo]:
        """Contacts of the given roles responsible for a place (family only for households)."""
        out: list[ContactInfo] = []
        places = self.ancestors(place)
        for role in (Role(r) for r in roles):
            level = ROLE_LEVEL[role]
            for node in places:
                if node.level is level:
                    out += [c for c in self.contacts.get(node.code, ()) if c.role is role]
            if role is Role.GRID_WORKER and places and places[0].level in (Level.STATION,) and \
                    places[0].parent and self.nodes[places[0].parent].level is Level.COMMUNITY:
                # a river station hung under a community: every grid of the community lies along the river
                for grid in self.grids.get(places[0].parent, ()):
                    out += [c for c in self.contacts.get(grid, ()) if c.role is role]
        unique: dict[str, ContactInfo] = {c.code: c for c in out}
        return list(unique.values())

    def zone_for(self, camera: str, name: str | None) -> str | None:
        """The registry zone a camera trigger is in: the zone code it names, a zone of that name on the
        camera's site (cameras know zones by their local names), else the zone the camera is bound to."""
        dev = self.devices.get(camera)
        if name and name in self.zones:
            return name
        if dev is None:
            return None
        if name:
            home = self.nodes.get(dev.place)
            site = home.parent if home is not None else None
            for code in self.zones_by_site.get(site or "", ()):
                if self.nodes[code].name == name:
                    return code
        return dev.place if dev.place in self.zones else None

    def devices_on(self, gateway: str) -> list[DeviceInfo]:
        return [d for d in self.devices.values() if d.gateway == gateway]


def registry_revision(session: Session) -> int:
    row = session.get(Meta, REVISION_KEY)
    return int(row.value) if row else 0


def bump_revision(session: Session) -> int:
    """Mark the registry changed (the engine reloads on the next check)."""
    row = session.get(Meta, REVISION_KEY)
    if row is None:
        row = Meta(key=REVISION_KEY, value="0")
        session.add(row)
    row.value = str(int(row.value) + 1)
    return int(row.value)


def set_away(db: Database, household: str, until: dt.date | None) -> None:
    """Switch a household's away mode on (until a date, inclusive) or off; bumps the revision."""
    with db.session() as s, s.begin():
        node = s.scalar(select(Node).where(Node.code == household, Node.level == Level.HOUSEHOLD.value))
        if node is None or node.household is None:
            raise KeyError(f"no household {household!r}")
        node.household.away_until = until.isoformat() if until else None
        bump_revision(s)


def _split(text: str) -> tuple[str, ...]:
    return tuple(p for p in text.replace(",", " ").split() if p)


def load_snapshot(db: Database) -> RegistrySnapshot:
    """Read the whole registry into an immutable snapshot."""
    with db.session() as s:
        revision = registry_revision(s)
        by_id: dict[int, Node] = {n.id: n for n in s.scalars(select(Node))}
        nodes = {n.code: NodeInfo(n.code, Level(n.level), by_id[n.parent_id].code if n.parent_id else None, n.name)
                 for n in by_id.values()}
        households = {}
        for h in s.scalars(select(Household)):
            code = by_id[h.node_id].code
            away = dt.date.fromisoformat(h.away_until) if h.away_until else None
            households[code] = HouseholdInfo(code, frozenset(_split(h.flags)), (h.sleep_start_min, h.sleep_end_min),
                                             h.window_h, away, h.resident, h.phone, h.max_window_h)
        stations = {by_id[r.node_id].code: StationInfo(by_id[r.node_id].code, r.warning_m, r.guaranteed_m,
                                                        r.rise_m_per_h) for r in s.scalars(select(RiverStation))}
        zones = {by_id[z.node_id].code: ZoneInfo(by_id[z.node_id].code, parse_hhmm_range(z.schedule),
                                                  frozenset(_split(z.types)), z.display_name)
                 for z in s.scalars(select(CameraZone))}
        devices = {d.id: DeviceInfo(d.id, d.gateway, d.kind, by_id[d.node_id].code, d.interval_s, d.meter_step_l)
                   for d in s.scalars(select(Device))}
        contacts: dict[str, list[ContactInfo]] = defaultdict(list)
        for c in s.scalars(select(Contact)):
            place = by_id[c.node_id].code
            contacts[place].append(ContactInfo(c.code, place, Role(c.role), c.name, _split(c.channels), c.language,
                                               parse_hhmm_range(c.quiet_hours), c.phone))
    grids: dict[str, list[str]] = defaultdict(list)
    sites: dict[str, list[str]] = defaultdict(list)
    for n in nodes.values():
        if n.level is Level.GRID and n.parent:
            grids[n.parent].append(n.code)
        if n.level is Level.ZONE and n.parent:
            sites[n.parent].append(n.code)
    return RegistrySnapshot(revision, nodes, households, stations, zones, devices,
                            {k: tuple(v) for k, v in contacts.items()}, {k: tuple(v) for k, v in grids.items()},
                            {k: tuple(v) for k, v in sites.items()})
