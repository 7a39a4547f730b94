"""Water-inactivity evaluation for a county: 300,000 households per tick, vectorised with numpy.

Run it from the repository root:

    .venv/bin/python benchmarks/alerts_inactivity.py            # 300,000 households, 200 ticks
    .venv/bin/python benchmarks/alerts_inactivity.py --short    # 300,000 households, 30 ticks (< 60 s)

The real WaterRule (alerts/rules/water.py) over an in-memory registry snapshot of N flagged
households with varied sleep hours and windows and a fully learned routine (so every part
of the rule runs: sleep arithmetic, learned thresholds, window and cap). Measured:
  - tick: WaterRule.tick() at successive minutes (evaluation only; no household is due)
  - learn: the routine's step on an ordinary tick, and its daily step at midnight (the tails fade,
    clean days are counted, every household's limit is recomputed); a use updates one row only
  - RSS of the process after building everything (the rule's arrays dominate)
Baselines, side by side: the goal (50 ms per tick, 1 GB) and the same decision written as a
plain Python loop over households, timed on 20,000 households and scaled to N.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from alerts.rules.base import RuleContext  # noqa: E402
from alerts.rules.water import WaterRule  # noqa: E402
from registry.model import DeviceInfo, HouseholdInfo, NodeInfo, RegistrySnapshot  # noqa: E402
from registry.types import Level  # noqa: E402
from shouwang.config import AlertsConfig  # noqa: E402

GOAL_TICK_MS = 50.0
GOAL_RSS_MB = 1024.0


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def build(n: int, cfg: AlertsConfig, start: int) -> WaterRule:
    rng = np.random.default_rng(1)
    nodes, households, devices = {}, {}, {}
    bed = rng.integers(20 * 60 + 30, 23 * 60 + 30, n)
    sleep = rng.integers(7 * 60, 9 * 60, n)
    window = rng.uniform(6, 8, n)
    for i in range(n):
        code = f"hh-{i:06d}"
        nodes[code] = NodeInfo(code, Level.HOUSEHOLD, None, "")
        households[code] = HouseholdInfo(code, frozenset({"solitary_elderly"}),
                                         (int(bed[i]) % 1440, int(bed[i] + sleep[i]) % 1440), float(window[i]), None)
        devices[f"wm-{i:06d}"] = DeviceInfo(f"wm-{i:06d}", "gw", "water_meter", code, 900, 1.0)
    snap = RegistrySnapshot(1, nodes, households, {}, {}, devices, {})
    rule = WaterRule(RuleContext.create(cfg, lambda: snap), start)
    # a learned routine: three weeks of history, each household's own tail of silences and weekday silences
    r = rule.routine
    r.days[:] = 21
    r.exposure[:] = 18.0
    r.over[:] = rng.uniform(5, 60, n).astype(np.float32)
    r.excess[:] = r.over * rng.uniform(20, 120, n).astype(np.float32)
    r.recur[:] = rng.integers(60, 500, r.recur.shape).astype(np.uint16)
    r.recur_at[:] = rng.integers(42, 126, r.recur_at.shape).astype(np.uint8)  # begun 07:00-21:00
    r.evening[:] = rng.uniform(0.5, 1.0, n).astype(np.float32)
    rule.last_use[:] = start - rng.integers(0, 2 * 3_600_000, n)  # everybody used water in the last 2 h
    rule._limits()
    return rule


def python_loop(rule: WaterRule, now: int, limit: int) -> float:
    """The same decision per household in plain Python (the naive baseline); seconds for `limit` households."""
    cfg = rule.cfg
    t0 = time.perf_counter()
    due = 0
    for i in range(limit):
        since = max(int(rule.last_use[i]), int(rule.away_until_ms[i]))
        elapsed = now - since
        a1, b1, a2, b2 = int(rule.sa1[i]), int(rule.sb1[i]), int(rule.sa2[i]), int(rule.sb2[i])
        length = (b1 - a1) + (b2 - a2)

        def upto(ms: int) -> int:
            d, m = divmod(ms // 60_000, 1440)
            return d * length + min(max(m - a1, 0), b1 - a1) + min(max(m - a2, 0), b2 - a2)

        off = 8 * 3_600_000
        awake = elapsed - (upto(now + off) - upto(since + off)) * 60_000
        if now >= rule.wall_from[i]:
            awake = elapsed
        if (awake > rule.limit_ms[i] or elapsed > cfg.inactivity_hard_cap_h * 3.6e6) \
                and rule.alerted[i] != rule.last_use[i]:
            due += 1
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--households", type=int, default=300_000)
    ap.add_argument("--ticks", type=int, default=200)
    ap.add_argument("--short", action="store_true", help="30 ticks (CI smoke run)")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    ticks = 30 if args.short else args.ticks
    cfg = AlertsConfig()
    start = int(dt.datetime(2026, 11, 2, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8))).timestamp() * 1000)
    rss0 = rss_mb()
    t0 = time.perf_counter()
    rule = build(args.households, cfg, start)
    build_s = time.perf_counter() - t0
    rss = rss_mb()
    tick_ms = []
    raised = 0
    now = start
    for _ in range(ticks):
        now += 60_000
        t = time.perf_counter()
        raised += len(rule.tick(now))
        tick_ms.append((time.perf_counter() - t) * 1000)
    learn_ms = []
    for k in range(3):  # the routine's step on an ordinary tick (nothing to do but note away mode)
        t = time.perf_counter()
        rule.learn(now + k)
        learn_ms.append((time.perf_counter() - t) * 1000)
    # the day's end: every household's tail fades, clean days are counted and every limit is recomputed
    midnight = now + 86_400_000
    t = time.perf_counter()
    rule.learn(midnight)
    commit_ms = (time.perf_counter() - t) * 1000
    sample = min(20_000, args.households)
    loop_ms = python_loop(rule, now, sample) * 1000 * args.households / sample
    tick_ms.sort()
    med, p95 = statistics.median(tick_ms), tick_ms[int(len(tick_ms) * 0.95) - 1]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"water inactivity, {args.households:,} households, {ticks} ticks (built in {build_s:.1f} s, "
          f"{raised} alerts raised)")
    print(f"  tick      median {med:7.2f} ms   p95 {p95:7.2f} ms   goal {GOAL_TICK_MS:.0f} ms  "
          f"-> {med / GOAL_TICK_MS:.2f} of the goal")
    print(f"  python loop over the same households (scaled from {sample:,}): {loop_ms:9.0f} ms per tick  "
          f"-> numpy is {loop_ms / med:.0f}x faster")
    print(f"  routine: its step on a tick {statistics.median(learn_ms):.1f} ms; the daily step at midnight "
          f"{commit_ms:.0f} ms")
    print(f"  RSS {rss:.0f} MB after building (started at {rss0:.0f} MB; peak {peak:.0f} MB), "
          f"goal {GOAL_RSS_MB:.0f} MB -> {peak / GOAL_RSS_MB:.2f} of the goal")
    ok = med < GOAL_TICK_MS and peak < GOAL_RSS_MB
    print("  goals met" if ok else "  GOALS NOT MET")
    if args.json:
        args.json.write_text(json.dumps({"households": args.households, "ticks": ticks, "tick_median_ms": med,
                                         "tick_p95_ms": p95, "learn_median_ms": statistics.median(learn_ms),
                                         "commit_day_ms": commit_ms,
                                         "python_loop_ms": loop_ms, "rss_mb": rss, "peak_rss_mb": peak}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
