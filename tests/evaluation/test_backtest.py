"""Backtest on traffic the evaluation did not generate: a hand-built trace whose answer is known, as JSONL and as a
record file, with a registry CSV and labels; bad lines, rows and labels reported one by one, good ones kept."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from alerts.settings import AlertsConfig
from evaluation.backtest import backtest_file
from evaluation.scoring import Alarm, AwakeTimer, Incident, UseTracker, score
from firmware_sim.recordfile import Record, RecordWriter
from tests.alerts.test_cli import run
from tests.conftest import write_config

TZ = ZoneInfo("Asia/Shanghai")
HOUR = 3_600_000
MIN = 60_000


def local(day: int, h: int, m: int = 0) -> int:
    """Epoch ms of a local time on day 0 (Monday 2026-11-02) or day 1."""
    return int(dt.datetime(2026, 11, 2 + day, h, m, tzinfo=TZ).timestamp() * 1000)


T0 = local(0, 0)
END = local(2, 0)

REGISTRY = """record,code,parent,name,flags,sleep,window_h,gateway,kind,interval_s,step_l,role,channels
street,st-1,,,,,,,,,,,
community,cm-1,st-1,,,,,,,,,,
grid,gr-1,cm-1,,,,,,,,,,
contact,worker-1,gr-1,,,,,,,,,grid_worker,ntfy://sw-gr-1
building,bd-1,gr-1,,,,,,,,,,
household,hh-a,bd-1,,solitary_elderly,22:00-06:30,7,,,,,,
household,hh-b,bd-1,,solitary_elderly,22:00-06:30,7,,,,,,
household,hh-c,bd-1,,,22:00-06:30,7,,,,,,
household,hh-bad,bd-1,,solitary_elderly,22:00-06:30,12,,,,,,
device,wm-a,hh-a,,,,,gw-1,water_meter,600,1,,
device,wm-b,hh-b,,,,,gw-1,water_meter,600,1,,
device,wm-c,hh-c,,,,,gw-1,water_meter,600,1,,
device,wm-bad,hh-bad,,,,,gw-1,water_meter,600,1,,
"""

LABELS = """household,device,start,end,kind,note
hh-a,,2026-11-03 09:50,,emergency,
,wm-b,2026-11-02 09:55,2026-11-02T17:25+08:00,absence,outing
hh-nobody,,2026-11-03 10:00,,emergency,
hh-c,,2026-11-03 10:00,,emergency,
hh-a,,yesterday,,emergency,
hh-a,,2026-11-03 10:00,,tea,
"""


def uses(meter: str, ts: int) -> bool:
    """Whether the register of `meter` has advanced at the reading at ts (a use in the 10 min before)."""
    t = dt.datetime.fromtimestamp(ts / 1000, TZ)
    minute = t.hour * 60 + t.minute
    if minute % 30 or not 7 * 60 <= minute <= 21 * 60 + 30:
        return False
    if meter in ("wm-a", "wm-c") and ts > local(1, 10):
        return False  # the emergency: the last use shows at 10:00 on day 1 (dated 09:50)
    return not (meter == "wm-b" and local(0, 10) < ts < local(0, 17, 30))  # out 09:50-17:20 on day 0


def trace() -> list[tuple[str, dict]]:
    """(topic, payload) of three meters' readings every 10 min for two days."""
    totals = {"wm-a": 100.0, "wm-b": 500.0, "wm-c": 900.0}
    out = []
    seq = 0
    for ts in range(T0, END, 10 * MIN):
        for m, total in totals.items():
            if uses(m, ts):
                totals[m] = total + 2
            seq += 1
            out.append((f"sw/v1/gw-1/{m}/reading",
                        {"v": 1, "kind": "water_meter", "ts": ts, "seq": seq, "data": {"total_l": totals[m]}}))
    return out


BAD_LINES = [
    b"not json{\n",
    json.dumps({"topic": "sw/v1/gw-1/wm-a/reading", "payload": {"v": 1, "kind": "water_meter", "ts": T0 + 1,
                                                                  "seq": 1, "data": {"total_l": "12"}}}).encode() + b"\n",
    json.dumps({"topic": "sw/v1/gw-1/wm-zzz/reading", "payload": {"v": 1, "kind": "water_meter", "ts": T0 + 2,
                                                                    "seq": 1, "data": {"total_l": 3.0}}}).encode() + b"\n",
    json.dumps({"topic": "sw/v1/gw-1/wm-bad/reading", "payload": {"v": 1, "kind": "water_meter", "ts": T0 + 3,
                                                                    "seq": 1, "data": {"total_l": 3.0}}}).encode() + b"\n",
]


def write_jsonl(path: Path) -> int:
    lines = [json.dumps({"topic": t, "payload": p}).encode() + b"\n" for t, p in trace()]
    lines[5:5] = BAD_LINES  # lines 6-9
    path.write_bytes(b"".join(lines))
    return len(lines) - len(BAD_LINES)


def by_detector(rep: dict) -> dict[str, dict]:
    return {d["detector"]: d for d in rep["detectors"]}


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path, Path, int]:
    reg, labels, traffic = tmp_path / "registry.csv", tmp_path / "labels.csv", tmp_path / "traffic.jsonl"
    reg.write_text(REGISTRY)
    labels.write_text(LABELS)
    return traffic, reg, labels, write_jsonl(traffic)


def test_awake_timer_skips_the_sleep_hours() -> None:
    t = AwakeTimer(7, TZ)
    assert t.due(local(0, 20)) == local(1, 11, 30)  # 2 h before 22:00, 5 h after 06:30
    assert t.due(local(0, 2)) == local(0, 13, 30)   # asleep: counts from 06:30
    assert t.due(local(0, 9)) == local(0, 16)        # all awake


def test_scoring_counts_what_it_says() -> None:
    h = HOUR
    incidents = [Incident("a", "emergency", 1000 * h, 1100 * h), Incident("b", "absence", 10 * h, 20 * h),
                 Incident("c", "emergency", 50 * h)]
    alarms = [Alarm("a", 1060 * h), Alarm("a", 1090 * h), Alarm("b", 15 * h, "window"), Alarm("b", 30 * h, "learned"),
              Alarm("c", 57 * h), Alarm("x", 5 * h)]
    s = score("d", alarms, incidents, ["a", "b", "c"], 0, 1200 * h)
    assert (s.emergencies, s.caught, s.alarms) == (2, 1, 5)
    assert len(s.missed) == 1 and s.missed[0].startswith("a ")  # 60 h late is not a catch, but not false either
    assert (s.false_alarms, s.in_absence, s.by_reason) == (2, 1, {"window": 1, "learned": 1})
    assert s.delays_s == [7 * 3600]
    assert s.household_months == pytest.approx((3 * 1200 - 100 - 48) / 720)


def test_backtest_scores_a_known_trace(files: tuple[Path, Path, Path, int]) -> None:
    """Every detector's answer is known: hh-a's emergency at 09:50 on day 1, hh-b out 7.5 h on day 0."""
    traffic, reg, labels, good = files
    rep = backtest_file(AlertsConfig(), traffic, reg, labels).as_json()
    assert rep["format"] == "jsonl" and rep["messages"] == good and rep["monitored"] == 2
    errs = rep["errors"]
    assert [e.split(":")[0] for e in errs["traffic"]] == ["line 6", "line 7", "line 8", "line 9"]
    assert "not JSON" in errs["traffic"][0] and "data.total_l: expected number, got string" in errs["traffic"][1]
    assert "unknown device 'wm-zzz'" in errs["traffic"][2] and "unknown device 'wm-bad'" in errs["traffic"][3]
    assert any("window_h" in e for e in errs["registry"]) and errs["registry_count"] == 2  # hh-bad and its meter
    assert errs["labels_count"] == 4
    lab = "\n".join(errs["labels"])
    for want in ("row 4, column household: unknown household 'hh-nobody'",
                 "row 5, column household: household 'hh-c' is not monitored",
                 "row 6, column start: 'yesterday' is not a time",
                 "row 7, column kind: 'tea' is not one of"):
        assert want in lab, lab
    assert rep["labels"] == 2
    d = by_detector(rep)
    last = local(1, 23, 50)  # the traffic ends with its last reading
    hm = (2 * (last - T0) - (last - local(1, 9, 50))) / (30 * 24 * HOUR)
    expect = {"engine": (1, 1), "timer 6 h": (6, 1), "timer 7 h": (7, 1), "timer 8 h": (8, 0), "timer 10 h": (10, 0)}
    for name, (delay_h, false) in expect.items():
        s = d[name]
        assert (s["emergencies"], s["caught"], s["false_alarms"]) == (1, 1, false), s
        assert s["false_alarms_in_absences"] == false
        assert s["household_months"] == pytest.approx(hm, abs=1e-4)
        assert s["false_alarms_per_household_month"] == pytest.approx(false / hm, abs=1e-3)
        if name == "engine":  # the window rule: awake time > 7 h, at the next 60 s tick
            assert 7 * 3600 < s["delay_median_s"] <= 7 * 3600 + 120, s
            assert s["false_alarms_by_reason"] == {"window": 1}
        else:
            assert s["delay_median_s"] == delay_h * 3600, s
    alerts = [(a["rule"], a["subject"]) for a in rep["alerts"]]
    assert sorted(alerts) == [("water_inactivity", "hh-a"), ("water_inactivity", "hh-b")]


def test_without_labels_it_lists_what_the_rules_would_raise(files: tuple[Path, Path, Path, int]) -> None:
    traffic, reg, _, _ = files
    rep = backtest_file(AlertsConfig(), traffic, reg)
    j = rep.as_json()
    assert not j["labelled"] and j["labels"] == 0
    assert {k: v["alarms"] for k, v in by_detector(j).items()} == {
        "engine": 2, "timer 6 h": 2, "timer 7 h": 2, "timer 8 h": 1, "timer 10 h": 1}
    zh, en = rep.table("zh"), rep.table("en")
    assert "长时间无用水" in zh and "2026-11-02 16:51  hh-b" in zh and "未提供标注" in zh
    assert "No water use for too long" in en and "2026-11-03 16:51  hh-a" in en and "line 8: unknown device" in en


def test_record_file_through_the_command(files: tuple[Path, Path, Path, int], tmp_path: Path) -> None:
    """`sim record` format (gzip, header, t_ms) through `shouwang evaluate --record` gives the same scores."""
    _, reg, labels, _ = files
    rec = tmp_path / "traffic.jsonl.gz"
    with RecordWriter(rec, "mqtt://127.0.0.1:18830", filter="sw/v1/#") as w:
        for topic, p in trace():
            w.write(Record(p["ts"] + 1500, topic, json.dumps(p).encode()))  # captured 1.5 s after the reading
    cfg_file = write_config(tmp_path / "c.toml", tmp_path / "state")
    out = tmp_path / "report.json"
    r = run(cfg_file, "evaluate", "--record", str(rec), "--registry", str(reg), "--labels", str(labels),
            "--json", str(out), "--lang", "en")
    assert r.returncode == 0, r.stderr[-2000:]
    assert "this engine" in r.stdout and "awake-hours timer 8 h" in r.stdout and "1/1" in r.stdout
    rep = json.loads(out.read_text())
    assert rep["format"] == "record" and rep["messages"] == len(trace()) and rep["errors"]["traffic_count"] == 0
    d = by_detector(rep)
    assert [d[k]["false_alarms"] for k in ("engine", "timer 6 h", "timer 7 h", "timer 8 h", "timer 10 h")] == \
        [1, 1, 1, 0, 0]
    assert d["timer 6 h"]["delay_median_s"] == 6 * 3600  # uses dated at the reading before: same as the JSONL
    r = run(cfg_file, "evaluate", "--record", str(rec))
    assert r.returncode == 2 and "--registry" in r.stderr
    junk = tmp_path / "junk.jsonl"
    junk.write_bytes(b"\x00\x01 not traffic\n")
    r = run(cfg_file, "evaluate", "--record", str(junk), "--registry", str(reg))
    assert r.returncode == 2 and "no usable contract message in 1 line(s) (line 1: not JSON)" in r.stderr


def test_the_timers_know_a_use_only_when_the_reading_that_shows_it_arrives() -> None:
    """A use dated 5 min before a 7 h timer is due but shown by a reading 5 min after: a live timer has alarmed by
    then (as the engine does), so the frontier counts that alarm; told nothing of `seen`, it would not."""
    zone = ZoneInfo("Asia/Shanghai")
    t0 = int(dt.datetime(2026, 3, 2, 8, 0, tzinfo=zone).timestamp() * 1000)  # 08:00, awake until 22:00
    tracker = UseTracker({"wm-1": ("hh-1", 1.0, 600_000)})
    tracker.start("hh-1", t0)
    for k, total in enumerate([100.0] * 42 + [103.0]):  # a reading every 10 min; 103 L at 15:00 (use dated 14:50)
        tracker.reading("wm-1", t0 + k * 600_000, total)
    assert tracker.uses["hh-1"] == [t0, t0 + 41 * 600_000] and tracker.seen["hh-1"] == [t0, t0 + 42 * 600_000]
    near = AwakeTimer(6 + 55 / 60, zone)  # due 14:55: between the use's date (14:50) and the reading (15:00)
    end = t0 + 20 * 3_600_000
    assert [a.at for a in near.alarms(tracker.uses, end, tracker.seen) if a.at < t0 + 8 * 3_600_000] == \
        [t0 + (6 * 60 + 55) * 60_000]
    assert [a.at for a in near.alarms(tracker.uses, end) if a.at < t0 + 8 * 3_600_000] == []
