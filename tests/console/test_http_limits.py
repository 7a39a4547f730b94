"""Against a real `shouwang api` (uvicorn) process: request bodies bounded before they are read, proxy headers
believed only from configured proxies."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from console.tables import AuditLog
from ground.errors import ConfigError
from shouwang.config import Config, load_config
from shouwang.procs import ChildProcess, free_port, port_open
from storage.sql import Database
from tests.conftest import write_config
from tests.console.conftest import PASSWORD, seed

MiB = 1 << 20
HUGE = 256 * MiB


@dataclass
class Server:
    url: str
    proc: ChildProcess
    cfg: Config

    def status(self, key: str) -> int:
        """A VmRSS/VmHWM-like figure of the server process, in bytes."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
        raise AssertionError(f"no {key} in /proc/{self.proc.pid}/status")

    def audit(self, action: str) -> list[tuple[str, str]]:
        with Database.from_config(self.cfg) as db, db.session() as s:
            return [(r.actor, r.address) for r in s.scalars(select(AuditLog).where(AuditLog.action == action))]


def start_server(tmp: Path, **api: object) -> Iterator[Server]:
    port = free_port()
    cfg_file = write_config(tmp / "api.toml", tmp / "state",
                            api={"port": port, "secret_key": "s" * 40, "follow_mqtt": False, **api},
                            alerts={"write_influx": False, "publish_mqtt": False},
                            influx={"port": 9, "timeout_s": 1}, notify={"enabled": False})
    cfg = load_config(cfg_file, env={})
    with Database.from_config(cfg) as db:
        seed(db)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOUWANG_")}
    env["SHOUWANG_CONFIG"] = str(cfg_file)
    proc = ChildProcess("api", [sys.executable, "-m", "shouwang", "api"], cfg.state_path / "logs" / "api.log",
                        ready=lambda: port_open("127.0.0.1", port), env=env)
    proc.start(timeout=60)
    try:
        yield Server(f"http://127.0.0.1:{port}", proc, cfg)
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from start_server(tmp_path_factory.mktemp("api"))


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Behind a reverse proxy on this machine."""
    yield from start_server(tmp_path_factory.mktemp("api-proxied"), trusted_proxies=["127.0.0.1"])


def login(srv: Server, user: str, password: str, forwarded_for: str | None = None) -> int:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    return httpx.post(f"{srv.url}/api/login", json={"username": user, "password": password}, headers=headers,
                      timeout=30).status_code


# --- bodies ----------------------------------------------------------------------------------------------------


class Body:
    """A huge body made on the fly; counts what the server took before it stopped reading."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.sent = 0

    def __iter__(self) -> Iterator[bytes]:
        chunk = b"x" * MiB
        while self.sent < self.total:
            yield chunk
            self.sent += len(chunk)


@pytest.mark.parametrize("path, content_type", [("/api/login", "application/json"),
                                                ("/login", "application/x-www-form-urlencoded"),
                                                ("/api/alerts/1/acknowledge", "application/json"),
                                                ("/api/registry/import", "application/json")])
def test_huge_bodies_get_413_before_they_are_read(server: Server, path: str, content_type: str) -> None:
    rss_before = server.status("VmRSS")
    for announced in (True, False):  # with Content-Length, and chunked (no length: counted as it arrives)
        body = Body(HUGE)
        headers = {"Content-Type": content_type, **({"Content-Length": str(HUGE)} if announced else {})}
        r = httpx.post(f"{server.url}{path}", content=body, headers=headers, timeout=60)
        assert r.status_code == 413, (path, announced, r.status_code, r.text[:200])
        assert "too large" in r.text or "过大" in r.text, r.text
        # the server stopped reading: what the client got out is what the socket buffers hold, not the body
        assert body.sent < 32 * MiB, (path, announced, body.sent)
    peak = server.status("VmHWM")
    assert peak - rss_before < 64 * MiB, f"RSS {rss_before / MiB:.0f} MiB, peak {peak / MiB:.0f} MiB"


@pytest.mark.parametrize("path, content_type", [("/login", "application/json"), ("/api/logout", "text/plain")])
def test_an_answer_before_the_body_is_read_closes_the_connection(server: Server, path: str,
                                                                  content_type: str) -> None:
    """The login form does not read a JSON body, logout reads none: the server must not drain a huge one."""
    body = Body(HUGE)
    r = httpx.post(f"{server.url}{path}", content=body, headers={"Content-Type": content_type}, timeout=60)
    assert r.status_code in (401, 422) and r.headers["connection"] == "close", (r.status_code, r.headers)
    assert body.sent < 32 * MiB, body.sent


def test_limits_per_endpoint(server: Server) -> None:
    token = httpx.post(f"{server.url}/api/login", json={"username": "admin", "password": PASSWORD},
                       timeout=30).json()["token"]
    auth = {"Authorization": f"Bearer {token}"}
    # login: a little over 16 KiB is refused, with a message saying what the limit is
    r = httpx.post(f"{server.url}/api/login", json={"username": "admin", "password": "p" * 17_000}, timeout=30)
    assert r.status_code == 413 and r.json()["detail"] == "request body too large: at most 16384 bytes here"
    # the login form answers in Chinese first
    r = httpx.post(f"{server.url}/login", data={"username": "admin", "password": "p" * 17_000}, timeout=30)
    assert r.status_code == 413 and r.text.startswith("提交的内容过大")
    # JSON endpoints: 64 KiB; a note of 40 KiB is only refused by the note's own length check
    r = httpx.post(f"{server.url}/api/alerts/1/acknowledge", json={"note": "n" * 70_000}, headers=auth, timeout=30)
    assert r.status_code == 413 and "65536" in r.json()["detail"]
    r = httpx.post(f"{server.url}/api/alerts/1/acknowledge", json={"note": "n" * 40_000}, headers=auth, timeout=30)
    assert r.status_code == 422 and "note" in r.json()["detail"]
    # the registry import takes a CSV of a few MiB (api.max_import_bytes), not more
    csv = "record,code,parent,name\n" + "".join(f"building,bx-{i:05d},gr-01,Building number {i}\n"
                                                 for i in range(3000))
    assert len(csv) > 100_000
    r = httpx.post(f"{server.url}/api/registry/import", json={"csv": csv, "dry_run": True}, headers=auth, timeout=60)
    assert r.status_code == 200 and r.json()["created"] == 3000, r.text[:300]
    r = httpx.post(f"{server.url}/api/registry/import", json={"csv": "x" * 8 * MiB, "dry_run": True}, headers=auth,
                   timeout=60)
    assert r.status_code == 413 and str(8 * MiB) in r.json()["detail"]


# --- proxy headers -----------------------------------------------------------------------------------------------


def test_a_spoofed_forwarded_for_does_not_escape_the_login_limit(server: Server) -> None:
    for i in range(5):
        assert login(server, "gw2", "wrong password", f"203.0.113.{i}") == 401
    assert login(server, "gw2", PASSWORD, "203.0.113.99") == 429
    assert login(server, "gw2", PASSWORD) == 429
    assert {addr for actor, addr in server.audit("login.failed") if actor == "gw2"} == {"127.0.0.1"}


def test_forwarded_for_is_believed_from_a_configured_proxy(proxied: Server) -> None:
    for _ in range(5):
        assert login(proxied, "gw2", "wrong password", "198.51.100.7") == 401
    assert login(proxied, "gw2", PASSWORD, "198.51.100.7") == 429
    # a client's own claim in front of the proxy's entry does not help: the right-most untrusted address counts
    assert login(proxied, "gw2", PASSWORD, "192.0.2.1, 198.51.100.7") == 429
    # another client behind the same proxy is not locked out by it
    assert login(proxied, "gw2", PASSWORD, "198.51.100.8") == 200
    assert {addr for actor, addr in proxied.audit("login.failed") if actor == "gw2"} == {"198.51.100.7"}
    assert ("gw2", "198.51.100.8") in proxied.audit("login")


def test_trusted_proxies_must_be_addresses_or_networks(tmp_path: Path) -> None:
    ok = load_config(write_config(tmp_path / "a.toml", tmp_path, api={"trusted_proxies": ["10.0.0.0/8", "::1"]}),
                     env={})
    assert ok.api.trusted_proxies == ["10.0.0.0/8", "::1/128"]
    assert load_config(write_config(tmp_path / "b.toml", tmp_path), env={}).api.trusted_proxies == []
    for bad in ("*", "proxy.local", "10.0.0.1/8"):
        with pytest.raises(ConfigError, match="api.trusted_proxies.*not an IP address or network"):
            load_config(write_config(tmp_path / "c.toml", tmp_path, api={"trusted_proxies": [bad]}), env={})
