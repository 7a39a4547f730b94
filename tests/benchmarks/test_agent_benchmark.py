"""The edge-agent benchmark runs in its short mode and reports every figure (no timing or size asserted)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIGURES = ("rss_mb", "anon_mb", "cpu_pct", "append_full", "append_normal", "drain_paced", "drain_unpaced",
           "bare_paho", "drain_paced_rss_mb", "drain_unpaced_rss_mb")


def test_agent_benchmark_short_mode_reports_figures(tmp_path: Path) -> None:
    out = tmp_path / "figures.json"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "agent_footprint.py"), "--short",
                           "--json", str(out)], capture_output=True, text=True, timeout=300, cwd=ROOT, check=False)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    figures = json.loads(out.read_text())
    assert set(FIGURES) <= set(figures), sorted(set(FIGURES) - set(figures))
    for key in FIGURES:  # every figure was measured: a real, positive number (CPU may round to 0 on an idle agent)
        assert math.isfinite(figures[key]) and figures[key] >= 0, (key, figures[key])
    assert figures["rss_mb"] > 5 and figures["drain_paced"] > 0 and figures["bare_paho"] > 0
    assert "ratio" in proc.stdout and "bare paho publisher" in proc.stdout
