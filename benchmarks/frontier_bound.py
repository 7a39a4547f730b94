"""How far below the awake-hours frontier any per-household threshold can go: a bound chosen with hindsight.

Run it from the repository root:

    .venv/bin/python benchmarks/frontier_bound.py --seed 7 --start 2026-07-13 --households 200
    .venv/bin/python benchmarks/frontier_bound.py --record trace.jsonl --registry registry.csv --labels labels.csv
    .venv/bin/python benchmarks/frontier_bound.py --short          # one small population: what the tests run

The inactivity goal of issue 14 is a ratio: a rule's false alarms per household-month at most 0.5 x those of the
plain awake-hours timer (evaluation/scoring.py AwakeTimer) whose median delay is the rule's. A rule that learns a
threshold per household can do no better than the best thresholds chosen knowing the whole month's silences in
advance. This script computes that best: for every household, the false alarms of a timer at each threshold of a
grid (quarter hours; alarms within an emergency's match window are not false), then

- **bounds 6-8 h, median 7 h**: each household's threshold anywhere in the staff's default bounds, at least half
  of them at most 7 h (so a median delay of about 7 h), the fewest false alarms in total - against the 7 h timer;
- **bounds 5-12 h, median 7 h**: the same with a maximum staff approve of 12 h;
- **tightening within the window**: thresholds in 3-7 h (every daytime emergency within a 7 h window), the median
  D chosen to make the ratio smallest - against the timer at D; with the absolute false alarms of both, to show
  what a ratio gained by tightening costs.

The median is over households, not over the labelled emergencies: a bound that knew where the emergencies are
would put its low thresholds there. Sleep hours 22:00-06:30, as the frontier's timers count them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from alerts.settings import AlertsConfig
from benchmarks.inactivity_rule import population_args
from evaluation.backtest import Backtest, csv_text
from evaluation.commands import quiet_logs
from evaluation.labelfile import read_labels
from evaluation.scoring import MATCH_MS, MONTH_MS, AwakeTimer, Incident, UseTracker
from firmware_sim.models.populations import INTERVAL_MS, POPULATIONS, RESOLUTION_L, TIMEZONE, Population

GRID = tuple(float(x) for x in np.arange(3.0, 12.01, 0.25).round(2))


def false_alarms(uses: dict[str, list[int]], seen: dict[str, list[int]], end_ms: int, incidents: list[Incident],
                 zone: ZoneInfo) -> dict[str, dict[float, int]]:
    """Per household, the false alarms of the awake-hours timer at each threshold of GRID."""
    emergencies: dict[str, list[tuple[int, int]]] = {}
    for inc in incidents:
        if inc.kind == "emergency":
            emergencies.setdefault(inc.household, []).append(
                (inc.start_ms, max(inc.end_ms or 0, inc.start_ms + MATCH_MS)))
    table: dict[str, dict[float, int]] = {h: {} for h in uses}
    for hours in GRID:
        alarms = AwakeTimer(hours, zone).alarms(uses, end_ms, seen)
        counts = dict.fromkeys(uses, 0)
        for a in alarms:
            if not any(s <= a.at <= e for s, e in emergencies.get(a.household, ())):
                counts[a.household] += 1
        for h, n in counts.items():
            table[h][hours] = n
    return table


def best_thresholds(table: dict[str, dict[float, int]], median_h: float, lo: float, hi: float) -> int:
    """The fewest false alarms in total over thresholds in [lo, hi] per household, at least half of them at most
    median_h: each household either inside the median (its best threshold in [lo, median_h]) or outside (its best
    in [lo, hi]); the half that loses least by being inside goes inside."""
    def best(h: str, a: float, b: float) -> int:
        return min(n for t, n in table[h].items() if a - 1e-9 <= t <= b + 1e-9)

    inside = {h: best(h, lo, median_h) for h in table}
    outside = {h: best(h, lo, hi) for h in table}
    order = sorted(table, key=lambda h: inside[h] - outside[h])
    need = math.ceil(len(order) / 2)
    return sum(inside[h] for h in order[:need]) + sum(outside[h] for h in order[need:])


def bounds(table: dict[str, dict[float, int]], household_months: float) -> dict:
    def per_hm(n: int) -> float:
        return round(n / household_months, 3)

    timer = {t: sum(row[t] for row in table.values()) for t in GRID}
    t7 = timer[7.0]
    b68 = best_thresholds(table, 7.0, 6.0, 8.0)
    b512 = best_thresholds(table, 7.0, 5.0, 12.0)
    ratio, d = min((best_thresholds(table, t, 3.0, 7.0) / max(timer[t], 1), t) for t in GRID if t <= 7.0)
    tight = best_thresholds(table, d, 3.0, 7.0)
    return {"timer_7h": per_hm(t7),
            "bounds_6_8": {"fa": per_hm(b68), "ratio": round(b68 / max(t7, 1), 3)},
            "bounds_5_12": {"fa": per_hm(b512), "ratio": round(b512 / max(t7, 1), 3)},
            "tightening": {"median_h": d, "fa": per_hm(tight), "timer_fa": per_hm(timer[d]),
                           "ratio": round(ratio, 3)}}


def population(name: str, households: int, days: int, seed: int, start: dt.date) -> dict:
    pop = Population(name, households, days, seed, start)
    tracker = UseTracker({h.meter: (h.id, RESOLUTION_L, INTERVAL_MS) for h in pop.households})
    for h in pop.households:
        tracker.start(h.id, pop.start_ms)
    for msg in pop.messages():
        tracker.reading(msg.device, msg.ts, float(msg.data["total_l"]))
    incidents = [Incident(i.household, i.kind, i.start_ms, i.end_ms, i.note) for i in pop.incidents]
    table = false_alarms(tracker.uses, tracker.seen, pop.end_ms, incidents, ZoneInfo(TIMEZONE))
    return bounds(table, households * (pop.end_ms - pop.start_ms) / MONTH_MS)


def recording(record: Path, registry: Path, labels: Path | None) -> dict:
    """A recording with its registry (and labels), read as `shouwang evaluate --record` reads them."""
    cfg = AlertsConfig(timezone=TIMEZONE)
    quiet_logs()
    bt = Backtest(cfg, csv_text(registry), registry_source=str(registry), timer_hours=())
    rep = bt.run(record)
    reg = bt._reg
    monitored = set(rep.monitored)
    incidents: list[Incident] = []
    if labels is not None:
        meters = {d.id: d.place for d in reg.devices.values() if d.kind == "water_meter" and d.place in reg.households}
        incidents, errors = read_labels(csv_text(labels), bt.zone, {h: h in monitored for h in reg.households},
                                        meters, str(labels))
        if errors:
            raise SystemExit(f"{labels}: {errors[0]}")
    uses = {h: u for h, u in bt.tracker.uses.items() if h in monitored}
    table = false_alarms(uses, {h: bt.tracker.seen[h] for h in uses}, rep.end_ms, incidents, bt.zone)
    return bounds(table, len(uses) * (rep.end_ms - rep.start_ms) / MONTH_MS)


def line(name: str, b: dict) -> str:
    t = b["tightening"]
    return (f"{name:16} {b['timer_7h']:7.2f} | {b['bounds_6_8']['fa']:6.2f} {b['bounds_6_8']['ratio']:5.2f}x | "
            f"{b['bounds_5_12']['fa']:6.2f} {b['bounds_5_12']['ratio']:5.2f}x | {t['ratio']:5.2f}x at {t['median_h']:g} h: "
            f"{t['fa']:.2f} vs the {t['median_h']:g} h timer's {t['timer_fa']:.2f}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    population_args(ap)
    ap.add_argument("--record", type=Path, help="a recording (JSONL of contract messages or `sim record` output)")
    ap.add_argument("--registry", type=Path, help="the recording's registry CSV")
    ap.add_argument("--labels", type=Path, help="the recording's labels CSV")
    ap.add_argument("--short", action="store_true", help="one population of 40 households x 14 days")
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    if a.record is not None and a.registry is None:
        ap.error("--record needs --registry")
    print(f"{'':16} {'timer':>7} | {'bounds 6-8 h':>13} | {'bounds 5-12 h':>13} | tightening within 7 h")
    print(f"{'false alarms/hm':16} {'7 h':>7} | {'median 7 h':>13} | {'median 7 h':>13} | best ratio")
    out = {}
    if a.record is not None:
        out[a.record.name] = recording(a.record, a.registry, a.labels)
        print(line(a.record.name[:16], out[a.record.name]))
    else:
        names = ["typical"] if a.short else (a.population or list(POPULATIONS))
        households, days = (40, 14) if a.short else (a.households, a.days)
        print(f"# seed {a.seed}, start {a.start}, {households} households x {days} days")
        for name in names:
            out[name] = population(name, households, days, a.seed, a.start)
            print(line(name, out[name]), flush=True)
    if a.json is not None:
        a.json.write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
