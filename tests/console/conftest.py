"""Fixtures of the console tests: a store (SQLite and PostgreSQL) with the test registry, users, alerts."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

with warnings.catch_warnings():
    # starlette's TestClient (still httpx-based here) announces a future switch to httpx2
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from alerts.store import AlertStore
from alerts.types import Raise, Rule, Severity
from broker_config import Account
from console.app import create_app
from console.auth import create_user, hash_password
from console.scope import UserRole
from registry.csvio import import_rows
from registry.model import load_snapshot
from shouwang.config import Config
from storage.sql import Database
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


#: a second street with its own admin and grid worker: what the first street's people must not reach
SECOND_STREET = [
    "street,st-02,,Houjie Street,,,,,,,,,,,,,,,,,",
    "community,cm-02,st-02,Hillside Community,,,,,,,,,,,,,,,,,",
    "grid,gr-03,cm-02,Grid 3,,,,,,,,,,,,,,,,,",
    "building,bd-03,gr-03,Building 9,,,,,,,,,,,,,,,,,",
    "household,hh-0004,bd-03,Room 901,disabled,22:00-06:30,7,,,,,,,,,,,,,,",
    "device,btn-0004,hh-0004,,,,,,gw-c,call_button,3600,,,,,,,,,,",
    "contact,c-fam4,hh-0004,Wu Min,,,,,,,,,,,,,,family,ntfy://127.0.0.1:9/fam4,zh,",
    "contact,c-gw3,gr-03,Zheng Hao,,,,,,,,,,,,,,grid_worker,ntfy://127.0.0.1:9/gw3,zh,",
]
SECOND_USERS = {"admin2": (UserRole.STREET_ADMIN, ["st-02"], None), "gw3": (UserRole.GRID_WORKER, ["gr-03"], None)}


def add_second_street(site: Site) -> int:
    """Street st-02 (household hh-0004, button btn-0004, contacts c-fam4 and c-gw3), users admin2 and gw3;
    returns the id of a call-button alert at hh-0004."""
    from tests.notify.fixtures import HEADER

    assert import_rows(site.db, HEADER + "\n" + "\n".join(SECOND_STREET) + "\n").errors == []
    reg = load_snapshot(site.db)
    for name, (role, scopes, contact) in SECOND_USERS.items():
        create_user(site.db, reg, name, PASSWORD, role, scopes, contact=contact, now=MONDAY_8AM,
                    password_hash=_HASH[0])
    ch = AlertStore(site.db).raise_alert(Raise(Rule.CALL_BUTTON, "hh-0004", Severity.CRITICAL, "hh-0004", "ep-press4",
                                               "call_button on hh-0004", {}, MONDAY_8AM),
                                         grid="gr-03", now=MONDAY_8AM, next_escalation_at=None)
    assert ch is not None
    site.client.app.state.ctx.registry.reload()
    return ch.alert.id


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


# --- the live stack: real Mosquitto and influxd (services), `shouwang alerts` and `shouwang api` children ---------


def api_token(url: str, user: str) -> str:
    """A bearer token of the console at url, logged in as user."""
    import httpx

    r = httpx.post(f"{url}/api/login", json={"username": user, "password": PASSWORD}, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["token"]


@dataclass
class LiveStack:
    cfg: Config
    url: str
    uid: str
    http: object  # tests.notify.receivers.HttpReceiver
    smtp: object
    alerts: object  # ChildProcess
    api: object
    services: object

    def device(self, name: str) -> str:
        return f"{name}-{self.uid}"

    def token(self, user: str) -> str:
        return api_token(self.url, user)

    def press(self, button: str = "btn-0001", action: str = "press", gateway: str = "gw-a") -> int:
        """Publish a call-button event as the gateway; returns the ts used."""
        import time

        from wire import Message, encode
        from wire.models import Channel, Kind

        ts = time.time_ns() // 1_000_000
        topic, body = encode(Message(gateway, self.device(button), Channel.EVENT, Kind.CALL_BUTTON, ts, ts % 10**9,
                                     {"action": action}))
        gw = self.services.gateway(gateway)
        try:
            gw.wait_acked([gw.publish(topic, body)])
        finally:
            gw.stop()
        return ts


@dataclass
class LiveChildren:
    cfg: Config
    url: str  # the console's
    alerts: object  # ChildProcess
    api: object
    seeded: object  # what seed returned


@contextmanager
def live_children(services, tmp: Path, name: str, uid: str, secret: str, seed: Callable[[Database], object], *,
                  extra_toml: str = "", **sections: dict) -> Iterator[LiveChildren]:
    """`shouwang alerts run` and `shouwang api` as children on the session's Mosquitto and influxd, with a config of
    their own (<tmp>/<name>.toml: client ids ending in uid, the engine ticking every 0.2 s, notify on and quick to
    retry, plus `sections` and `extra_toml`) and the database as seed(db) leaves it. Then stops both and empties
    the retained alert states they left on the shared broker."""
    import os
    import sys

    from alerts.service import subscribed_check
    from shouwang.config import load_config
    from shouwang.procs import ChildProcess, free_port, port_open
    from tests.conftest import write_config

    api_port = free_port()
    cfg_file = write_config(tmp / f"{name}.toml", tmp / "state",
                            broker={"port": services.port, "service_port": services.cfg.broker.service_port},
                            influx={"port": services.cfg.influx.port},
                            alerts={"client_id": f"svc_alerts_{uid}", "tick_s": 0.2},
                            api={"port": api_port, "client_id": f"svc_api_{uid}",
                                 "public_url": f"http://127.0.0.1:{api_port}", "secret_key": secret},
                            notify={"enabled": True, "retry_base_s": 0.2}, **sections)
    if extra_toml:
        with open(cfg_file, "a") as fh:
            fh.write(extra_toml)
    cfg = load_config(cfg_file, env={})
    db = Database.from_config(cfg)
    try:
        seeded = seed(db)
    finally:
        db.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOUWANG_")}
    env["SHOUWANG_CONFIG"] = str(cfg_file)
    logs = cfg.state_path / "logs"
    alerts = ChildProcess("alerts", [sys.executable, "-m", "shouwang", "alerts", "run"], logs / "alerts.log",
                          ready=subscribed_check(logs / "alerts.log"), env=env)
    api = ChildProcess("api", [sys.executable, "-m", "shouwang", "api"], logs / "api.log",
                       ready=lambda: port_open("127.0.0.1", api_port), env=env)
    alerts.start(timeout=60)
    try:
        api.start(timeout=60)
        try:
            yield LiveChildren(cfg, f"http://127.0.0.1:{api_port}", alerts, api, seeded)
        finally:
            api.stop()
    finally:
        alerts.stop()
        clear_retained_alerts(services)


@pytest.fixture(scope="module")
def live(services, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStack]:  # noqa: ANN001
    import uuid

    from tests.notify.receivers import HttpReceiver, SmtpReceiver

    uid = uuid.uuid4().hex[:6]
    tmp = tmp_path_factory.mktemp("live")
    http, smtp = HttpReceiver().start(), SmtpReceiver().start()
    relay = {"wecombot": f"http://127.0.0.1:{http.port}/cgi-bin/webhook/send?key={{key}}",
             "dingtalk": f"http://127.0.0.1:{http.port}/robot/send?access_token={{token}}",
             "feishu": f"http://127.0.0.1:{http.port}/open-apis/bot/v2/hook/{{token}}/"}

    def seed_live(db: Database) -> None:
        assert import_rows(db, registry_csv(http.port, smtp.port, suffix=f"-{uid}")).errors == []
        reg = load_snapshot(db)
        if not _HASH:
            _HASH.append(hash_password(PASSWORD))
        for name, (role, scopes, contact) in USERS.items():
            create_user(db, reg, name, PASSWORD, role, scopes, contact=contact, display_name=name.upper(),
                        language="en" if name in ("gw2", "fam2") else "zh", now=0, password_hash=_HASH[0])

    try:
        with live_children(services, tmp, "live", uid, "s" * 40, seed_live,
                           # a nested table: write_config writes flat sections only
                           extra_toml="[notify.relay]\n" + "".join(f'{k} = "{v}"\n' for k, v in relay.items()),
                           watchdog={"services": ["alerts", "api"]}) as c:  # no ingest in this stack: no red banner
            yield LiveStack(c.cfg, c.url, uid, http, smtp, c.alerts, c.api, services)
    finally:
        http.stop()
        smtp.stop()


def clear_retained_alerts(services) -> None:  # noqa: ANN001
    """Empty the retained sw/alerts/v1/active/... states left on the shared broker (other tests reuse alert ids)."""
    import time

    peer = services.service_peer(Account.ALERTS)
    try:
        peer.client.subscribe("sw/alerts/v1/active/#", qos=1)
        time.sleep(0.5)  # retained messages arrive right after the subscription
        topics = {m.topic for m in peer.messages if m.retain and m.payload}
        mids = [peer.publish(t, b"", retain=True) for t in sorted(topics)]
        if mids:
            peer.wait_acked(mids)
    finally:
        peer.stop()


# --- headless Chromium (Debian's, through Playwright); screenshots for a person to look at ----------------------

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "console"  # gitignored
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """One headless Chromium for a test module; each test opens contexts (its own cookies) in it."""
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian chromium is missing: scripts/setup.sh installs it (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield b
        finally:
            b.close()


def shot(page, name: str, full: bool = True) -> None:
    """The whole page, or (full=False) the first screen a person sees, as test-artifacts/console/<name>.png."""
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=full)


def login(page, url: str, user: str, query: str = "") -> None:
    """Log in through the console's login form (query: e.g. "?lang=en")."""
    page.goto(f"{url}/login{query}")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state("load")
