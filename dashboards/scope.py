"""What one community's dashboards are about, read from the registry (registry/).

InfluxDB points carry only the gateway and device ids (DESIGN: tags `gateway`, `device`);
which community, grid and household a device belongs to is known only to the registry
(`shouwang registry import`). So the dashboards are generated from a registry snapshot:
a community's queries select its gateways, a grid's its meters, a station its gauge, and
the thresholds drawn on river panels are the station's registered lines.

Only codes and place names (community, grid, station) are used; household names are
addresses (personal data) and never reach a dashboard.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections import defaultdict
from dataclasses import dataclass

from registry.model import RegistrySnapshot
from registry.types import Level
from wire.models import Kind

log = logging.getLogger(__name__)
_UID_BAD = re.compile(r"[^A-Za-z0-9_-]")
UID_MAX = 40  # Grafana's limit for dashboard and folder uids


@dataclass(frozen=True, slots=True)
class Station:
    """A river gauge station with its registered lines."""

    code: str
    name: str
    device: str
    warning_m: float
    guaranteed_m: float
    rise_m_per_h: float


@dataclass(frozen=True, slots=True)
class Household:
    """A household with a water meter (code only: its registry name is an address)."""

    code: str
    grid: str
    meter: str


@dataclass(frozen=True, slots=True)
class Grid:
    code: str
    name: str
    meters: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Community:
    """Everything a community's dashboards select on."""

    code: str
    name: str
    gateways: tuple[str, ...]
    grids: tuple[Grid, ...]
    households: tuple[Household, ...]
    stations: tuple[Station, ...]
    devices: dict[str, tuple[str, ...]]  # kind -> device ids

    @property
    def title(self) -> str:
        return f"{self.name} ({self.code})" if self.name and self.name != self.code else self.code

    @property
    def meters(self) -> tuple[str, ...]:
        return self.devices.get(Kind.WATER_METER.value, ())

    @property
    def alert_subjects(self) -> tuple[str, ...]:
        """Subjects of this community's alerts that carry no grid tag (stations, gateways)."""
        return tuple(sorted({s.code for s in self.stations} | set(self.gateways)))


def safe_uid(*parts: str) -> str:
    """A Grafana uid (<= 40 of [A-Za-z0-9_-]) from parts; shortened with a hash when needed."""
    raw = "-".join(parts)
    uid = _UID_BAD.sub("-", raw)
    if uid != raw or len(uid) > UID_MAX:
        digest = hashlib.sha1(raw.encode()).hexdigest()[:8]
        uid = f"{uid[:UID_MAX - 9]}-{digest}"
    return uid


def communities(reg: RegistrySnapshot, only: str | None = None) -> list[Community]:
    """The communities of a registry snapshot that have devices (all, or the one coded `only`)."""
    codes = sorted(n.code for n in reg.nodes.values() if n.level is Level.COMMUNITY)
    if only is not None:
        if only not in codes:
            from ground.errors import ConfigError

            raise ConfigError(f"no community {only!r} in the registry (known: {', '.join(codes) or 'none'})")
        codes = [only]
    by_community: dict[str, list] = defaultdict(list)
    for dev in reg.devices.values():
        community = reg.ancestor(dev.place, Level.COMMUNITY)
        if community is not None:
            by_community[community].append(dev)
    out = []
    for code in codes:
        devs = sorted(by_community.get(code, []), key=lambda d: d.id)
        if not devs:
            log.warning("community %s has no devices in the registry: no dashboards for it", code)
            continue
        out.append(_community(reg, code, devs))
    return out


def _community(reg: RegistrySnapshot, code: str, devs: list) -> Community:
    kinds: dict[str, list[str]] = defaultdict(list)
    households: list[Household] = []
    grid_meters: dict[str, list[str]] = defaultdict(list)
    stations: list[Station] = []
    for d in devs:
        kinds[d.kind].append(d.id)
        if d.kind == Kind.WATER_METER.value:
            grid = reg.ancestor(d.place, Level.GRID) or ""
            household = reg.ancestor(d.place, Level.HOUSEHOLD)
            if grid:
                grid_meters[grid].append(d.id)
            if household is not None:
                households.append(Household(household, grid, d.id))
        elif d.kind == Kind.RIVER_GAUGE.value and d.place in reg.stations:
            st = reg.stations[d.place]
            node = reg.nodes[d.place]
            stations.append(Station(st.code, node.name or st.code, d.id, st.warning_m, st.guaranteed_m,
                                    st.rise_m_per_h))
    grids = tuple(Grid(g, reg.nodes[g].name or g, tuple(sorted(grid_meters.get(g, ()))))
                  for g in sorted(reg.grids.get(code, ())))
    node = reg.nodes[code]
    return Community(code=code, name=node.name or code, gateways=tuple(sorted({d.gateway for d in devs if d.gateway})),
                     grids=grids, households=tuple(sorted(households, key=lambda h: (h.grid, h.code))),
                     stations=tuple(sorted(stations, key=lambda s: s.code)),
                     devices={k: tuple(sorted(v)) for k, v in kinds.items()})
