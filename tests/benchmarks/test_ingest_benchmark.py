"""The ingest benchmark runs in its short mode and reports complete figures (no timing asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_ingest_benchmark_short_mode_reports_figures(tmp_path: Path) -> None:
    out = tmp_path / "figures.json"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "ingest_throughput.py"), "--short",
                           "--json", str(out)], capture_output=True, text=True, timeout=300, cwd=ROOT, check=False)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    figures = json.loads(out.read_text())
    text = json.dumps(figures)
    for key in ("baseline", "ingest", "ratio", "p99"):
        assert key in text, key
    assert "GOAL" in proc.stdout
