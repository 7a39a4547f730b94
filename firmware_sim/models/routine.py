"""Household water-use routines: when people sleep, wake, cook, wash and flush.

A day's plan is a pure function of (seed, household, day): a sorted list of draws
(start_ms, end_ms, litres_per_ms) starting in [wake of the day, wake of the next day).
That makes any day computable on its own (labels look ahead at the day of an incident)
and keeps one household's randomness independent of every other's.

Profiles: an elderly resident (retired: no weekend shift, an afternoon nap, about one
toilet visit a night) and a family (weekday work hours with little use at home, later
weekend mornings, showers, laundry). Typical volumes: a flush 6 L, a shower 30-60 L,
washing up 8-25 L, a washing-machine fill 15-20 L.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from firmware_sim.models.base import Calendar
from firmware_sim.scenario.community import HouseholdSpec
from firmware_sim.scenario.schema import Profile
from firmware_sim.seeding import rng_for
from firmware_sim.timeparse import HOUR_MS, MINUTE_MS

Draw = tuple[int, int, float]  # start_ms, end_ms, litres per ms
LPM = 1 / 60_000  # litres per ms of one litre per minute


@dataclass(frozen=True, slots=True)
class Night:
    """Bedtime of a day and the wake-up after it."""

    bed_ms: int
    wake_ms: int


def night(hh: HouseholdSpec, seed: int, cal: Calendar, day: int) -> Night:
    """When the household goes to bed on `day` and wakes up the next morning."""
    rng = rng_for(seed, hh.id, "sleep", day)
    shift = 0.0
    if hh.profile == Profile.FAMILY and cal.weekend(day):
        shift = rng.uniform(30, 90) * MINUTE_MS
    jitter = max(-60.0, min(60.0, rng.gauss(0, 20))) * MINUTE_MS
    bed = cal.midnight(day) + hh.bedtime_ms + shift + jitter
    length = (hh.sleep_hours + max(-0.75, min(0.75, rng.gauss(0, 0.3)))) * HOUR_MS
    return Night(int(bed), int(bed + length))


def away_trips(hh: HouseholdSpec, seed: int, cal: Calendar, day: int) -> list[tuple[int, int]]:
    """Random trips away (visiting family) that overlap `day`; each starts and ends on its own draw."""
    if hh.away_prob <= 0:
        return []
    out = []
    for s in range(day - 3, day + 1):
        rng = rng_for(seed, hh.id, "away", s)
        if rng.random() >= hh.away_prob:
            continue
        leave = cal.at(s, 9 * HOUR_MS) + int(rng.uniform(-60, 60) * MINUTE_MS)
        back = cal.at(s + rng.randint(1, 3), 17 * HOUR_MS) + int(rng.uniform(-120, 120) * MINUTE_MS)
        if back > cal.midnight(day) and leave < cal.midnight(day + 1):
            out.append((leave, back))
    return out


def _use(out: list[Draw], start: float, litres: float, lpm: float) -> None:
    start = int(start)
    out.append((start, start + int(litres / lpm * MINUTE_MS), lpm * LPM))


def _flush(out: list[Draw], rng: random.Random, t: float) -> None:
    _use(out, t, rng.uniform(5.0, 7.0), 9.0)
    _use(out, t + 50_000, rng.uniform(0.4, 1.0), 4.0)  # hand wash


def _poisson_times(rng: random.Random, a: float, b: float, per_hour: float) -> list[float]:
    out = []
    if per_hour <= 0:
        return out
    t = a + rng.expovariate(per_hour) * HOUR_MS
    while t < b:
        out.append(t)
        t += rng.expovariate(per_hour) * HOUR_MS
    return out


def plan_day(hh: HouseholdSpec, seed: int, cal: Calendar, day: int) -> list[Draw]:
    """The household's water draws from its wake-up on `day` to its wake-up on the next day."""
    rng = rng_for(seed, hh.id, "day", day)
    wake = night(hh, seed, cal, day - 1).wake_ms
    tonight = night(hh, seed, cal, day)
    bed, next_wake = tonight.bed_ms, tonight.wake_ms
    elderly = hh.profile == Profile.ELDERLY
    weekend = cal.weekend(day)
    mid = cal.midnight(day)
    out: list[Draw] = []
    quiet: list[tuple[float, float]] = []  # nap, work hours: nobody (or almost nobody) draws water
    if elderly and hh.naps and rng.random() < 0.75:
        nap = mid + rng.uniform(12.5, 13.5) * HOUR_MS
        quiet.append((nap, nap + rng.uniform(50, 110) * MINUTE_MS))
    at_work = not elderly and not weekend
    if at_work:
        quiet.append((mid + rng.uniform(8.0, 8.8) * HOUR_MS, mid + rng.uniform(17.2, 18.2) * HOUR_MS))

    people = hh.members
    # morning: each person's toilet and wash, staggered; some family members shower
    for p in range(people):
        t = wake + rng.uniform(0, 8 if p == 0 else 40) * MINUTE_MS
        _flush(out, rng, t)
        _use(out, t + 2 * MINUTE_MS, rng.uniform(2.5, 5.0), 1.8)
        if not elderly and rng.random() < 0.3:
            _use(out, t + 8 * MINUTE_MS, rng.uniform(35, 60), 8.0)
    _use(out, wake + rng.uniform(20, 45) * MINUTE_MS, rng.uniform(1.0, 2.0), 10.0)  # kettle, breakfast
    # lunch: at home for the elderly and at weekends
    if elderly or weekend or rng.random() < 0.3:
        t = mid + rng.uniform(11.3, 12.2) * HOUR_MS
        _use(out, t, rng.uniform(3, 6), 6.0)
        _use(out, t + rng.uniform(35, 60) * MINUTE_MS, rng.uniform(6, 14), 5.0)
    # dinner and washing up
    t = mid + rng.uniform(17.4, 18.6) * HOUR_MS + (30 * MINUTE_MS if at_work else 0)
    _use(out, t, rng.uniform(5, 10), 6.0)
    _use(out, t + rng.uniform(45, 80) * MINUTE_MS, rng.uniform(10, 18) + 3 * (people - 1), 5.0)
    # evening showers
    for _ in range(people):
        if rng.random() < (0.5 if elderly else 0.7):
            lo = t + 90 * MINUTE_MS
            _use(out, rng.uniform(lo, max(lo, bed - 40 * MINUTE_MS)), rng.uniform(25, 40) if elderly
                 else rng.uniform(35, 60), 7.5)
    # laundry
    if rng.random() < (0.15 if elderly else 0.35) * (1.5 if weekend else 1.0):
        t0 = mid + rng.uniform(9.0, 10.5) * HOUR_MS
        for k in range(3):
            _use(out, t0 + k * rng.uniform(14, 20) * MINUTE_MS, rng.uniform(14, 20), 10.0)
    # toilet visits and small kitchen draws through the waking day
    flush_rate = people / (2.0 if elderly else 2.8)
    for t in _poisson_times(rng, wake + 40 * MINUTE_MS, bed - 20 * MINUTE_MS, flush_rate):
        _flush(out, rng, t)
    for t in _poisson_times(rng, wake + 30 * MINUTE_MS, bed - 30 * MINUTE_MS, 0.8 if elderly else 1.2):
        _use(out, t, rng.uniform(0.3, 1.2), 4.0)
    # before bed
    _flush(out, rng, bed - rng.uniform(5, 20) * MINUTE_MS)
    _use(out, bed - rng.uniform(2, 4) * MINUTE_MS, rng.uniform(1.5, 3.0), 2.0)
    # at night
    mean = hh.night_toilet if hh.night_toilet >= 0 else (1.2 if elderly else 0.25 * people)
    for _ in range(_poisson(rng, mean)):
        lo, hi = bed + HOUR_MS, next_wake - 30 * MINUTE_MS
        if hi > lo:
            _flush(out, rng, rng.uniform(lo, hi))

    def keep(d: Draw) -> bool:
        s = d[0]
        if s < wake or s >= next_wake:
            return False
        # in quiet hours only a rare draw remains (someone comes home for a moment)
        return not any(a <= s < b for a, b in quiet) or rng.random() < 0.05

    out = [d for d in out if keep(d)]
    trips = away_trips(hh, seed, cal, day)
    if trips:
        out = [d for d in out if not any(a <= d[0] < b for a, b in trips)]
    out.sort()
    return out


def _poisson(rng: random.Random, mean: float) -> int:
    """A Poisson-distributed count (Knuth; small means only)."""
    if mean <= 0:
        return 0
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1
