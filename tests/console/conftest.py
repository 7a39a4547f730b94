"""Fixtures of the console tests: a store (SQLite and PostgreSQL) with the test registry, users, alerts."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import warnings

import pytest

with warnings.catch_warnings():
    # starlette's TestClient (still httpx-based here) announces a future switch to httpx2
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from alerts.csvio import import_rows
from alerts.db import Database
from alerts.registry import load_snapshot
from alerts.store import AlertStore
from alerts.types import Raise, Rule, Severity
from console.app import create_app
from console.auth import create_user, hash_password
from console.scope import UserRole
from shouwang.config import Config
from tests.alerts.conftest import postgres  # noqa: F401  (the session PostgreSQL cluster)
from tests.alerts.rig import MONDAY_8AM
from tests.notify.fixtures import make_config, registry_csv

PASSWORD = "correct horse battery"
USERS = {  # username: (role, scopes, contact)
    "admin": (UserRole.STREET_ADMIN, ["st-01"], None),
    "staff": (UserRole.COMMUNITY_STAFF, ["cm-01"], None),
    "gw1": (UserRole.GRID_WORKER, ["gr-01"], None),
    "gw2": (UserRole.GRID_WORKER, ["gr-02"], None),
    "tech": (UserRole.TECHNICIAN, ["cm-01"], None),
    "fam1": (UserRole.FAMILY, ["hh-0001"], "c-fam1"),
    "fam2": (UserRole.FAMILY, ["hh-0002"], "c-fam2"),
}
#: name -> (rule, subject, severity, place, grid)
ALERTS = {
    "press1": (Rule.CALL_BUTTON, "hh-0001", Severity.CRITICAL, "hh-0001", "gr-01"),
    "press2": (Rule.CALL_BUTTON, "hh-0002", Severity.CRITICAL, "hh-0002", "gr-01"),
    "press3": (Rule.CALL_BUTTON, "hh-0003", Severity.CRITICAL, "hh-0003", "gr-02"),
    "river": (Rule.RIVER_LEVEL, "rs-01", Severity.MAJOR, "rs-01", ""),
    "battery3": (Rule.BATTERY_LOW, "btn-0003", Severity.MAINTENANCE, "hh-0003", "gr-02"),
    "gateway": (Rule.GATEWAY_OFFLINE, "gw-b", Severity.MAINTENANCE, "gr-02", "gr-02"),
}
#: which alerts each user may see
SEES = {
    "admin": set(ALERTS), "staff": set(ALERTS),
    "gw1": {"press1", "press2", "river"}, "gw2": {"press3", "river", "battery3", "gateway"},
    "tech": {"battery3", "gateway"}, "fam1": {"press1"}, "fam2": {"press2"},
}


_HASH: list[str] = []


def seed(db: Database, now: int = MONDAY_8AM, http_port: int = 9, smtp_port: int = 9) -> dict[str, int]:
    """Registry, users and one alert of each kind; returns alert ids by name."""
    assert import_rows(db, registry_csv(http_port, smtp_port)).errors == []
    reg = load_snapshot(db)
    if not _HASH:
        _HASH.append(hash_password(PASSWORD))  # Argon2 is slow on purpose: hash once per session
    for name, (role, scopes, contact) in USERS.items():
        create_user(db, reg, name, PASSWORD, role, scopes, contact=contact, display_name=name.upper(),
                    language="en" if name in ("gw2", "fam2") else "zh", now=now, password_hash=_HASH[0])
    store = AlertStore(db)
    ids = {}
    for name, (rule, subject, sev, place, grid) in ALERTS.items():
        ch = store.raise_alert(Raise(rule, subject, sev, place, f"ep-{name}", f"{rule} on {subject}", {}, now),
                               grid=grid, now=now, next_escalation_at=None)
        assert ch is not None
        ids[name] = ch.alert.id
    return ids


@dataclass
class Site:
    cfg: Config
    db: Database
    client: TestClient
    ids: dict[str, int]
    tokens: dict[str, str]

    def as_(self, user: str) -> dict[str, str]:
        if user not in self.tokens:
            r = self.client.post("/api/login", json={"username": user, "password": PASSWORD})
            assert r.status_code == 200, r.text
            self.tokens[user] = r.json()["token"]
            self.client.cookies.clear()
        return {"Authorization": f"Bearer {self.tokens[user]}"}


def _url(request: pytest.FixtureRequest, tmp_path: Path, kind: str) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'alerts.db'}"
    return request.getfixturevalue("postgres").create_database()


def make_site(url: str, tmp_path: Path, **cfg_sections: dict) -> Iterator[Site]:
    cfg = make_config(tmp_path / "state", 9, alerts={"write_influx": False, "publish_mqtt": False},
                      influx={"port": 9, "timeout_s": 1}, **cfg_sections)
    db = Database(url)
    try:
        ids = seed(db)
        app = create_app(cfg, db=db, follow_mqtt=False, publish=False)
        with TestClient(app) as client:
            yield Site(cfg, db, client, ids, {})
    finally:
        db.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def site(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Site]:
    """The API on SQLite and on PostgreSQL."""
    yield from make_site(_url(request, tmp_path, request.param), tmp_path)


@pytest.fixture
def sqlite_site(tmp_path: Path) -> Iterator[Site]:
    yield from make_site(f"sqlite:///{tmp_path / 'alerts.db'}", tmp_path)
