"""Populations of solitary residents for evaluating inactivity detection (docs/evaluation.md): a typical one and
the kinds of people a rule tuned to it fails on. Each is a set of habit ranges (people.py) plus labelled
emergencies; none of it knows the alert rules, their windows or their sleep hours. Irregular sleepers, night
wanderers and late risers have no fixed weekly activity; every other population has typical's.

    typical          wakes 06:00-07:00, in bed 21:00-22:20, naps some afternoons, the toilet at night, out
                     for a morning or an afternoon now and then; 0-2 fixed weekly activities of 2-5 h (60 % have
                     one, a quarter two: the market, day centre, clinic, mahjong, temple; skipped some weeks)
    outings          out 3-9 h at a time, 4-10 times a month (market, park, day centre, clinic), and 1-2 fixed
                     weekly activities (90 % one, over half two)
    irregular        no fixed hours: sleep shifted by hours on some days, dozes in the day
    night_wanderers  up at night, often for an hour or two, and sleeping it off in the day
    late_risers      up at 08:30-10:30, in bed after midnight
    low_use          few draws a day (a thermos, meals out or not cooked), rarely a shower; weekly
                     activities as typical
    hospital         typical, plus stays in hospital of 2-8 days nobody flags (away mode is not set)
    visitors         typical, plus visitors at home for hours and whole days out with family
    shared_meter     typical, plus a second person on the same meter some nights (an adult child, a lodger)

Every household: one 10-minute water meter with 1 L resolution, readings only (total_l, flow_lpm). About one
household in five has an emergency: the resident stops using water at a known time (labelled), on a day
(70 %) or right after a night-time toilet visit (30 %); a second person on the meter goes on as before.
A population is a pure function of (name, households, days, seed): the same traffic on any date.
"""

from __future__ import annotations

import datetime as dt
import heapq
from collections.abc import Iterator
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from firmware_sim.models.answers import Whereabouts
from firmware_sim.models.people import Habits, Life, Person, Use, plan_life, plan_visits
from firmware_sim.seeding import rng_for
from firmware_sim.timeparse import DAY_MS, HOUR_MS, MINUTE_MS
from wire.models import Channel, Kind, Message

START = dt.date(2026, 3, 2)  # a Monday; fixed so results are the same on any date
TIMEZONE = "Asia/Shanghai"
INTERVAL_MS = 10 * MINUTE_MS
RESOLUTION_L = 1.0
EMERGENCY_SHARE = 0.2
HOUSEHOLDS_PER_GATEWAY = 25

WEEKLY = (0.6, 0.4)  # chance of a first fixed weekly activity, and then of a second (people.py)
_T = Habits(weekly=WEEKLY)
POPULATIONS: dict[str, tuple[str, Habits, str, str]] = {
    # name: (id prefix, habits, zh description, en description)
    "typical": ("typ", _T, "作息规律，偶尔半天外出", "regular hours, out for half a day now and then"),
    "outings": ("out", Habits(outings_per_month=(4.0, 10.0), outing_h=(3.0, 9.0), weekly=(0.9, 0.6)),
                "每月外出 4-10 次，每次 3-9 小时", "out 3-9 h at a time, 4-10 times a month"),
    "irregular": ("irr", Habits(wake_h=(5.5, 8.5), wake_sd_h=(0.8, 1.6), bed_h=(20.5, 23.5), bed_sd_h=(0.8, 1.6),
                                doze_prob=(0.2, 0.5), odd_day_prob=(0.1, 0.25)),
                  "作息不规律，白天打盹", "no fixed hours, dozes in the day"),
    "night_wanderers": ("nwa", Habits(night_toilet=(2.0, 4.0), night_up_prob=(0.3, 0.7), wake_h=(6.5, 8.5),
                                      doze_prob=(0.3, 0.6), nap_prob=(0.5, 0.9)),
                        "夜间起床活动，白天补觉", "up at night, sleeps it off in the day"),
    "late_risers": ("lat", Habits(wake_h=(8.5, 10.5), bed_h=(23.8, 25.3), nap_prob=(0.0, 0.3)),
                    "晚起晚睡（8:30 后起床，午夜后睡）", "up after 08:30, in bed after midnight"),
    "low_use": ("low", Habits(uses_per_h=(0.15, 0.4), meals_prob=(0.2, 0.6), shower_prob=(0.05, 0.2),
                              night_toilet=(0.2, 0.8), weekly=WEEKLY),
                "用水很少", "very low use"),
    "hospital": ("hos", Habits(hospital_per_month=0.7, hospital_days=(2, 8), weekly=WEEKLY),
                 "住院等未登记的离家（未设外出模式）", "hospital stays nobody flags (no away mode)"),
    "visitors": ("vis", Habits(visits_per_month=(4.0, 8.0), day_out_per_month=(1.0, 2.5), weekly=WEEKLY),
                 "常有访客，偶随家人外出一整天", "visitors at home, whole days out with family"),
    "shared_meter": ("shm", Habits(co_user_nights=(0.3, 0.7), weekly=WEEKLY),
                     "一表两人（子女或租客部分夜晚同住）", "a second person on the meter some nights"),
}


@dataclass(frozen=True, slots=True)
class PopHousehold:
    """A household of a population: its code, meter and gateway (no personal data)."""

    id: str
    meter: str
    gateway: str

    @property
    def button(self) -> str:
        """The household's one-touch call button (the check-in's resident answer: its cancel key)."""
        return "cb" + self.meter[2:]


@dataclass(frozen=True, slots=True)
class Incident:
    """A labelled happening: an emergency (the resident's last use of water) or an absence (start, end)."""

    household: str
    kind: str  # emergency | absence
    start_ms: int
    end_ms: int | None
    note: str  # emergency: day | night; absence: outing | day_out | hospital


class Population:
    """One population's households, labels and meter traffic."""

    def __init__(self, name: str, households: int, days: int, seed: int = 1, start: dt.date = START) -> None:
        if name not in POPULATIONS:
            raise KeyError(f"unknown population {name!r}; populations are {', '.join(POPULATIONS)}")
        self.name, self.seed, self.days = name, seed, days
        prefix, self.habits, self.zh, self.en = POPULATIONS[name]
        self.zone = ZoneInfo(TIMEZONE)
        mids = [int(dt.datetime.combine(start + dt.timedelta(days=d), dt.time(0), self.zone).timestamp() * 1000)
                for d in range(days + 2)]
        self.start_ms, self.end_ms = mids[0], mids[days]
        self.households: list[PopHousehold] = []
        self.incidents: list[Incident] = []
        self._uses: list[list[Use]] = []
        self.whereabouts: dict[str, Whereabouts] = {}  # where each resident is when (check-in answers)
        emergencies = set(rng_for(seed, name, "emergencies").sample(range(households),
                                                                     max(1, round(households * EMERGENCY_SHARE))))
        for i in range(households):
            hid = f"{prefix}-{i + 1:04d}"
            hh = PopHousehold(hid, f"wm-{prefix}-{i + 1:04d}", f"gw-{prefix}-{i // HOUSEHOLDS_PER_GATEWAY + 1:02d}")
            rng = rng_for(seed, name, hid, "life")
            person = Person.draw(self.habits, rng)
            life = plan_life(person, rng, mids[:days + 2])
            visits = plan_visits(person, rng, mids[:days + 1], life)
            stop, when = self._emergency(life, rng_for(seed, name, hid, "emergency")) if i in emergencies \
                else (None, "")
            own = life.uses + visits
            absences = life.absences
            if stop is not None:
                own = [u for u in own if u[0] < stop]
                absences = [a for a in absences if a.start_ms < stop]
                last = max((u[1] for u in own), default=self.start_ms)
                self.incidents.append(Incident(hid, "emergency", last, self.end_ms, when))  # never again
            for a in absences:
                if a.start_ms < self.end_ms and a.end_ms > self.start_ms:
                    self.incidents.append(Incident(hid, "absence", a.start_ms, a.end_ms, a.what))
            self.households.append(hh)
            self.whereabouts[hid] = Whereabouts(life.wakes, life.beds, [(a.start_ms, a.end_ms, a.what)
                                                                        for a in absences], stop)
            self._uses.append(sorted(own + life.co_uses))
        self.incidents.sort(key=lambda x: (x.start_ms, x.household))

    def _emergency(self, life: Life, rng) -> tuple[int, str]:
        """When the resident's uses stop: a time of day, or just after a night-time toilet visit."""
        days = self.days
        d = rng.randint(1, max(1, days - 2))
        night = [t for t in life.night_uses if life.beds[d] <= t < life.wakes[d + 1]]
        if rng.random() < 0.3 and night:
            return rng.choice(night) + 2 * MINUTE_MS, "night"
        t = int(rng.uniform(life.wakes[d] + HOUR_MS, max(life.wakes[d] + HOUR_MS, life.beds[d] - HOUR_MS)))
        for a in life.absences:
            if a.start_ms <= t < a.end_ms:
                t = a.end_ms + 20 * MINUTE_MS  # back home, then it happens
        return t, "day"

    def button_messages(self) -> Iterator[Message]:
        """Every call button's daily heartbeat (status, battery) in time order: a button that never spoke would go
        silent for the health rule. Presses are not simulated here; check-in answers come from answers.py."""
        def one(k: int) -> Iterator[tuple[int, int, Message]]:
            hh = self.households[k]
            rng = rng_for(self.seed, self.name, hh.id, "button")
            t, volts = self.start_ms + rng.randrange(DAY_MS), rng.uniform(2.95, 3.05)
            for seq in range(1, self.days + 2):
                if t >= self.end_ms:
                    break
                yield t, k, Message(hh.gateway, hh.button, Channel.STATUS, Kind.CALL_BUTTON, t, seq,
                                    {"battery_v": round(volts - 0.0005 * seq, 3), "heartbeat": True})
                t += DAY_MS + rng.randint(-600_000, 600_000)

        for _, _, msg in heapq.merge(*(one(k) for k in range(len(self.households)))):
            yield msg

    def meter_readings(self, k: int) -> Iterator[tuple[int, float, float]]:
        """(ts, register litres, flow L/min) of household k's meter every 10 minutes."""
        rng = rng_for(self.seed, self.name, self.households[k].id, "meter")
        t = self.start_ms + rng.randrange(INTERVAL_MS)
        done = float(rng.randint(1_000, 90_000))
        uses = self._uses[k]
        i, active = 0, []
        while t < self.end_ms:
            while i < len(uses) and uses[i][0] <= t:
                active.append(uses[i])
                i += 1
            partial = flow = 0.0
            keep = []
            for s, e, litres in active:
                if e <= t:
                    done += litres
                else:
                    partial += litres * (t - s) / (e - s)
                    flow += litres / (e - s) * MINUTE_MS
                    keep.append((s, e, litres))
            active = keep
            register = int((done + partial) / RESOLUTION_L + 1e-9) * RESOLUTION_L
            yield t, float(register), round(flow, 2)
            t += INTERVAL_MS

    def messages(self) -> Iterator[Message]:
        """Every meter's readings as contract messages, in time order."""
        def one(k: int) -> Iterator[tuple[int, int, Message]]:
            hh = self.households[k]
            for seq, (ts, total, flow) in enumerate(self.meter_readings(k), 1):
                yield ts, k, Message(hh.gateway, hh.meter, Channel.READING, Kind.WATER_METER, ts, seq,
                                     {"total_l": total, "flow_lpm": flow})

        for _, _, msg in heapq.merge(*(one(k) for k in range(len(self.households)))):
            yield msg
