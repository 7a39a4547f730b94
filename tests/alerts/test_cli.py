"""The commands as a user types them: registry import/export, alerts list/ack/show/close/stats; what they print
(no library noise, headers, counts, a notice when a list is cut) in Chinese and English."""

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


def run(cfg_file: Path, *args: str, lang: str = "en_US.UTF-8") -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SHOUWANG_", "LC_", "LANG"))}
    env["LANG"] = lang
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
    # one line of ours when the store is created, nothing from the libraries, the summary once (on stdout)
    from alembic.script import ScriptDirectory

    from storage.sql import MIGRATIONS

    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()  # the newest migration, whichever that is
    assert [line.split(" ", 2)[2] for line in r.stderr.splitlines()] == [
        f"INFO storage.sql: database schema upgraded from empty to {head}"]
    r = run(cfg_file, "registry", "import", str(bad))
    assert r.returncode == 1 and "INFO" not in r.stderr
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
    assert r.returncode == 0 and r.stderr == ""
    assert r.stdout.splitlines()[0].split() == ["id", "opened", "severity", "state", "place", "what"]
    assert "CRITICAL" in r.stdout and "Building 3 Room 301" in r.stdout
    assert run(cfg_file, "alerts", "ack", str(a.id), "--by", "c-gw1").returncode == 0
    r = run(cfg_file, "alerts", "ack", str(a.id), "--by", "c-gw1")
    assert r.returncode == 2 and "acknowledged; it can go to" in r.stderr
    assert run(cfg_file, "alerts", "dispatch", str(a.id), "--by", "c-cm", "--to", "c-gw1").returncode == 0
    assert run(cfg_file, "alerts", "resolve", str(a.id), "--by", "c-gw1", "--note", "helped up").returncode == 0
    r = run(cfg_file, "alerts", "close", str(a.id), "--by", "c-cm", "--feedback", "all well", "--rating", "5")
    assert r.returncode == 0 and "is now closed" in r.stdout
    r = run(cfg_file, "alerts", "show", str(a.id))
    assert "dispatched" in r.stdout and "by Zhao Min (c-cm) via command line" in r.stdout
    assert "time to acknowledge" in r.stdout and "all well (rating 5)" in r.stdout
    zh = run(cfg_file, "alerts", "show", str(a.id), lang="zh_CN.UTF-8").stdout
    assert "已派人" in zh and "由 Zhao Min（c-cm） 经 命令行" in zh and "确认用时" in zh and "dispatched" not in zh
    assert run(cfg_file, "alerts", "show", str(a.id), "--lang", "zh").stdout == zh  # --lang wins over the locale
    r = run(cfg_file, "alerts", "stats")
    assert r.returncode == 0 and "call_button" in r.stdout
    assert run(cfg_file, "alerts", "list").stdout.strip() == "no active alerts"


def test_plain_alerts_prints_help_and_starts_no_engine(tmp_path: Path) -> None:
    cfg_file = write_config(tmp_path / "c.toml", tmp_path / "state", influx={"port": 9})
    r = run(cfg_file, "alerts")
    assert r.returncode == 2 and r.stdout == ""
    assert "usage: shouwang alerts" in r.stderr and "run the rules engine service" in r.stderr
    assert "subscribed" not in r.stderr and "engine" not in r.stderr.split("usage:")[0]
    assert not (tmp_path / "state" / "alerts" / "alerts.db").exists()  # it never opened the store


def test_show_of_an_unknown_alert_is_one_line(tmp_path: Path) -> None:
    cfg_file = write_config(tmp_path / "c.toml", tmp_path / "state", influx={"port": 9})
    run(cfg_file, "alerts", "list")  # creates the store (the first command upgrades the schema and says so)
    r = run(cfg_file, "alerts", "show", "9999")
    assert r.returncode != 0 and r.stdout == ""
    assert r.stderr.splitlines() == ["shouwang: no alert 9999"]


def test_list_says_when_it_is_cut_and_how_to_see_more(tmp_path: Path) -> None:
    cfg_file = write_config(tmp_path / "c.toml", tmp_path / "state", influx={"port": 9})
    cfg = load_config(cfg_file, env={})
    t0 = 1_767_225_600_000  # 2026-01-01 08:00 Asia/Shanghai: fixed, the output must not depend on the day
    with Database.from_config(cfg) as db:
        store = AlertStore(db)
        for i in range(128):
            store.raise_alert(Raise(Rule.CALL_BUTTON, f"btn-{i:04d}", Severity.CRITICAL, f"hh-{i:04d}", "p",
                                    "call_button press", {"reason": "press", "action": "press"}, t0 + i * 1000),
                              grid="gr-01", now=t0 + i * 1000, next_escalation_at=None)
    r = run(cfg_file, "alerts", "list", "--all")
    lines = r.stdout.splitlines()
    assert r.returncode == 0 and len(lines) == 1 + 50 + 1
    assert lines[1].split()[:3] == ["128", "2026-01-01", "08:02"]  # newest first
    assert lines[-1] == "(the newest 50 of 128; --limit N shows more, --limit 0 all)"
    r = run(cfg_file, "alerts", "list", "--all", "--limit", "0")
    assert len(r.stdout.splitlines()) == 1 + 128 and "newest" not in r.stdout
    assert len(run(cfg_file, "alerts", "list", "--limit", "128").stdout.splitlines()) == 1 + 128  # all of them
    zh = run(cfg_file, "alerts", "list", lang="zh_CN.UTF-8").stdout.splitlines()
    assert zh[0].split() == ["编号", "开始", "级别", "状态", "地点", "情况"]
    assert zh[1].split()[3:6] == ["紧急", "待处理", "hh-0127"] and zh[1].endswith("按下一键呼叫")
    assert zh[-1] == "（显示最新的 50 条，共 128 条；--limit N 显示更多，--limit 0 显示全部）"
