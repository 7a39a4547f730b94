"""Leases and fencing in a real PostgreSQL store (alerts/lease.py), partition arithmetic (alerts/partition.py), and the
SQLite store refusing a second engine."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from alerts import partition
from alerts.lease import LeaseBook, LeaseLost, fence, fenced_url
from alerts.store import AlertStore
from alerts.types import Raise, Rule, Severity
from registry.model import DeviceInfo, RegistrySnapshot
from storage.sql import Database
from tests.alerts.conftest import PostgresCluster
from tests.conftest import write_config


def _press(i: int) -> Raise:
    return Raise.of(Rule.CALL_BUTTON, f"hh-{i:04d}", Severity.CRITICAL, f"hh-{i:04d}", f"press-{i}", 1_800_000_000_000,
                    reason="press")


def test_one_holder_at_a_time_and_a_takeover_after_expiry_raises_the_token(postgres: PostgresCluster) -> None:
    url = postgres.create_database()
    Database(url).close()  # migrated
    a, b = LeaseBook(url, "engine-a", ttl_s=1.0), LeaseBook(url, "engine-b", ttl_s=1.0)
    try:
        la = a.acquire("alerts/p0of1")
        assert la is not None and la.token == 1 and a.valid("alerts/p0of1")
        assert b.acquire("alerts/p0of1") is None  # held
        assert a.renew() == []
        assert b.acquire("alerts/p0of1") is None  # renewed: still held
        time.sleep(1.3)  # a stops renewing (a paused engine): its local deadline and the database's expiry pass
        assert not a.valid("alerts/p0of1")
        lb = b.acquire("alerts/p0of1")
        assert lb is not None and lb.token == 2
        assert a.renew() == ["alerts/p0of1"]  # the old holder learns it lost the lease; it cannot renew it back
        assert "alerts/p0of1" not in a.held
        b.release("alerts/p0of1")
        lc = a.acquire("alerts/p0of1")  # released: no need to wait for the expiry
        assert lc is not None and lc.token == 3
        assert set(a.live("alerts/p")) == {"alerts/p0of1"}
    finally:
        a.close()
        b.close()


def test_a_fenced_store_writes_nothing_after_a_takeover_even_if_its_clock_says_otherwise(
        postgres: PostgresCluster) -> None:
    """The database, not the engine's own idea of time, decides: a paused engine whose local deadline was
    (wrongly) still ahead gets LeaseLost on its first write after the takeover, and nothing of it is stored."""
    url = postgres.create_database()
    Database(url).close()
    a, b = LeaseBook(url, "engine-a", ttl_s=1.0), LeaseBook(url, "engine-b", ttl_s=1.0)
    db_a = Database(fenced_url(url, 1.0), migrate_schema=False)
    try:
        assert a.acquire("alerts/p0of1") is not None
        fence(db_a, a, "alerts/p0of1")
        store_a = AlertStore(db_a)
        with db_a.engine.connect() as conn:  # the option that ends a paused engine's open transaction
            assert conn.exec_driver_sql("SHOW idle_in_transaction_session_timeout").scalar() == "1s"
        assert store_a.raise_alert(_press(1), grid="", now=1_800_000_000_000, next_escalation_at=None) is not None
        time.sleep(1.2)
        assert b.acquire("alerts/p0of1") is not None
        a.held["alerts/p0of1"].deadline = time.monotonic() + 60  # as if a's clock had not noticed the pause
        with pytest.raises(LeaseLost):
            store_a.raise_alert(_press(2), grid="", now=1_800_000_000_000, next_escalation_at=None)
        with Database(url, migrate_schema=False) as plain:
            assert [x.subject for x in AlertStore(plain).all()] == ["hh-0001"]
        with db_a.engine.connect() as conn:  # every transaction of the fenced store, reads included
            with pytest.raises(LeaseLost):
                conn.exec_driver_sql("SELECT 1")
    finally:
        db_a.close()
        a.close()
        b.close()


def test_a_takeover_waits_for_the_old_holders_open_transaction(postgres: PostgresCluster) -> None:
    """A write the old holder began under its lease either commits before the new holder starts, or not at all."""
    url = postgres.create_database()
    Database(url).close()
    a, b = LeaseBook(url, "engine-a", ttl_s=1.0), LeaseBook(url, "engine-b", ttl_s=1.0)
    db_a = Database(fenced_url(url, 5.0), migrate_schema=False)
    try:
        assert a.acquire("alerts/p0of1") is not None
        fence(db_a, a, "alerts/p0of1")
        with db_a.session() as s, s.begin():
            s.execute(text("SELECT 1"))  # the fence holds the lease row FOR SHARE until this commits
            time.sleep(1.2)  # the lease expires meanwhile
            t0 = time.monotonic()
            assert b.acquire("alerts/p0of1") is None  # blocked by our transaction: lock_timeout, try again later
            assert time.monotonic() - t0 >= 0.9
        assert b.acquire("alerts/p0of1") is not None  # committed: now it may
    finally:
        db_a.close()
        a.close()
        b.close()


def test_partitions_cover_every_gateway_once_and_the_plan_converges() -> None:
    gws = [f"gw-{i:03d}" for i in range(200)]
    by_part = {k: [g for g in gws if partition.partition_of(g, 3) == k] for k in range(3)}
    assert sum(len(v) for v in by_part.values()) == 200 and all(len(v) > 40 for v in by_part.values())
    snap = RegistrySnapshot(devices={f"d-{g}": DeviceInfo(f"d-{g}", g, "water_meter", "hh", 60, 1.0) for g in gws})
    views = [partition.registry_view(snap, k, 3) for k in range(3)]
    assert sorted(d for v in views for d in v.devices) == sorted(snap.devices)
    assert partition.gateways_of(snap, 1, 3) == by_part[1]
    # three engines, six partitions: each settles on two, one move a round
    held: dict[str, set[int]] = {"a": set(), "b": set(), "c": set()}
    for _ in range(20):
        for e in held:
            taken = set().union(*held.values())
            take, give = partition.plan(6, held[e], taken, len(held))
            if give is not None:
                held[e].discard(give)
            if take is not None:
                held[e].add(take)
    assert sorted(len(v) for v in held.values()) == [2, 2, 2]
    del held["b"]  # one leaves: the two left take its partitions over
    for _ in range(10):
        for e in held:
            take, give = partition.plan(6, held[e], set().union(*held.values()), len(held))
            if take is not None:
                held[e].add(take)
    assert sorted(len(v) for v in held.values()) == [3, 3] and set().union(*held.values()) == set(range(6))
    assert partition.client_id("svc_alerts", 0, 1) == "svc_alerts"
    assert partition.client_id("svc_alerts", 2, 6) == "svc_alerts_p2of6"


def test_a_second_engine_on_the_same_sqlite_store_is_refused(tmp_path: Path) -> None:
    """SQLite lives on one machine: no standby there; the second engine says so and exits."""
    from alerts.lease import sqlite_lock

    db = tmp_path / "state" / "alerts" / "alerts.db"
    db.parent.mkdir(parents=True)
    held = sqlite_lock(db)
    try:
        cfg_file = write_config(tmp_path / "a.toml", tmp_path / "state")
        env = {k: v for k, v in os.environ.items() if not k.startswith("SHOUWANG_")}
        proc = subprocess.run([sys.executable, "-m", "shouwang", "--config", str(cfg_file), "alerts", "run"],
                              capture_output=True, text=True, timeout=60, env=env, check=False)
        assert proc.returncode == 2
        assert f"another alerts engine (pid {os.getpid()}) already runs on the SQLite store" in proc.stderr
        assert "needs the PostgreSQL store" in proc.stderr
    finally:
        held.close()
