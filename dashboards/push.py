"""Push dashboards to a Grafana server over its HTTP API (grafana-client): idempotent, and says what changed.

Sequence (Grafana's documented legacy HTTP API, served by Grafana 9-12):
  1. data source   GET /api/datasources/uid/:uid -> 404: POST /api/datasources (with secrets)
                   -> differs: PUT /api/datasources/uid/:uid (without secrets: Grafana keeps them)
  2. folders       GET /api/folders/:uid -> 404: POST /api/folders; other title: PUT /api/folders/:uid
  3. dashboards    GET /api/dashboards/uid/:uid, compared without id/version and with its folder
                   -> 404 or differs: POST /api/dashboards/db (folderUid; id and version of the stored one)
  4. search        GET /api/search?type=dash-db&tag=shouwang: ours in our folders that are no longer built
Nothing is ever deleted: dashboards of ours that are no longer built are reported as stale.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests
from grafana_client import GrafanaApi
from grafana_client.client import GrafanaClientError, GrafanaException

from dashboards.build import BuiltDashboard, DashboardSet, Folder
from dashboards.context import TAG
from ground.errors import ShouwangError

log = logging.getLogger(__name__)
T = TypeVar("T")
#: data source keys we own and compare (Grafana adds id, orgId, version, readOnly ...)
DS_KEYS = ("name", "type", "access", "url", "user", "isDefault", "jsonData")


class GrafanaError(ShouwangError):
    """Grafana refused a request or could not be reached (the message says which and why)."""


class Action(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    STALE = "stale"  # ours in Grafana, no longer built; left alone


@dataclass(frozen=True, slots=True)
class Change:
    kind: str  # datasource | folder | dashboard
    uid: str
    title: str
    action: Action
    detail: str = ""


@dataclass
class PushReport:
    url: str
    changes: list[Change] = field(default_factory=list)

    def count(self, action: Action) -> int:
        return sum(1 for c in self.changes if c.action is action)

    def lines(self) -> list[str]:
        out = [f"{c.kind:10} {c.uid:40} {c.action.value:9} {c.title}" + (f" ({c.detail})" if c.detail else "")
               for c in self.changes]
        counts = Counter(c.action.value for c in self.changes)
        out.append(f"Grafana {self.url}: " + ", ".join(f"{counts.get(a.value, 0)} {a.value}" for a in Action))
        return out


def _call(what: str, fn: Callable[[], T]) -> T:
    """Run one API call, translating the client's errors into GrafanaError."""
    try:
        return fn()
    except GrafanaException as exc:
        raise GrafanaError(f"{what}: Grafana answered {exc.status_code}: {exc.message}") from exc
    except requests.RequestException as exc:
        raise GrafanaError(f"{what}: Grafana unreachable: {exc}") from exc


def _get_or_none(what: str, fn: Callable[[], T]) -> T | None:
    try:
        return fn()
    except GrafanaClientError as exc:
        if exc.status_code == 404:
            return None
        raise GrafanaError(f"{what}: Grafana answered {exc.status_code}: {exc.message}") from exc
    except GrafanaException as exc:
        raise GrafanaError(f"{what}: Grafana answered {exc.status_code}: {exc.message}") from exc
    except requests.RequestException as exc:
        raise GrafanaError(f"{what}: Grafana unreachable: {exc}") from exc


def _strip(model: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in model.items() if k not in ("id", "version")}


class Pusher:
    """One push session against one Grafana."""

    def __init__(self, url: str, token: str, *, timeout_s: float = 15.0, message: str = "shouwang dashboards push"):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise GrafanaError(f"--url {url!r}: expected http(s)://host[:port][/path]")
        if not token:
            raise GrafanaError("a Grafana service account token is needed (--token or GRAFANA_TOKEN)")
        self.url = url.rstrip("/")
        self.api = GrafanaApi.from_url(self.url, credential=token, timeout=timeout_s)
        self.message = message

    def close(self) -> None:
        self.api.client.s.close()

    def __enter__(self) -> Pusher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def push(self, dashboards: DashboardSet, datasource: dict[str, Any] | None) -> PushReport:
        """Make Grafana hold exactly these folders and dashboards (and the data source, if given)."""
        report = PushReport(self.url)
        if datasource is not None:
            report.changes.append(self._datasource(datasource))
        for folder in dashboards.folders:
            report.changes.append(self._folder(folder))
        for d in dashboards.dashboards:
            report.changes.append(self._dashboard(d))
        built = {d.uid for d in dashboards.dashboards}
        ours = {f.uid for f in dashboards.folders}
        for uid, hit in sorted(self._search().items()):
            if uid not in built and hit.get("folderUid") in ours:
                report.changes.append(Change("dashboard", uid, hit.get("title", ""), Action.STALE,
                                             "no longer built; delete it in Grafana if it is not wanted"))
        return report

    # --- steps -------------------------------------------------------------------------------

    def _datasource(self, want: dict[str, Any]) -> Change:
        uid = want["uid"]
        ds = self.api.datasource
        have = _get_or_none(f"data source {uid}", lambda: ds.get_datasource_by_uid(uid))
        if have is None:
            _call(f"create data source {uid}", lambda: ds.create_datasource(want))
            log.info("data source %s created", uid)
            return Change("datasource", uid, want["name"], Action.CREATED)
        plain = {k: v for k, v in want.items() if k != "secureJsonData"}
        diff = [k for k in DS_KEYS if k in plain and _differs(plain[k], have.get(k))]
        if not diff:
            return Change("datasource", uid, want["name"], Action.UNCHANGED)
        _call(f"update data source {uid}", lambda: ds.update_datasource_by_uid(uid, plain))
        log.info("data source %s updated (%s)", uid, ", ".join(diff))
        return Change("datasource", uid, want["name"], Action.UPDATED, "changed: " + ", ".join(diff))

    def _search(self) -> dict[str, dict[str, Any]]:
        hits = _call("search dashboards", lambda: self.api.search.search_dashboards(tag=TAG, type_="dash-db",
                                                                                      limit=5000))
        if not isinstance(hits, list):
            raise GrafanaError(f"search dashboards: expected a list, got {type(hits).__name__}")
        return {h["uid"]: h for h in hits if isinstance(h, dict) and "uid" in h}

    def _folder(self, folder: Folder) -> Change:
        f = self.api.folder
        have = _get_or_none(f"folder {folder.uid}", lambda: f.get_folder(folder.uid))
        if have is None:
            _call(f"create folder {folder.uid}", lambda: f.create_folder(folder.title, uid=folder.uid))
            log.info("folder %s created", folder.uid)
            return Change("folder", folder.uid, folder.title, Action.CREATED)
        if have.get("title") == folder.title:
            return Change("folder", folder.uid, folder.title, Action.UNCHANGED)
        _call(f"rename folder {folder.uid}",
              lambda: f.update_folder(folder.uid, title=folder.title, version=have.get("version")))
        return Change("folder", folder.uid, folder.title, Action.UPDATED, f"was {have.get('title')!r}")

    def _dashboard(self, d: BuiltDashboard) -> Change:
        body: dict[str, Any] = {"dashboard": {**d.model, "id": None}, "folderUid": d.folder.uid,
                                "message": self.message, "overwrite": False}
        action = Action.CREATED
        detail = ""
        have = _get_or_none(f"dashboard {d.uid}", lambda: self.api.dashboard.get_dashboard(d.uid))
        if have is not None:
            stored = have.get("dashboard", {})
            folder = have.get("meta", {}).get("folderUid", "")
            same = _strip(stored) == _strip(d.model)
            if same and folder == d.folder.uid:
                return Change("dashboard", d.uid, d.title, Action.UNCHANGED)
            # the stored id and version: Grafana refuses (412) if someone saves it between our read and write
            body["dashboard"] = {**d.model, "id": stored.get("id"), "version": stored.get("version")}
            action = Action.UPDATED
            moved = f"moved from folder {folder or 'General'!r}" if folder != d.folder.uid else ""
            detail = ", ".join(x for x in ("content" if not same else "", moved) if x)
        _call(f"save dashboard {d.uid}", lambda: self.api.dashboard.update_dashboard(body))
        log.info("dashboard %s %s", d.uid, action)
        return Change("dashboard", d.uid, d.title, action, detail)


def _differs(want: Any, have: Any) -> bool:
    """Whether Grafana's value differs from ours; in jsonData only our keys count (Grafana adds its own)."""
    if isinstance(want, dict):
        return not isinstance(have, dict) or any(_differs(v, have.get(k)) for k, v in want.items())
    return want != have
