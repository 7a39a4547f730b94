"""Every population (firmware_sim/models/populations.py) through the engine and the awake-hours timers: per
population and detector, emergencies caught, delay and false alarms per household-month (docs/evaluation.md;
`shouwang evaluate --populations`, benchmarks/evaluation_populations.py).

Each population becomes a registry as a site would enter it - every household flagged solitary_elderly, sleep
hours 22:00-06:30, a 7 h window, a 10-minute meter with a 1 L step - and its traffic runs through backtest.py,
the same path as a recording, with the population's labels as the incidents.

The check-in step runs closed-loop (evaluation/checkin.py, firmware_sim/models/answers.py): every household also
has its call button (a daily heartbeat, so the health rule stays quiet) and, if the answer model gives it one,
a family contact (a code, no personal data) who gets the check-in messages; the model's answers reach the
engine as a button's cancel or a tapped link. Each population reports check-ins and staff dispatches per
household-month, who answered, the two bounds and the emergencies' staff-push delay.
"""

from __future__ import annotations

import datetime as dt
import heapq
import json
from dataclasses import dataclass
from typing import Any

from alerts.settings import AlertsConfig
from evaluation.backtest import ENGINE, Backtest, BacktestReport, duration, registry_csv
from evaluation.checkin import CheckinLoop, loop_summary
from evaluation.scoring import MATCH_MS, Incident
from evaluation.traffic import Item
from firmware_sim.models.answers import RANGES, Answers
from firmware_sim.models.populations import INTERVAL_MS, POPULATIONS, RESOLUTION_L, START, TIMEZONE, Population

SLEEP = "22:00-06:30"
WINDOW_H = 7.0


def population_registry(pop: Population, answers: Answers | None = None) -> str:
    """The registry CSV a site would have for the population; with an answer model, each household's call button
    (daily heartbeat) and, where the model gives it one, its family contact (check-ins go to them)."""
    street, community, grid = f"{pop.name}-street", f"{pop.name}-community", f"{pop.name}-grid"
    rows = [{"record": "street", "code": street},
            {"record": "community", "code": community, "parent": street},
            {"record": "grid", "code": grid, "parent": community},
            {"record": "contact", "code": f"worker-{grid}", "parent": grid, "role": "grid_worker",
             "channels": f"ntfy://sw-{grid}"}]
    for gw in sorted({h.gateway for h in pop.households}):
        rows.append({"record": "building", "code": f"bld-{gw}", "parent": grid})
    for h in pop.households:
        rows.append({"record": "household", "code": h.id, "parent": f"bld-{h.gateway}", "flags": "solitary_elderly",
                     "sleep": SLEEP, "window_h": f"{WINDOW_H:g}"})
        rows.append({"record": "device", "code": h.meter, "parent": h.id, "gateway": h.gateway,
                     "kind": "water_meter", "interval_s": str(INTERVAL_MS // 1000), "step_l": f"{RESOLUTION_L:g}"})
        if answers is not None:
            rows.append({"record": "device", "code": h.button, "parent": h.id, "gateway": h.gateway,
                         "kind": "call_button", "interval_s": str(BUTTON_HEARTBEAT_S)})
            if answers.has_family(h.id):
                rows.append({"record": "contact", "code": f"fam-{h.id}", "parent": h.id, "role": "family",
                             "channels": f"ntfy://sw-fam-{h.id}"})
    return registry_csv(rows)


BUTTON_HEARTBEAT_S = 86_400  # the population's buttons report once a day (Population.button_messages)


def run_population(cfg: AlertsConfig, pop: Population, tick_s: float = 60.0, answers: str | Answers | None = "default",
                   *, trails: bool = False) -> BacktestReport:
    """One population through the engine and the timers, scored against its labels; `answers` (a name of
    answers.RANGES, a model, or None: no check-in loop, the registry without buttons and families) answers the
    engine's check-ins, and the report's `checkin` says how that went (`trails`: with every alert, its answer
    and its audit trail, under "detail")."""
    cfg = cfg.model_copy(update={"timezone": TIMEZONE})
    incidents = [Incident(i.household, i.kind, i.start_ms, i.end_ms, i.note) for i in pop.incidents]
    model = Answers(RANGES[answers], pop.seed, pop.name, [h.id for h in pop.households]) \
        if isinstance(answers, str) else answers
    loop = None
    traffic = pop.messages()
    if model is not None:
        loop = CheckinLoop(model, pop.whereabouts, {h.id: (h.gateway, h.button) for h in pop.households},
                           trails=trails)
        traffic = heapq.merge(traffic, pop.button_messages(), key=lambda m: m.ts)
    items = (Item(n, None, msg) for n, msg in enumerate(traffic, 1))
    bt = Backtest(cfg, population_registry(pop, model), registry_source=f"population {pop.name}", tick_s=tick_s,
                  checkin=loop)
    rep = bt.run(items, incidents=incidents, end_ms=pop.end_ms, source=f"population {pop.name}")
    if rep.registry_errors or rep.traffic_errors:  # generated by us: any refusal is a bug, not a finding
        raise RuntimeError(f"population {pop.name}: {(rep.registry_errors + rep.traffic_errors)[:3]}")
    if loop is not None:
        engine = next(s for s in rep.scores if s.detector == ENGINE)
        spans: dict[str, list[tuple[int, int]]] = {}
        for i in incidents:
            if i.kind == "emergency":
                spans.setdefault(i.household, []).append((i.start_ms, max(i.end_ms or 0, i.start_ms + MATCH_MS)))

        def explained(household: str, at: int) -> bool:  # as scoring.py explains an alarm by an emergency
            return any(a <= at <= b for a, b in spans.get(household, ()))

        rep.checkin = loop_summary(loop, explained, engine.household_months, bt.tracker.uses,
                                   int(cfg.checkin.wait_min * 60_000), bt.tick_ms)
        rep.checkin["answers_model"] = answers if isinstance(answers, str) else "custom"
    return rep


@dataclass
class PopulationReport:
    households: int
    days: int
    seed: int
    results: dict[str, BacktestReport]
    start: dt.date = START
    answers: str | None = "default"

    def table(self, lang: str = "zh") -> str:
        zh = lang != "en"
        head = (f"人群 × 检测方式：每个人群 {self.households} 户 × {self.days} 天（种子 {self.seed}），10 分钟读数，1 升分辨率；"
                "睡眠时段 22:00-06:30，窗口 7 小时" if zh else
                f"population x detector: {self.households} households x {self.days} days each (seed {self.seed}), "
                "10-minute readings, 1 L steps; sleep hours 22:00-06:30, window 7 h")
        cols = ("人群", "检测方式", "发现", "误报/户·月", "其中离家", "延迟中位数", "延迟 p90") if zh else \
            ("population", "detector", "caught", "FA/hh-month", "away", "delay med", "delay p90")
        out = [head, "", (f"{cols[0]:16} {cols[1]:16} {cols[2]:>8} {cols[3]:>12} {cols[4]:>8} {cols[5]:>10} "
                          f"{cols[6]:>10}")]
        for name, rep in self.results.items():
            for s in rep.scores:
                det = ("本系统规则" if zh else "engine") if s.detector == ENGINE else s.detector.replace(
                    "timer", "计时" if zh else "timer")
                away = s.in_absence / s.household_months if s.household_months else 0.0
                out.append(f"{name:16} {det:16} {f'{s.caught}/{s.emergencies}':>8} "
                           f"{s.fa_per_household_month:>12.3f} {away:>8.3f} {duration(s.delay_median_s):>10} "
                           f"{duration(s.delay_p90_s):>10}")
        if any(r.checkin is not None for r in self.results.values()):
            out += ["", *self.checkin_table(lang)]
        return "\n".join(out)

    def checkin_table(self, lang: str = "zh") -> list[str]:
        """The check-in step, closed-loop: per household-month, check-ins apart from staff dispatches."""
        zh = lang != "en"
        out = [(f"询问步骤（应答模型 {self.answers}，每户·月）：询问次数；住户按键/家属报平安/联系不上/无人应答的次数；"
                "推送网格员（全部、其中误报）；两个界限（无人应答、家属都为无事的住户应答）；紧急事件推送延迟"
                "（中位数；无人应答时）；目标：推送 ≤ 0.3" if zh else
                f"check-in step (answer model {self.answers}), per household-month: check-ins; answered by the resident / "
                "family ok / unreachable / no answer (counts); staff dispatches (all, of which false alarms); the two "
                "bounds (nobody answers, every family answers for a resident who is fine); emergencies' staff-push "
                "delay (median; had nobody answered); goal: dispatches <= 0.3")]
        cols = ("人群", "询问", "住户", "家属无事", "联系不上", "无应答", "推送", "误报推送", "无人应答",
                "家属都答", "紧急推送", "无人应答时") if zh else \
            ("population", "check-ins", "resident", "family ok", "unreach", "no ans", "dispatch", "false",
             "bound none", "bound fam", "emerg push", "no answer")
        out.append(f"{cols[0]:16} " + " ".join(f"{c:>10}" for c in cols[1:]))
        for name, rep in self.results.items():
            c = rep.checkin
            if c is None:
                continue
            out.append(f"{name:16} {c['checkins_per_household_month']:>10.3f} {c['answered_by_resident']:>10} "
                       f"{c['answered_family_ok']:>10} {c['answered_unreachable']:>10} {c['no_answer']:>10} "
                       f"{c['staff_dispatches_per_household_month']:>10.3f} "
                       f"{c['staff_dispatches_false_per_household_month']:>10.3f} "
                       f"{c['staff_dispatches_no_answers_per_household_month']:>10.3f} "
                       f"{c['staff_dispatches_families_answer_per_household_month']:>10.3f} "
                       f"{duration(c['emergency_push_delay_median_s']):>10} "
                       f"{duration(c['emergency_push_delay_no_answer_median_s']):>10}")
            if c["emergency_closed_ok"] or c["emergency_push_later_than_no_answer"]:
                out.append(f"  {name}: " + (f"紧急事件被报平安关闭 {c['emergency_closed_ok']} 次，推送晚于无人应答 "
                                            f"{c['emergency_push_later_than_no_answer']} 次" if zh else
                                            f"emergencies closed as fine {c['emergency_closed_ok']}, pushed later "
                                            f"than with no answer {c['emergency_push_later_than_no_answer']}"))
        return out

    def as_json(self) -> dict[str, Any]:
        return {"households": self.households, "days": self.days, "seed": self.seed, "start": self.start.isoformat(),
                "answers": self.answers,
                "populations": {name: {"description": {"zh": POPULATIONS[name][2], "en": POPULATIONS[name][3]},
                                       "messages": rep.messages, "wall_s": round(rep.wall_s, 2),
                                       "alerts": len(rep.alerts),
                                       "detectors": {s.detector: s.as_json() for s in rep.scores},
                                       **({"checkin": rep.checkin} if rep.checkin is not None else {})}
                                for name, rep in self.results.items()}}

    def dumps(self) -> str:
        return json.dumps(self.as_json(), indent=2, ensure_ascii=False)


def run_populations(cfg: AlertsConfig, *, households: int = 60, days: int = 30, seed: int = 1,
                    names: list[str] | None = None, tick_s: float = 60.0, progress=None, start: dt.date = START,
                    answers: str | None = "default") -> PopulationReport:
    """Every population (or the named ones), each through the engine and the timers (and the check-in loop with
    the named answer ranges, answers.RANGES; None: without)."""
    results = {}
    for name in names or list(POPULATIONS):
        results[name] = run_population(cfg, Population(name, households, days, seed, start), tick_s, answers)
        if progress is not None:
            progress(name, results[name])
    return PopulationReport(households, days, seed, results, start, answers)
