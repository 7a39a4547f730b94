"""Backup -> wipe -> restore on a fresh state directory brings back every row, alert, audit entry and reading.

Real influxd (launched from each installation's config, as `shouwang up` launches it), real SQLite and
PostgreSQL, and the `shouwang backup` / `shouwang restore` commands as an IT person runs them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from alerts.store import AlertStore
from alerts.types import Raise, Rule, Severity
from firmware_sim.scenario import load_scenario
from registry.scenario import seed_if_empty
from shouwang.backup import BackupError, backup, read_manifest, restore
from shouwang.config import load_config
from shouwang.services import influxd_process
from storage.influx import InfluxClient
from storage.sql import Database, database_url
from tests.alerts.conftest import postgres  # noqa: F401  (the session PostgreSQL cluster)
from tests.conftest import write_config
from tests.helpers import free_port_pair

T0 = 1_767_225_600_000  # 2026-01-01 00:00 UTC: fixed, inside the default 730 d retention for years to come


def _install(tmp: Path, name: str, **sections: dict):
    state = tmp / name
    state.mkdir()
    path = write_config(state / "shouwang.toml", state, influx={"port": free_port_pair()}, **sections)
    return load_config(path, env={}), path


def _fill(cfg) -> None:
    """A demo registry, three alerts with their audit trail, and readings in two measurements."""
    with Database.from_config(cfg) as db:
        assert seed_if_empty(db, load_scenario("demo")) is not None
        store = AlertStore(db)
        for i, rule in enumerate((Rule.CALL_BUTTON, Rule.WATER_INACTIVITY, Rule.RIVER_RISE)):
            change = store.raise_alert(Raise(rule, f"dev-{i}", Severity.MAJOR, "hh-0001", f"ep{i}", f"{rule} dev-{i}",
                                             {"hours": 7.5}), grid="grid-01", now=T0 + i, next_escalation_at=None)
            assert change is not None
        store.acknowledge(1, "staff", "console", T0 + 10)
    lines = [f"water_meter,gateway=gw-a,device=wm-{d:04d} total_l={100 + i}i,seq={i}i {T0 + i * 600_000}000000"
             for d in range(3) for i in range(50)]
    lines += [f"river_gauge,gateway=gw-b,device=rg-0001 level_m={1.5 + i / 100},seq={i}i {T0 + i * 60_000}000000"
              for i in range(40)]
    with InfluxClient(cfg.influx) as client:
        client.ensure_database()
        client.write("\n".join(lines).encode())


def _sample(cfg) -> tuple[list, list]:
    with InfluxClient(cfg.influx) as client:
        readings = client.rows("SELECT total_l, seq FROM water_meter WHERE device = 'wm-0002' ORDER BY time DESC "
                               "LIMIT 3")
    with Database.from_config(cfg) as db:
        store = AlertStore(db)
        alerts = [(a.rule, a.subject, a.state, dict(a.details)) for a in store.all()]
        alerts.append(store.events(1))
    return readings, alerts


@pytest.fixture
def influxd_of():
    started = []

    def start(cfg):
        child = influxd_process(cfg)
        child.start()
        started.append(child)
        return child

    yield start
    for child in started:
        child.stop()


def test_backup_restore_into_a_fresh_installation(tmp_path: Path, influxd_of) -> None:
    old, old_file = _install(tmp_path, "old")
    influxd_of(old)
    _fill(old)
    (old.state_path / "broker").mkdir()
    (old.state_path / "broker" / "passwd").write_text("gw-a:$7$secret\n")
    (old.state_path / "broker" / "mosquitto.log").write_text("not configuration\n")
    before = _sample(old)

    manifest = backup(old, tmp_path / "bk", old_file)  # while influxd runs, as on a live system
    assert manifest["sql"]["rows"]["alert"] == 3
    assert manifest["sql"]["rows"]["node"] > 0 and manifest["sql"]["rows"]["alert_event"] >= 4
    assert manifest["influx"]["points"] == {"river_gauge": 40, "water_meter": 150}
    assert oct((tmp_path / "bk").stat().st_mode & 0o777) == "0o700"
    assert not (tmp_path / "bk" / "broker" / "mosquitto.log").exists()

    new, _ = _install(tmp_path, "new")  # a fresh machine: restore starts its influxd itself
    report = restore(new, tmp_path / "bk")
    assert report.mismatches == []
    assert report.found.points == {"river_gauge": 40, "water_meter": 150}
    assert (new.state_path / "broker" / "passwd").read_text() == "gw-a:$7$secret\n"
    influxd_of(new)
    assert _sample(new) == before

    with pytest.raises(BackupError, match="already holds"):  # never overwrites data unasked
        restore(new, tmp_path / "bk")
    with Database.from_config(new) as db:  # a day of new data on the restored machine, then --force
        AlertStore(db).resolve(1, "staff", "console", T0 + 99)
    assert restore(new, tmp_path / "bk", force=True).mismatches == []
    assert _sample(new) == before


def test_damaged_or_partial_backup_is_refused(tmp_path: Path, influxd_of) -> None:
    old, old_file = _install(tmp_path, "old")
    influxd_of(old)
    _fill(old)
    backup(old, tmp_path / "bk", old_file)
    with pytest.raises(BackupError, match="not empty"):
        backup(old, tmp_path / "bk", old_file)
    store = tmp_path / "bk" / "store.sqlite3"
    damaged = bytearray(store.read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF  # one flipped byte (not set to a value it may already have)
    store.write_bytes(bytes(damaged))
    with pytest.raises(BackupError, match="store.sqlite3 does not match its checksum"):
        read_manifest(tmp_path / "bk")
    (tmp_path / "bk" / "manifest.json").unlink()
    with pytest.raises(BackupError, match="no manifest.json"):
        read_manifest(tmp_path / "bk")


def test_postgresql_store_and_the_commands(tmp_path: Path, postgres, influxd_of) -> None:
    old, old_file = _install(tmp_path, "old", alerts={"database_url": postgres.create_database()})
    influxd_of(old)
    _fill(old)
    run = [sys.executable, "-m", "shouwang"]
    out = subprocess.run([*run, "--config", str(old_file), "backup", str(tmp_path / "bk")], capture_output=True,
                         text=True, timeout=300, check=False)
    assert out.returncode == 0, out.stderr
    assert "alert" in out.stdout and "water_meter" in out.stdout
    assert json.loads((tmp_path / "bk" / "manifest.json").read_text())["sql"]["kind"] == "postgresql"

    new, new_file = _install(tmp_path, "new", alerts={"database_url": postgres.create_database()})
    out = subprocess.run([*run, "--config", str(new_file), "restore", str(tmp_path / "bk")], capture_output=True,
                         text=True, timeout=300, check=False)
    assert out.returncode == 0, out.stderr
    assert "matches the backup" in out.stdout
    influxd_of(new)
    assert _sample(new) == _sample(old)


def test_restore_refuses_a_store_of_another_kind(tmp_path: Path, postgres, influxd_of) -> None:
    old, old_file = _install(tmp_path, "old")
    influxd_of(old)
    _fill(old)
    backup(old, tmp_path / "bk", old_file)
    new, _ = _install(tmp_path, "new", alerts={"database_url": postgres.create_database()})
    with pytest.raises(BackupError, match="holds a sqlite store; this installation uses postgresql"):
        restore(new, tmp_path / "bk")
    assert database_url(new).startswith("postgresql")
