"""The backtest speed benchmark runs in its short mode: figures for parse-only and the backtest, and the fast
and message-by-message paths raise the same alerts at the same times on its traffic (no timing asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_backtest_benchmark_short_mode_reports_figures(tmp_path: Path) -> None:
    out = tmp_path / "figures.json"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "backtest_speed.py"), "--short",
                           "--cache-dir", str(tmp_path / "cache"), "--json", str(out)],
                          capture_output=True, text=True, timeout=900, cwd=ROOT, check=False)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    figures = json.loads(out.read_text())
    assert figures["messages"] == 40 * 3 * 144
    assert figures["parse"]["messages_per_s"] > 0 and figures["backtest"]["messages_per_s"] > 0
    assert figures["ratio"] > 0 and figures["slow"]["messages"] == figures["messages"]
    assert figures["same_alerts"] is True and figures["backtest"]["alerts"] > 0
    engine = figures["detectors"]["engine"]
    assert engine["emergencies"] >= 1 and engine["caught"] == engine["emergencies"]
    assert "GOAL" in proc.stdout
