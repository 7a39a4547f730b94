"""The notification latency benchmark runs in its short mode and reports complete figures (no timing asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_notify_benchmark_short_mode_reports_figures(tmp_path: Path) -> None:
    out = tmp_path / "figures.json"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "notify_latency.py"), "--short",
                           "--json", str(out)], capture_output=True, text=True, timeout=300, cwd=ROOT, check=False)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    figures = json.loads(out.read_text())
    assert figures["presses"] == 39 and figures["lost_webhook"] == 0 and figures["lost_sse"] == 0
    for key in ("baseline_p99_ms", "webhook_p50_ms", "webhook_p99_ms", "sse_p50_ms", "sse_p99_ms"):
        assert figures[key] > 0, key
    assert "press -> webhook POST received" in proc.stdout and "of the 300 ms goal" in proc.stdout
