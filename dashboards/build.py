"""Build every dashboard: one folder per community, plus a system folder for ingest health.

    registry snapshot --scope.communities--> Community --boards/*--> SDK Dashboard --> JSON model

The JSON written and pushed is the SDK model's own encoding, checked by validate.check
before it leaves (the same check the tests run).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders.dashboard import Dashboard
from grafana_foundation_sdk.cog.encoder import JSONEncoder

from dashboards.boards import alerts, devices, ingest, river, water
from dashboards.context import BuildContext
from dashboards.scope import Community, communities, safe_uid
from dashboards.settings import DashboardsSettings
from dashboards.validate import check
from registry.model import RegistrySnapshot, load_snapshot
from registry.scenario import Community as ScenarioCommunity
from registry.scenario import community_snapshot
from storage.sql import Database

log = logging.getLogger(__name__)
SYSTEM_FOLDER_UID = "sw-system"
SYSTEM_FOLDER_TITLE = "Shouwang · system"

#: per community, in folder order: (kind, builder) — a builder returns None when it has nothing to show
COMMUNITY_BOARDS: tuple[tuple[str, Callable[[Community, BuildContext], Dashboard | None]], ...] = (
    (river.KIND, river.build),
    (water.KIND, water.overview),
    (water.STAFF, water.staff),
    (alerts.KIND, alerts.build),
    (devices.KIND, devices.build),
)


@dataclass(frozen=True, slots=True)
class Folder:
    uid: str
    title: str
    community: str | None = None  # None: the system folder


@dataclass(frozen=True, slots=True)
class BuiltDashboard:
    """One dashboard's JSON model and where it belongs."""

    uid: str
    title: str
    kind: str
    folder: Folder
    model: dict[str, Any]

    @property
    def filename(self) -> str:
        return f"{self.uid}.json"


@dataclass
class DashboardSet:
    folders: list[Folder] = field(default_factory=list)
    dashboards: list[BuiltDashboard] = field(default_factory=list)

    def in_folder(self, folder: Folder) -> list[BuiltDashboard]:
        return [d for d in self.dashboards if d.folder == folder]


def to_model(board: Dashboard) -> dict[str, Any]:
    """The SDK dashboard as plain JSON data (what Grafana stores), panels numbered 1..n."""
    dash = board.build()
    n = 0
    for p in dash.panels or []:
        n += 1
        p.id_val = n
        for q in getattr(p, "panels", None) or []:
            n += 1
            q.id_val = n
    return json.loads(json.dumps(dash, cls=JSONEncoder, ensure_ascii=False))


def community_folder(c: Community) -> Folder:
    return Folder(safe_uid("sw", c.code), c.title, c.code)


def build_all(reg: RegistrySnapshot, ctx: BuildContext, *, community: str | None = None,
              system: bool = True) -> DashboardSet:
    """Dashboards for every community of the registry (or one), plus the system folder."""
    out = DashboardSet()
    for c in communities(reg, community):
        folder = community_folder(c)
        out.folders.append(folder)
        for kind, builder in COMMUNITY_BOARDS:
            board = builder(c, ctx)
            if board is None:
                log.info("community %s: no %s dashboard (nothing registered to show)", c.code, kind)
                continue
            _add(out, board, kind, folder)
    if system:
        folder = Folder(SYSTEM_FOLDER_UID, SYSTEM_FOLDER_TITLE)
        out.folders.append(folder)
        _add(out, ingest.build(ctx), "ingest", folder)
    return out


def _add(out: DashboardSet, board: Dashboard, kind: str, folder: Folder) -> None:
    model = to_model(board)
    check(model)
    out.dashboards.append(BuiltDashboard(model["uid"], model["title"], kind, folder, model))


def write_json(dashboards: DashboardSet, out_dir: Path) -> list[Path]:
    """Write <out>/<folder uid>/<dashboard uid>.json; returns the files written."""
    written = []
    for folder in dashboards.folders:
        d = out_dir / folder.uid
        d.mkdir(parents=True, exist_ok=True)
        mine = set()
        for b in dashboards.in_folder(folder):
            path = d / b.filename
            path.write_text(json.dumps(b.model, indent=2, ensure_ascii=False, sort_keys=True) + "\n",
                            encoding="utf-8")
            written.append(path)
            mine.add(path.name)
        for old in sorted(d.glob("*.json")):
            if old.name not in mine:  # a dashboard no longer built (station removed ...): file provisioning drops it
                log.info("removing %s: no longer built", old)
                old.unlink()
    return written


def load_registry(cfg: DashboardsSettings, scenario: ScenarioCommunity | None = None) -> RegistrySnapshot:
    """The registry from the alert store, or a simulator scenario's community as a site would register it."""
    if scenario is not None:
        return community_snapshot(scenario)
    with Database.from_config(cfg) as db:
        return load_snapshot(db)
