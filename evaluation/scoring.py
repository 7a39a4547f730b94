"""Scoring inactivity detectors against labelled incidents, and the plain awake-hours timer they are measured
against (docs/evaluation.md).

An alarm is (household, time). A labelled emergency (the resident's last use of water at `start`) is caught by
the household's first alarm in [start, start + MATCH_MS]; the delay is from `start`. Every alarm of the
household from `start` to the end of the emergency (its `end` if later, e.g. a resident who never uses water
again in the traffic) is explained; every other alarm is a false alarm, whether or not it fell in a labelled absence (an outing, a
hospital stay nobody flagged: staff would still be sent) - those are also counted on their own.
False alarms are per household-month of exposure: the span of the traffic, per monitored household, less the
time inside its emergencies.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import numpy as np

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
MONTH_MS = 30 * DAY_MS
MATCH_MS = 48 * HOUR_MS
SLEEP = (22 * 60, 6 * 60 + 30)  # the timers' sleep hours, local minutes: 22:00-06:30
TIMER_HOURS = (6.0, 7.0, 8.0, 10.0)


@dataclass(frozen=True, slots=True)
class Alarm:
    household: str
    at: int
    detail: str = ""  # the engine's reason (window, learned, cap) or the timer's length


@dataclass(frozen=True, slots=True)
class Incident:
    """A label: what happened to a household (emergency | absence), from start (to end)."""

    household: str
    kind: str
    start_ms: int
    end_ms: int | None = None
    note: str = ""
    row: int = 0  # where it came from (a labels file row), for messages


@dataclass
class Score:
    """One detector on one traffic."""

    detector: str
    emergencies: int = 0
    caught: int = 0
    missed: list[str] = field(default_factory=list)
    delays_s: list[float] = field(default_factory=list)
    alarms: int = 0
    false_alarms: int = 0
    in_absence: int = 0
    household_months: float = 0.0
    by_reason: dict[str, int] = field(default_factory=dict)  # false alarms by the detector's reason

    @property
    def fa_per_household_month(self) -> float:
        return self.false_alarms / self.household_months if self.household_months else 0.0

    @property
    def delay_median_s(self) -> float | None:
        return float(np.median(self.delays_s)) if self.delays_s else None

    @property
    def delay_p90_s(self) -> float | None:
        return float(np.percentile(self.delays_s, 90)) if self.delays_s else None

    def as_json(self) -> dict:
        return {"detector": self.detector, "emergencies": self.emergencies, "caught": self.caught,
                "missed": self.missed, "alarms": self.alarms, "false_alarms": self.false_alarms,
                "false_alarms_in_absences": self.in_absence, "household_months": round(self.household_months, 4),
                "false_alarms_per_household_month": round(self.fa_per_household_month, 4),
                "delay_median_s": self.delay_median_s, "delay_p90_s": self.delay_p90_s,
                "false_alarms_by_reason": self.by_reason}


def score(detector: str, alarms: list[Alarm], incidents: list[Incident], households: list[str], start_ms: int,
          end_ms: int) -> Score:
    """Score one detector's alarms over [start_ms, end_ms) for the monitored households."""
    out = Score(detector)
    mine: dict[str, list[Alarm]] = {h: [] for h in households}
    for a in sorted(alarms, key=lambda a: a.at):
        if a.household in mine:
            mine[a.household].append(a)
            out.alarms += 1
    explained: set[tuple[str, int]] = set()
    exposure = 0
    emergencies: dict[str, list[tuple[int, int]]] = {}
    for inc in incidents:
        if inc.kind != "emergency" or inc.household not in mine:
            continue
        out.emergencies += 1
        until = max(inc.end_ms or 0, inc.start_ms + MATCH_MS)
        emergencies.setdefault(inc.household, []).append((inc.start_ms, until))
        hits = [a for a in mine[inc.household] if inc.start_ms <= a.at <= until]
        explained.update((a.household, a.at) for a in hits)
        if hits and hits[0].at <= inc.start_ms + MATCH_MS:
            out.caught += 1
            out.delays_s.append((hits[0].at - inc.start_ms) / 1000)
        else:
            out.missed.append(f"{inc.household} {inc.note} emergency from {inc.start_ms}".replace("  ", " "))
    for h in households:
        cut = sum(max(0, min(b, end_ms) - max(a, start_ms)) for a, b in _merged(emergencies.get(h, [])))
        exposure += (end_ms - start_ms) - cut
    out.household_months = exposure / MONTH_MS
    absences: dict[str, list[tuple[int, int]]] = {}
    for inc in incidents:
        if inc.kind == "absence" and inc.end_ms is not None:
            absences.setdefault(inc.household, []).append((inc.start_ms, inc.end_ms))
    for h, lst in mine.items():
        for a in lst:
            if (a.household, a.at) in explained:
                continue
            out.false_alarms += 1
            out.by_reason[a.detail or "-"] = out.by_reason.get(a.detail or "-", 0) + 1
            if any(s <= a.at <= e for s, e in absences.get(h, ())):
                out.in_absence += 1
    return out


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


class AwakeTimer:
    """A plain timer: an alarm when the awake time since the last use reaches `hours` (sleep hours not counted).

    A use is the register advancing by at least the meter's step since the last use, dated at the reading before
    the one that shows it (as the engine dates it) when readings are no more than two intervals apart. The timer
    knows of a use only when the reading that shows it arrives, as any detector running live does: an alarm due
    between the use's date and that reading is raised (given `seen`; without it the timer would see up to one
    reading interval into the future). One alarm per gap; no away mode, nothing learned.
    """

    def __init__(self, hours: float, zone: ZoneInfo, sleep: tuple[int, int] = SLEEP) -> None:
        self.hours = hours
        self.limit_ms = int(hours * HOUR_MS)
        self.zone = zone
        self.sleep = sleep
        self.name = f"timer {hours:g} h"

    def alarms(self, uses: dict[str, list[int]], end_ms: int,
               seen: dict[str, list[int]] | None = None) -> list[Alarm]:
        """Alarms over the use times of each household (sorted), until end_ms; seen[h][i]: when use i of h was
        known (the reading that showed it), the same length as uses[h]."""
        out = []
        for h, times in uses.items():
            known = seen[h] if seen is not None else times
            for a, b in zip(times, [*known[1:], end_ms], strict=True):
                if b - a < self.limit_ms:
                    continue  # the awake time cannot reach the limit in less wall time
                due = self.due(a)
                if due < b:
                    out.append(Alarm(h, due, self.name))
        return out

    def due(self, since: int) -> int:
        """When the awake time since `since` reaches the limit."""
        left, t = self.limit_ms, since
        sa, sb = self.sleep
        while True:
            local = dt.datetime.fromtimestamp(t / 1000, self.zone)
            mid = int(dt.datetime.combine(local.date(), dt.time(0), self.zone).timestamp() * 1000)
            minute = (t - mid) / 60_000
            if _in_sleep(minute, sa, sb):  # jump to the end of the sleep period
                wake = mid + sb * 60_000 if minute < sb else mid + DAY_MS + sb * 60_000
                t = max(t, wake)
                continue
            bed = mid + sa * 60_000 if sa > minute else mid + DAY_MS + sa * 60_000
            if t + left <= bed:
                return t + left
            left -= bed - t
            t = bed


def _in_sleep(minute: float, sa: int, sb: int) -> bool:
    if sa == sb:
        return False
    if sa < sb:
        return sa <= minute < sb
    return minute >= sa or minute < sb


class UseTracker:
    """Uses of water per household from meter readings, dated as the engine dates them."""

    def __init__(self, meters: dict[str, tuple[str, float, int]]) -> None:
        self.meters = meters  # meter -> (household, step litres, interval ms)
        self.base: dict[str, float] = {}
        self.last: dict[str, int] = {}
        self.uses: dict[str, list[int]] = {}
        self.seen: dict[str, list[int]] = {}  # when each use was known: the reading that showed it

    def start(self, household: str, at: int) -> None:
        self.uses.setdefault(household, [at])
        self.seen.setdefault(household, [at])

    def reading(self, meter: str, ts: int, total: float) -> None:
        info = self.meters.get(meter)
        if info is None:
            return
        household, step, interval = info
        prev = self.last.get(meter)
        if prev is not None and ts <= prev:
            return
        base = self.base.get(meter)
        if base is None or total < base:
            self.base[meter] = total
            self.uses.setdefault(household, [ts])
            self.seen.setdefault(household, [ts])
        elif total - base >= step:
            self.base[meter] = total
            at = prev if prev is not None and ts - prev <= 2 * interval else ts
            lst = self.uses.setdefault(household, [])
            if not lst or at > lst[-1]:
                lst.append(at)
                self.seen.setdefault(household, []).append(ts)
        self.last[meter] = ts
