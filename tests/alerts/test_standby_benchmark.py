"""benchmarks/alerts_failover.py --short: two kill -9s of the active engine; every press alerted once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_failover_benchmark_short() -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "alerts_failover.py"), "--short"],
                          capture_output=True, text=True, timeout=600, cwd=ROOT, check=False)
    out = proc.stdout + proc.stderr
    assert "failover (kill -9 -> standby active), 2 kills" in out, out[-3000:]
    assert "alerted twice 0" in out, out[-3000:]
    assert proc.returncode == 0, out[-3000:]
