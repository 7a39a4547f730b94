"""benchmarks/alerts_failover.py --short: two kill -9s of the active engine; every press alerted once (the failover
time is printed, not judged: it depends on the machine's load)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_failover_benchmark_short() -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "alerts_failover.py"), "--short"],
                          capture_output=True, text=True, timeout=600, cwd=ROOT, check=False)
    out = proc.stdout + proc.stderr
    assert "failover (kill -9 -> standby active), 2 kills" in out, out[-3000:]
    # correctness only: the failover time is a figure (it depends on the machine's load), not a pass mark here
    m = re.search(r"presses sent (\d+), alerted (\d+), alerted twice (\d+)", out)
    assert m is not None, out[-3000:]
    assert int(m.group(1)) > 0 and m.group(1) == m.group(2) and m.group(3) == "0", out[-3000:]
