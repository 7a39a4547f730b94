"""The inactivity rule against the awake-hours frontier, population by population, fast enough to tune on.

Run it from the repository root:

    .venv/bin/python benchmarks/inactivity_rule.py                       # seed 1, 120 households x 30 days
    .venv/bin/python benchmarks/inactivity_rule.py --seed 7 --start 2026-07-13 --households 200

The project's WaterRule (alerts/rules/water.py) is driven directly - readings in time order, a tick every
`--tick-s` simulated seconds - without the store and the lifecycle around it (the full path is
benchmarks/evaluation_populations.py; both give the same inactivity alarms, the engine opens one alert per
raise). Beside it, awake-hours timers of 3 to 12 h in quarter hours on the same uses (evaluation/scoring.py):
the frontier. Per population: emergencies caught, false alarms per household-month, median delay; the best
timer whose median delay is no longer than the rule's (the frontier at the rule's delay) and the ratio of the
rule's false alarms to it (the goal is at most 0.5); daytime emergencies caught within the window (and the upper
bound, `inactivity_max_h`) plus one reading interval; "weekly": the rule's alarms (and the 7 h timer's) raised during
a fixed weekly activity (people.py). `--set KEY=VALUE` changes an alerts setting.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from alerts.rules.base import RuleContext
from alerts.rules.water import WaterRule
from alerts.settings import AlertsConfig
from alerts.types import Raise, Rule
from evaluation.scoring import Alarm, AwakeTimer, Incident, UseTracker, score
from firmware_sim.models.populations import INTERVAL_MS, POPULATIONS, RESOLUTION_L, TIMEZONE, Population
from registry.model import DeviceInfo, HouseholdInfo, NodeInfo, RegistrySnapshot
from registry.types import Level

SLEEP = (22 * 60, 6 * 60 + 30)
WINDOW_H = 7.0
FRONTIER_H = tuple(np.arange(3.0, 12.01, 0.25).round(2))


def snapshot(pop: Population, window_h: float = WINDOW_H) -> RegistrySnapshot:
    nodes, households, devices = {}, {}, {}
    for h in pop.households:
        nodes[h.id] = NodeInfo(h.id, Level.HOUSEHOLD, None, "")
        households[h.id] = HouseholdInfo(h.id, frozenset({"solitary_elderly"}), SLEEP, window_h, None)
        devices[h.meter] = DeviceInfo(h.meter, h.gateway, "water_meter", h.id, INTERVAL_MS // 1000, RESOLUTION_L)
    return RegistrySnapshot(1, nodes, households, {}, {}, devices, {})


def run(pop: Population, cfg: AlertsConfig, tick_s: float) -> dict:
    snap = snapshot(pop)
    rule = WaterRule(RuleContext.create(cfg, lambda: snap), pop.start_ms)
    tracker = UseTracker({h.meter: (h.id, RESOLUTION_L, INTERVAL_MS) for h in pop.households})
    for h in pop.households:
        tracker.start(h.id, pop.start_ms)
    tick = int(tick_s * 1000)
    nxt = pop.start_ms + tick
    alarms: list[Alarm] = []

    def collect(actions) -> None:
        for a in actions:
            if isinstance(a, Raise) and a.rule is Rule.WATER_INACTIVITY:
                alarms.append(Alarm(a.subject, a.at_ms, str(a.details.get("reason", ""))))

    t0 = time.perf_counter()
    n = 0
    for msg in pop.messages():
        while nxt <= msg.ts:
            collect(rule.tick(nxt))
            nxt += tick
        collect(rule.on_message(msg, msg.ts))
        tracker.reading(msg.device, msg.ts, float(msg.data["total_l"]))
        n += 1
    while nxt <= pop.end_ms:
        collect(rule.tick(nxt))
        nxt += tick
    wall = time.perf_counter() - t0
    incidents = [Incident(i.household, i.kind, i.start_ms, i.end_ms, i.note) for i in pop.incidents]
    codes = [h.id for h in pop.households]
    eng = score("engine", alarms, incidents, codes, pop.start_ms, pop.end_ms)
    zone = rule.ctx.tz
    timers = {}
    for hours in FRONTIER_H:
        t = AwakeTimer(float(hours), zone)
        timers[float(hours)] = score(t.name, t.alarms(tracker.uses, pop.end_ms, tracker.seen), incidents, codes,
                                     pop.start_ms, pop.end_ms)
    # daytime emergencies caught within the window plus one reading interval, and within the upper bound (the
    # maximum staff approved, else the window) plus one interval
    bound_ms = max(cfg.inactivity_max_h or WINDOW_H, WINDOW_H) * 3_600_000 + INTERVAL_MS
    day_ok = day_n = day_w = 0
    for inc in incidents:
        if inc.kind != "emergency" or inc.note != "day":
            continue
        day_n += 1
        first = min((a.at for a in alarms if a.household == inc.household and a.at >= inc.start_ms), default=None)
        day_ok += first is not None and first - inc.start_ms <= bound_ms
        day_w += first is not None and first - inc.start_ms <= WINDOW_H * 3_600_000 + INTERVAL_MS
    # the frontier at the rule's delay: the fewest false alarms of a timer whose median delay is not longer
    med = eng.delay_median_s
    fair = [s for s in timers.values() if s.caught == s.emergencies and s.delay_median_s is not None
            and med is not None and s.delay_median_s <= med + 1]
    best = min(fair, key=lambda s: s.fa_per_household_month, default=None)
    # the rule's false alarms during a fixed weekly activity (absence "weekly"), and the 7 h timer's
    weekly: dict[str, list[tuple[int, int]]] = {}
    for inc in incidents:
        if inc.kind == "absence" and inc.note == "weekly":
            weekly.setdefault(inc.household, []).append((inc.start_ms, inc.end_ms))

    def in_weekly(alarm_list) -> int:
        return sum(any(s <= x.at <= e for s, e in weekly.get(x.household, ())) for x in alarm_list)

    t7 = AwakeTimer(7.0, zone)
    return {"engine": eng, "timers": timers, "best": best, "day_ok": day_ok, "day_n": day_n, "day_w": day_w, "messages": n,
            "wall_s": wall, "weekly": [in_weekly(alarms), in_weekly(t7.alarms(tracker.uses, pop.end_ms, tracker.seen))]}


def population_args(ap: argparse.ArgumentParser) -> None:
    """The options that choose the populations (this script's and benchmarks/frontier_bound.py's)."""
    ap.add_argument("--households", type=int, default=120)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--start", type=dt.date.fromisoformat, default=dt.date(2026, 3, 2))
    ap.add_argument("--population", action="append", default=[])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    population_args(ap)
    ap.add_argument("--tick-s", type=float, default=300.0)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="an alerts setting")
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args()
    cfg = AlertsConfig(timezone=TIMEZONE, **dict(kv.split("=", 1) for kv in a.set))
    out = {}
    print(f"seed {a.seed}, start {a.start}, {a.households} households x {a.days} days, tick {a.tick_s:g} s "
          f"{' '.join(a.set)}")
    print(f"{'population':16} {'caught':>7} {'FA/hm':>6} {'med':>6} {'p90':>6} {'day<=7h':>7} {'<=max':>5} | "
          f"{'timer':>6} {'FA/hm':>6} {'med':>6} | {'ratio':>5} {'weekly':>7} {'reasons'}")
    for name in a.population or list(POPULATIONS):
        pop = Population(name, a.households, a.days, a.seed, a.start)
        r = run(pop, cfg, a.tick_s)
        e, b = r["engine"], r["best"]
        ratio = e.fa_per_household_month / b.fa_per_household_month if b and b.fa_per_household_month else \
            (0.0 if b and e.fa_per_household_month == 0 else float("inf"))
        bt = f"{b.detector.split()[1]:>6} {b.fa_per_household_month:6.2f} {b.delay_median_s / 3600:6.2f}" if b else \
            f"{'-':>6} {'-':>6} {'-':>6}"
        print(f"{name:16} {e.caught:>3}/{e.emergencies:<3} {e.fa_per_household_month:6.2f} "
              f"{(e.delay_median_s or 0) / 3600:6.2f} {(e.delay_p90_s or 0) / 3600:6.2f} "
              f"{r['day_w']:>3}/{r['day_n']:<3} {r['day_ok']:>5} | {bt} | {ratio:5.2f} {r['weekly'][0]:>3}/{r['weekly'][1]:<3} {e.by_reason}", flush=True)
        out[name] = {"engine": e.as_json(), "best_timer": b.as_json() if b else None, "ratio": ratio,
                     "day_within_window": [r["day_w"], r["day_n"]], "day_within_max": r["day_ok"],
                     "alarms_in_weekly_activities": {"engine": r["weekly"][0], "timer 7 h": r["weekly"][1]},
                     "timers": {f"{h:g}": {"fa": s.fa_per_household_month, "median_s": s.delay_median_s}
                                for h, s in r["timers"].items()}}
    if a.json:
        a.json.write_text(json.dumps({"seed": a.seed, "start": a.start.isoformat(), "households": a.households,
                                      "days": a.days, "populations": out}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
