"""How one resident (and, on a shared meter, a second person) uses water, day by day: a behaviour model written
from how people live, not from any alert rule (the populations in populations.py draw its parameters).

A resident's days are planned all at once, as a pure function of (seed, population, household): the wake-up
and bedtime of every day first (so each night knows the morning after it), then the day's uses of water - the
morning routine, meals, washing up, showers, toilet visits and small draws through the waking hours, naps and
dozes without any use, toilet visits (and, for some, whole spells awake) at night - and finally the absences
that remove every use inside them: fixed weekly activities, outings of a few hours, days out with family, stays in
hospital.

Fixed weekly activities: many elderly residents have 0-2 things they do every week on the same weekday at about
the same hour - the market morning, the day centre, a clinic, a mahjong afternoon, church or the temple. A household
draws them once (`Habits.weekly`: the chance of a first and of a second one; none in the populations that do not
set it): a kind (its usual starting hours), a weekday (two activities on different weekdays), a start hour, a
length in `weekly_h` (2-5 h), a jitter of the start of 30-45 min either way, and a chance of skipping a week
(`weekly_skip`: ill, raining, family visiting). The random outings stay as they are: a population with weekly
activities still has outings nobody could predict.
An emergency (a fall, a stroke) stops the resident's uses at a known time; a second person on the same meter
goes on using water.

A use is (start_ms, end_ms, litres). Typical volumes: a flush 6 L, hand washing 0.3-1 L, a kettle 1-2 L,
washing up 6-14 L, a shower 25-45 L.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import random
from dataclasses import dataclass, field

from firmware_sim.timeparse import HOUR_MS, MINUTE_MS

Use = tuple[int, int, float]  # start_ms, end_ms, litres
Range = tuple[float, float]


@dataclass(frozen=True, slots=True)
class Habits:
    """Ranges a population's households are drawn from (each household draws its own values once)."""

    wake_h: Range = (6.0, 7.0)           # usual wake-up, local hours
    wake_sd_h: Range = (0.2, 0.4)        # day-to-day spread of it
    bed_h: Range = (21.0, 22.3)          # usual bedtime (may be past 24: after midnight)
    bed_sd_h: Range = (0.2, 0.4)
    nap_prob: Range = (0.3, 0.7)         # chance of an afternoon nap on a day
    uses_per_h: Range = (0.8, 1.4)       # toilet and small kitchen/washing draws while awake
    meals_prob: Range = (0.8, 1.0)       # chance each of lunch and dinner is cooked at home
    shower_prob: Range = (0.3, 0.6)
    night_toilet: Range = (0.6, 1.5)     # mean toilet visits a night
    night_up_prob: Range = (0.0, 0.0)    # chance a night has a spell awake (30-120 min, several uses)
    doze_prob: Range = (0.0, 0.0)        # chance of a 1-3 h doze at another time of the day
    odd_day_prob: Range = (0.0, 0.0)     # chance a day's sleep is shifted by 1.5-4 h (bad night, up early)
    outings_per_month: Range = (1.0, 3.0)
    outing_h: Range = (2.0, 4.0)
    hospital_per_month: float = 0.0      # stays in hospital (or away with family), unflagged
    hospital_days: tuple[int, int] = (2, 8)
    visits_per_month: Range = (0.0, 0.0)  # visitors at home for 2-8 h (more water used)
    day_out_per_month: Range = (0.0, 0.0)  # whole days out with family (8-12 h, "the daughter took her away")
    co_user_nights: Range = (0.0, 0.0)   # share of nights a second person on the same meter stays
    weekly: tuple[float, float] = (0.0, 0.0)  # chance of a first and of a second fixed weekly activity
    weekly_h: Range = (2.0, 5.0)         # its length (each week +-15 min)
    weekly_skip: Range = (0.1, 0.3)      # chance it is skipped in a week


@dataclass(frozen=True, slots=True)
class Person:
    """One household's own values, drawn from Habits."""

    wake_h: float
    wake_sd_h: float
    bed_h: float
    bed_sd_h: float
    nap_prob: float
    uses_per_h: float
    meals_prob: float
    shower_prob: float
    night_toilet: float
    night_up_prob: float
    doze_prob: float
    odd_day_prob: float
    outings_per_month: float
    outing_h: Range
    hospital_per_month: float
    hospital_days: tuple[int, int]
    visits_per_month: float
    day_out_per_month: float
    co_user_nights: float
    weekly: tuple[Weekly, ...] = ()

    @classmethod
    def draw(cls, habits: Habits, rng: random.Random) -> Person:
        def u(r: Range) -> float:
            return rng.uniform(*r)

        p = cls(u(habits.wake_h), u(habits.wake_sd_h), u(habits.bed_h), u(habits.bed_sd_h), u(habits.nap_prob),
                u(habits.uses_per_h), u(habits.meals_prob), u(habits.shower_prob), u(habits.night_toilet),
                u(habits.night_up_prob), u(habits.doze_prob), u(habits.odd_day_prob),
                u(habits.outings_per_month), habits.outing_h, habits.hospital_per_month, habits.hospital_days,
                u(habits.visits_per_month), u(habits.day_out_per_month), u(habits.co_user_nights))
        if not any(habits.weekly):  # drawn only where a population has them: the others' traffic is unchanged
            return p
        weekly: list[Weekly] = []
        days = list(range(7))
        for chance in habits.weekly:
            if rng.random() >= chance:
                break
            what, starts = rng.choice(WEEKLY_KINDS)
            weekday = rng.choice(days)
            days.remove(weekday)
            weekly.append(Weekly(what, weekday, u(starts), u(habits.weekly_h), rng.uniform(0.5, 0.75),
                                 u(habits.weekly_skip)))
        return dataclasses.replace(p, weekly=tuple(weekly))


@dataclass(frozen=True, slots=True)
class Weekly:
    """A fixed weekly activity: out of the flat every `weekday` (0 = Monday) from about `start_h` for `hours`."""

    what: str
    weekday: int
    start_h: float
    hours: float
    jitter_h: float  # the start varies by up to this either way
    skip: float  # chance of not going in a given week


# kinds of weekly activity and their usual starting hours (local)
WEEKLY_KINDS: tuple[tuple[str, Range], ...] = (
    ("market", (7.0, 9.5)), ("day_centre", (8.5, 10.0)), ("clinic", (8.0, 10.0)), ("mahjong", (13.0, 15.0)),
    ("temple", (8.0, 10.0)), ("choir", (14.0, 16.0)),
)


@dataclass(frozen=True, slots=True)
class Absence:
    """A time the resident is out of the flat: no use of theirs inside it."""

    start_ms: int
    end_ms: int
    what: str  # weekly, outing, day_out, hospital


@dataclass
class Life:
    """A resident's planned days: wake-ups, bedtimes, uses and absences (all epoch ms, sorted)."""

    wakes: list[int]
    beds: list[int]
    uses: list[Use]
    absences: list[Absence]
    night_uses: list[int] = field(default_factory=list)  # start of each night-time use (emergencies pick one)
    co_uses: list[Use] = field(default_factory=list)  # the second person on a shared meter


def poisson(rng: random.Random, mean: float) -> int:
    """A Poisson-distributed count (Knuth; small means)."""
    if mean <= 0:
        return 0
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def _clip(x: float, lo: float, hi: float) -> float:
    return max(lo, min(hi, x))


def _add(out: list[Use], t: float, litres: float, lpm: float) -> None:
    t = int(t)
    out.append((t, t + max(1_000, int(litres / lpm * MINUTE_MS)), litres))


def _flush(out: list[Use], rng: random.Random, t: float) -> None:
    _add(out, t, rng.uniform(5.0, 7.0), 9.0)
    if rng.random() < 0.8:
        _add(out, t + 50_000, rng.uniform(0.3, 1.0), 4.0)


def _small(out: list[Use], rng: random.Random, t: float) -> None:
    """A toilet visit or a small draw (a glass of water, rinsing a cup, washing hands)."""
    if rng.random() < 0.55:
        _flush(out, rng, t)
    else:
        _add(out, t, rng.uniform(0.3, 2.0), 4.0)


def _times(rng: random.Random, a: float, b: float, per_hour: float) -> list[float]:
    out: list[float] = []
    if per_hour <= 0:
        return out
    t = a + rng.expovariate(per_hour) * HOUR_MS
    while t < b:
        out.append(t)
        t += rng.expovariate(per_hour) * HOUR_MS
    return out


def plan_life(p: Person, rng: random.Random, midnights: list[int]) -> Life:
    """Every day of a resident; midnights[d] is local midnight of day d (one more than the days planned)."""
    days = len(midnights) - 1
    wakes, beds = [], []
    for d in range(days + 1):
        shift = 0.0
        if rng.random() < p.odd_day_prob:
            shift = rng.choice((-1, 1)) * rng.uniform(1.5, 4.0)
        w = p.wake_h + _clip(rng.gauss(0, p.wake_sd_h), -3 * p.wake_sd_h, 3 * p.wake_sd_h) + max(0.0, shift)
        b = p.bed_h + _clip(rng.gauss(0, p.bed_sd_h), -3 * p.bed_sd_h, 3 * p.bed_sd_h) + min(0.0, shift) * 0.5
        wakes.append(midnights[d] + int(w * HOUR_MS))
        beds.append(midnights[d] + int(max(b, w + 10) * HOUR_MS))
    for d in range(days):  # a night is at least 3 h
        beds[d] = min(beds[d], wakes[d + 1] - 3 * HOUR_MS)
    uses: list[Use] = []
    night_uses: list[int] = []
    absences = _absences(p, rng, midnights, wakes, beds)
    for d in range(days):
        _day(p, rng, midnights[d], wakes[d], beds[d], uses)
        night = _night(p, rng, beds[d], wakes[d + 1])
        night_uses += [u[0] for u in night if u[2] >= 4]
        uses += night
    if absences:
        uses = [u for u in uses if not any(a.start_ms <= u[0] < a.end_ms for a in absences)]
        night_uses = [t for t in night_uses if not any(a.start_ms <= t < a.end_ms for a in absences)]
    uses.sort()
    life = Life(wakes, beds, uses, absences, sorted(night_uses))
    if p.co_user_nights > 0:
        life.co_uses = _co_user(p, rng, midnights)
    return life


def _day(p: Person, rng: random.Random, mid: int, wake: int, bed: int, out: list[Use]) -> None:
    quiet: list[tuple[float, float]] = []
    if rng.random() < p.nap_prob:
        nap = mid + rng.uniform(12.5, 14.0) * HOUR_MS
        quiet.append((nap, nap + rng.uniform(40, 120) * MINUTE_MS))
    if rng.random() < p.doze_prob:
        doze = rng.uniform(wake + 2 * HOUR_MS, max(wake + 2 * HOUR_MS, bed - 3 * HOUR_MS))
        quiet.append((doze, doze + rng.uniform(1.0, 3.0) * HOUR_MS))
    day: list[Use] = []
    # the morning: toilet, washing, the kettle
    _flush(day, rng, wake + rng.uniform(0, 15) * MINUTE_MS)
    _add(day, wake + rng.uniform(3, 20) * MINUTE_MS, rng.uniform(1.5, 4.0), 1.8)
    _add(day, wake + rng.uniform(20, 60) * MINUTE_MS, rng.uniform(1.0, 2.0), 8.0)
    # meals at home and washing up afterwards
    for lo, hi in ((11.2, 12.5), (17.0, 18.8)):
        if rng.random() < p.meals_prob:
            t = max(mid + rng.uniform(lo, hi) * HOUR_MS, wake + 60 * MINUTE_MS)
            if t < bed - 30 * MINUTE_MS:
                _add(day, t, rng.uniform(2, 6), 5.0)
                _add(day, t + rng.uniform(30, 70) * MINUTE_MS, rng.uniform(6, 14), 5.0)
    if rng.random() < p.shower_prob:
        t = rng.uniform(max(wake, bed - 3 * HOUR_MS), bed - 20 * MINUTE_MS)
        _add(day, t, rng.uniform(25, 45), 7.0)
    for t in _times(rng, wake + 30 * MINUTE_MS, bed - 20 * MINUTE_MS, p.uses_per_h):
        _small(day, rng, t)
    _flush(day, rng, bed - rng.uniform(5, 20) * MINUTE_MS)
    out += [u for u in day if wake <= u[0] < bed and not any(a <= u[0] < b for a, b in quiet)]


def _night(p: Person, rng: random.Random, bed: int, wake: int) -> list[Use]:
    out: list[Use] = []
    lo, hi = bed + 40 * MINUTE_MS, wake - 20 * MINUTE_MS
    if hi <= lo:
        return out
    for _ in range(poisson(rng, p.night_toilet)):
        _flush(out, rng, rng.uniform(lo, hi))
    if rng.random() < p.night_up_prob:  # up for a while: wandering, tea, the toilet, washing
        t0 = rng.uniform(lo, hi)
        length = rng.uniform(30, 120) * MINUTE_MS
        for t in sorted(rng.uniform(t0, t0 + length) for _ in range(rng.randint(2, 5))):
            _small(out, rng, t)
    return [u for u in out if u[0] < wake]


def _weekday(midnight_ms: int) -> int:
    """The weekday (0 = Monday) of the local day starting at midnight_ms (any zone within 12 h of UTC)."""
    return dt.datetime.fromtimestamp((midnight_ms + 12 * HOUR_MS) / 1000, dt.timezone.utc).weekday()


def _absences(p: Person, rng: random.Random, midnights: list[int], wakes: list[int],
              beds: list[int]) -> list[Absence]:
    days = len(midnights) - 1
    months = days / 30
    out: list[Absence] = []

    def free(a: int, b: int) -> bool:
        return all(b <= x.start_ms or a >= x.end_ms for x in out)

    for _ in range(poisson(rng, p.hospital_per_month * months)):
        d = rng.randrange(days)
        start = midnights[d] + int(rng.uniform(8, 20) * HOUR_MS)
        end = start + rng.randint(*p.hospital_days) * 24 * HOUR_MS + int(rng.uniform(-4, 4) * HOUR_MS)
        if free(start, end):
            out.append(Absence(start, end, "hospital"))
    for _ in range(poisson(rng, p.day_out_per_month * months)):
        d = rng.randrange(days)
        start = max(wakes[d] + 30 * MINUTE_MS, midnights[d] + int(rng.uniform(8.0, 10.5) * HOUR_MS))
        end = min(beds[d] - 30 * MINUTE_MS, start + int(rng.uniform(8, 12) * HOUR_MS))
        if end > start and free(start, end):
            out.append(Absence(start, end, "day_out"))
    for w in p.weekly:
        for d in range(days):
            if _weekday(midnights[d]) != w.weekday or rng.random() < w.skip:
                continue
            start = max(wakes[d] + 30 * MINUTE_MS, midnights[d] + int((w.start_h + rng.uniform(-1, 1) * w.jitter_h)
                                                                      * HOUR_MS))
            end = min(beds[d] - 30 * MINUTE_MS, start + int((w.hours + rng.uniform(-0.25, 0.25)) * HOUR_MS))
            if end > start and free(start, end):
                out.append(Absence(start, end, "weekly"))
    for _ in range(poisson(rng, p.outings_per_month * months)):
        d = rng.randrange(days)
        hours = rng.uniform(*p.outing_h)
        lo, hi = wakes[d] + 45 * MINUTE_MS, beds[d] - 30 * MINUTE_MS - int(hours * HOUR_MS)
        if hi <= lo:
            continue
        start = int(rng.uniform(lo, hi))
        end = start + int(hours * HOUR_MS)
        if free(start, end):
            out.append(Absence(start, end, "outing"))
    out.sort(key=lambda a: a.start_ms)
    return out


def plan_visits(p: Person, rng: random.Random, midnights: list[int], life: Life) -> list[Use]:
    """Visitors at home for 2-8 h: more toilet visits, tea, a meal cooked and washed up."""
    days = len(midnights) - 1
    out: list[Use] = []
    for _ in range(poisson(rng, p.visits_per_month * days / 30)):
        d = rng.randrange(days)
        start = midnights[d] + rng.uniform(9.5, 16.0) * HOUR_MS
        end = start + rng.uniform(2, 8) * HOUR_MS
        if any(a.start_ms < end and start < a.end_ms for a in life.absences):
            continue
        for t in _times(rng, start, end, 1.5):
            _small(out, rng, t)
        _add(out, start + rng.uniform(0.5, 1.5) * HOUR_MS, rng.uniform(8, 16), 5.0)
    return sorted(out)


def _co_user(p: Person, rng: random.Random, midnights: list[int]) -> list[Use]:
    """A second person on the same meter (an adult child, a lodger): some evenings, nights and mornings."""
    days = len(midnights) - 1
    out: list[Use] = []
    for d in range(days):
        if rng.random() >= p.co_user_nights:
            continue
        arrive = midnights[d] + rng.uniform(18.0, 20.5) * HOUR_MS
        bed = midnights[d] + rng.uniform(22.5, 24.5) * HOUR_MS
        up = midnights[d + 1] + rng.uniform(6.3, 7.5) * HOUR_MS
        for t in _times(rng, arrive, bed, 1.0):
            _small(out, rng, t)
        if rng.random() < 0.7:
            _add(out, rng.uniform(arrive, bed - 15 * MINUTE_MS), rng.uniform(30, 55), 8.0)
        _flush(out, rng, up + rng.uniform(0, 10) * MINUTE_MS)
        _add(out, up + rng.uniform(5, 25) * MINUTE_MS, rng.uniform(2, 5), 2.0)
    return sorted(out)
