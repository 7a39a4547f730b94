"""The fault suite runs in its short mode, reports every figure of every fault window, and meets its two
correctness goals: no acknowledged message lost, every call-button press alerted (no timing asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FAULTS = ("none (steady)", "SIGKILL ingest", "SIGKILL influxd", "SIGKILL mosquitto", "SIGKILL alerts",
          "SIGSTOP influxd", "hijack", "takeover")
COUNTS = ("sent", "acked", "resent", "stored", "lost", "dup", "presses", "alerted", "multi")
TIMES = ("down_s", "recover_s", "alert_recover_s", "alert_worst_s")


def test_fault_suite_short_mode_loses_nothing_and_alerts_every_press(tmp_path: Path) -> None:
    out = tmp_path / "figures.json"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "fault_suite.py"), "--short", "--json", str(out)],
                          capture_output=True, text=True, timeout=420, cwd=ROOT, check=False)
    tail = proc.stdout[-3000:] + proc.stderr[-3000:]
    assert out.exists(), tail  # the run completed (the figures are written whether or not the goals are met)
    figures = json.loads(out.read_text())
    windows = figures["windows"]
    assert len(windows) == len(FAULTS), tail
    assert all(w["name"].startswith(f) for w, f in zip(windows, FAULTS, strict=True)), [w["name"] for w in windows]
    for w in windows:  # complete figures: every count and time measured, the load ran through every window
        for key in COUNTS:
            assert isinstance(w[key], int) and w[key] >= 0, (w["name"], key, w[key])
        for key in TIMES:
            assert key in w and (w[key] is None or w[key] >= 0), (w["name"], key, w[key])
        assert w["sent"] > 0 and w["presses"] > 0, w["name"]
        assert w["stored"] <= w["sent"] and w["acked"] <= w["sent"], w["name"]
    assert figures["total"]["sent"] == sum(w["sent"] for w in windows)
    assert "GOAL lost = 0 for every fault:" in proc.stdout and "GOAL every press an alert:" in proc.stdout, tail
    # the goals (correctness, not timing): a success PUBACK means stored; every press an alert
    lost = {w["name"]: w["lost_sample"] for w in windows if w["lost"]}
    assert figures["goal_lost_zero"] and not lost, f"acknowledged messages lost: {lost}\n{tail}"
    unalerted = {w["name"]: w["unalerted"] for w in windows if w["unalerted"]}
    assert figures["goal_every_press_alerted"] and not unalerted, f"presses without an alert: {unalerted}\n{tail}"
    assert proc.returncode == 0, tail
