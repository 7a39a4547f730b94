"""Who answers a check-in, when, and what: a model of residents and their families, not of any alert rule.

When the engine asks first (alerts/checkin.py) the family gets a message: "please phone her first, then tap
她/他没事 or 联系不上; she can also press 取消 on her call button". What happens next depends on people:

    family      whether the household has a family member who takes such messages at all (registered with a
                phone that gets them); if so, whether they see this message while it still matters (at work,
                phone on silent, asleep on another continent) and how soon (minutes, log-normal)
    the call    they phone the resident; whether she picks up depends on where she is: at home and awake
                (hard of hearing, phone in another room, in the bath), asleep (a late riser before 08:00),
                out on her own (a mobile left at home or not heard in the street); not reached, they try
                once more 5-15 minutes later, then tap 联系不上 or go on trying without tapping anything
    away        a family that took her out for the day knows she is fine and taps 没事 at once; a hospital
                stay is known to most families (the one who took her there), the others phone as usual
    resident    reached at home, she may press the call button's cancel key herself (as the message and the
                caller suggest) instead of the caller tapping 没事; never while she is out (the button is at
                home), never while asleep (the call wakes her: then she talks, the caller taps)
    emergency   a resident who has fallen or is ill answers nothing and presses nothing; her family cannot
                reach her and taps 联系不上 or nothing

Nobody is asked at night: the engine pushes staff at once then (its rule, not this model's), so the answers
are only ever drawn for check-ins the engine asked in the day. Whether an answer arrives within the engine's
wait is not decided here: the answer has a time, and the engine's own wait decides what it was worth.

Each household draws its values once from ranges (`AnswerRanges`), a pure function of (seed, population,
household); each check-in then draws its own events from (seed, population, household, time asked), so a run
gives the same answers on any date. The default ranges, and why:

    family          0.85    share of solitary residents with a family member who takes the messages: most
                            have children (the 空巢 programmes enrol an emergency contact), a minority has
                            nobody, or nobody who reads a message on a phone
    sees            0.55-0.95  chance, per check-in, that the family sees the message in time to act on it:
                            adult children at work, in meetings, phones on silent
    react_min       3-15 min  median time from the message to the call (log-normal, sigma 0.9: one call in
                            ten or so comes after half an hour)
    phone_home      0.75-0.95  she picks up at home and awake (deafness, the phone in another room)
    phone_asleep    0.30-0.60  the phone wakes her
    phone_out       0.50-0.85  she picks up her mobile while out on her own
    knows_hospital  0.60-0.95  the family knows she is in hospital without phoning
    self_press      0.10-0.40  reached at home, she presses 取消 herself rather than the caller tapping
                            (many elderly never use the cancel key; the message asks it of her)
    unreachable_tap 0.30-0.70  after two calls that nobody picked up, the family taps 联系不上 (the others
                            go on phoning, drive over, or call a neighbour, and tap nothing)

`PESSIMISTIC` lowers every one of them (families 0.70, seeing 0.30-0.70, slower calls, fewer pick-ups, fewer
presses), to show how much the result depends on them. These ranges are stated assumptions, not
measurements: no published figures on how often families answer such a message were found.
"""

from __future__ import annotations

import bisect
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

from firmware_sim.seeding import rng_for
from firmware_sim.timeparse import MINUTE_MS

Range = tuple[float, float]

HOME, ASLEEP, EMERGENCY = "home", "asleep", "emergency"  # where a resident is; else the absence's kind
DAY_OUT, HOSPITAL = "day_out", "hospital"
RESIDENT, FAMILY = "resident", "family"
OK, UNREACHABLE = "ok", "unreachable"


@dataclass(frozen=True, slots=True)
class AnswerRanges:
    """The ranges households draw their answering habits from (see the module's docstring for why)."""

    family: float = 0.85
    sees: Range = (0.55, 0.95)
    react_min: Range = (3.0, 15.0)
    react_sigma: float = 0.9
    phone_home: Range = (0.75, 0.95)
    phone_asleep: Range = (0.30, 0.60)
    phone_out: Range = (0.50, 0.85)
    knows_hospital: Range = (0.60, 0.95)
    self_press: Range = (0.10, 0.40)
    unreachable_tap: Range = (0.30, 0.70)
    retry_min: Range = (5.0, 15.0)


DEFAULT = AnswerRanges()
PESSIMISTIC = AnswerRanges(family=0.70, sees=(0.30, 0.70), react_min=(8.0, 25.0), phone_home=(0.60, 0.85),
                           phone_asleep=(0.20, 0.40), phone_out=(0.30, 0.70), knows_hospital=(0.40, 0.80),
                           self_press=(0.05, 0.20), unreachable_tap=(0.20, 0.50))
NOBODY = AnswerRanges(family=0.85, sees=(0.0, 0.0))  # families registered, nobody ever answers: the upper bound
RANGES = {"default": DEFAULT, "pessimistic": PESSIMISTIC, "nobody": NOBODY}


@dataclass(frozen=True, slots=True)
class Household:
    """One household's answering habits, drawn once."""

    family: bool
    sees: float
    react_min: float
    react_sigma: float
    phone_home: float
    phone_asleep: float
    phone_out: float
    knows_hospital: float
    self_press: float
    unreachable_tap: float
    retry_min: Range

    @classmethod
    def draw(cls, r: AnswerRanges, seed: int, population: str, household: str) -> Household:
        rng = rng_for(seed, population, household, "answers")

        def u(x: Range) -> float:
            return rng.uniform(*x)

        return cls(rng.random() < r.family, u(r.sees), u(r.react_min), r.react_sigma, u(r.phone_home),
                   u(r.phone_asleep), u(r.phone_out), u(r.knows_hospital), u(r.self_press), u(r.unreachable_tap),
                   r.retry_min)


@dataclass(frozen=True, slots=True)
class Answer:
    """What comes back: who, what, when; `story` says what happened, for the report."""

    at_ms: int
    by: str  # resident (the call button's cancel key) | family (a tapped link)
    what: str  # ok | unreachable
    story: str


@dataclass(frozen=True, slots=True)
class Whereabouts:
    """Where a resident is over a run: wake-ups and bedtimes, absences, and when an emergency began."""

    wakes: Sequence[int]
    beds: Sequence[int]
    absences: Sequence[tuple[int, int, str]]  # start, end, kind (outing, day_out, hospital, ...)
    emergency_ms: int | None = None

    def at(self, t: int) -> str:
        """home, asleep, emergency, or the kind of absence she is in."""
        if self.emergency_ms is not None and t >= self.emergency_ms:
            return EMERGENCY
        for s, e, what in self.absences:
            if s <= t < e:
                return what
        d = bisect.bisect_right(self.wakes, t) - 1  # the last wake-up before t
        if d < 0 or d >= len(self.beds) or t >= self.beds[d]:
            return ASLEEP
        return HOME


def answer(h: Household, where: Whereabouts, asked_ms: int, rng: random.Random) -> Answer | None:
    """The answer to a check-in asked at `asked_ms` (None: nobody answers, ever)."""
    if not h.family or rng.random() >= h.sees:
        return None
    t = asked_ms + int(max(0.5, h.react_min * math.exp(h.react_sigma * rng.gauss(0.0, 1.0))) * MINUTE_MS)
    for attempt in (1, 2):
        place = where.at(t)
        tap = t + int(rng.uniform(0.5, 2.0) * MINUTE_MS)
        if place == DAY_OUT:  # she is out with them
            return Answer(tap, FAMILY, OK, "with family")
        if place == HOSPITAL and rng.random() < h.knows_hospital:
            return Answer(tap, FAMILY, OK, "known in hospital")
        pick = {HOME: h.phone_home, ASLEEP: h.phone_asleep, EMERGENCY: 0.0}.get(place, h.phone_out)
        if rng.random() < pick:
            if place == HOME and rng.random() < h.self_press:
                return Answer(t + int(rng.uniform(1.0, 5.0) * MINUTE_MS), RESIDENT, OK, "resident pressed cancel")
            return Answer(tap, FAMILY, OK, f"reached {'at home' if place in (HOME, ASLEEP) else 'out'}")
        if attempt == 1:
            t += int(rng.uniform(*h.retry_min) * MINUTE_MS)
    if rng.random() < h.unreachable_tap:
        return Answer(t + int(rng.uniform(0.5, 2.0) * MINUTE_MS), FAMILY, UNREACHABLE, "not reached")
    return None


class Answers:
    """A population's answer model: each household's habits, and the answer to each check-in."""

    def __init__(self, ranges: AnswerRanges, seed: int, population: str, households: Sequence[str]) -> None:
        self.seed, self.population = seed, population
        self.households = {h: Household.draw(ranges, seed, population, h) for h in households}

    def has_family(self, household: str) -> bool:
        return self.households[household].family

    def answer(self, household: str, where: Whereabouts, asked_ms: int) -> Answer | None:
        return answer(self.households[household], where, asked_ms,
                      rng_for(self.seed, self.population, household, "checkin", asked_ms))
