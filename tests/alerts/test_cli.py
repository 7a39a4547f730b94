"""The commands as a user types them: registry import/export, alerts list/ack/show/close/stats."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from alerts.store import AlertStore
from alerts.types import Raise, Rule, Severity
from shouwang.config import load_config
from storage.sql import Database
from tests.alerts.conftest import SAMPLE_CSV
from tests.conftest import now_ms, write_config


def run(cfg_file: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOUWANG_")}
    return subprocess.run([sys.executable, "-m", "shouwang", "--config", str(cfg_file), *args], capture_output=True,
                          text=True, timeout=120, env=env, check=False)


def test_registry_import_export_and_alert_handling(tmp_path: Path) -> None:
    cfg_file = write_config(tmp_path / "c.toml", tmp_path / "state", influx={"port": 9}, alerts={"write_influx": False})
    good = tmp_path / "registry.csv"
    good.write_text(SAMPLE_CSV)
    bad = tmp_path / "bad.csv"
    bad.write_text(SAMPLE_CSV.splitlines()[0] + "\nstreet,st-9,,S9,,,,,,,,,,,,,,,,,\n"
                   "household,hh-9,nowhere,,,,,,,,,,,,,,,,,,\ndevice,wm-9,st-9,,,,,,gw-a,teapot,,,,,,,,,,,\n")
    r = run(cfg_file, "registry", "import", str(good))
    assert r.returncode == 0 and "20 rows: imported 20 (20 new, 0 updated), rejected 0" in r.stdout
    r = run(cfg_file, "registry", "import", str(bad))
    assert r.returncode == 1
    assert f"{bad}: row 3, column parent: no place with code 'nowhere'" in r.stderr
    assert f"{bad}: row 4, column kind: 'teapot' is not one of" in r.stderr
    assert "imported 1 (1 new, 0 updated), rejected 2" in r.stdout
    out = tmp_path / "out.csv"
    r = run(cfg_file, "registry", "export", str(out))
    assert r.returncode == 0 and "wrote 21 registry rows" in r.stdout
    assert out.read_bytes().startswith("\ufeffrecord,code,parent".encode())

    cfg = load_config(cfg_file, env={})
    with Database.from_config(cfg) as db:
        a = AlertStore(db).raise_alert(Raise(Rule.CALL_BUTTON, "hh-0001", Severity.CRITICAL, "hh-0001", "p1",
                                             "call button btn-0001 pressed"), grid="gr-01", now=now_ms(),
                                       next_escalation_at=None).alert
    r = run(cfg_file, "alerts", "list")
    assert r.returncode == 0 and "call_button" in r.stdout and "hh-0001" in r.stdout
    assert run(cfg_file, "alerts", "ack", str(a.id), "--by", "c-gw1").returncode == 0
    r = run(cfg_file, "alerts", "ack", str(a.id), "--by", "c-gw1")
    assert r.returncode == 2 and "acknowledged; it can go to" in r.stderr
    assert run(cfg_file, "alerts", "dispatch", str(a.id), "--by", "c-cm", "--to", "c-gw1").returncode == 0
    assert run(cfg_file, "alerts", "resolve", str(a.id), "--by", "c-gw1", "--note", "helped up").returncode == 0
    r = run(cfg_file, "alerts", "close", str(a.id), "--by", "c-cm", "--feedback", "all well", "--rating", "5")
    assert r.returncode == 0 and "is now closed" in r.stdout
    r = run(cfg_file, "alerts", "show", str(a.id))
    assert "dispatched" in r.stdout and "by c-cm via cli" in r.stdout and "time to acknowledge" in r.stdout
    r = run(cfg_file, "alerts", "stats")
    assert r.returncode == 0 and "call_button" in r.stdout
    assert run(cfg_file, "alerts", "list").stdout.strip() == "no active alerts"
