"""What the inactivity rule learns about a household: it tightens and relaxes the limit only within the bounds
staff set, learns a recurring outing for its weekday and hour only, counts sleep hours after an evening with no use in a
household that always uses water before bed, and never learns from a silence that may be an emergency."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from alerts.rules.base import RuleContext
from alerts.rules.water import WaterRule
from alerts.settings import AlertsConfig
from alerts.types import Raise, Rule
from registry.model import DeviceInfo, HouseholdInfo, NodeInfo, RegistrySnapshot
from registry.types import Level
from wire.models import Channel, Kind, Message

ZONE = ZoneInfo("Asia/Shanghai")
HOUR = 3_600_000
MONDAY = int(dt.datetime(2026, 11, 2, tzinfo=ZONE).timestamp() * 1000)


class Home:
    """One flagged household (sleep 22:00-06:30, window 7 h), a 1-minute meter, the rule ticked every 5 min."""

    def __init__(self, max_window_h: float | None = None, **cfg) -> None:
        nodes = {"hh-1": NodeInfo("hh-1", Level.HOUSEHOLD, None, "")}
        households = {"hh-1": HouseholdInfo("hh-1", frozenset({"solitary_elderly"}), (22 * 60, 6 * 60 + 30), 7.0,
                                            None, max_window_h=max_window_h)}
        devices = {"wm-1": DeviceInfo("wm-1", "gw-1", "water_meter", "hh-1", 60, 1.0)}
        snap = RegistrySnapshot(1, nodes, households, {}, {}, devices, {})
        self.rule = WaterRule(RuleContext.create(AlertsConfig(timezone="Asia/Shanghai", **cfg), lambda: snap), MONDAY)
        self.now, self.total, self.seq = MONDAY, 100.0, 0
        self.alarms: list[Raise] = []

    def until(self, t: int) -> None:
        while self.now + 300_000 <= t:
            self.now += 300_000
            self.alarms += [a for a in self.rule.tick(self.now) if isinstance(a, Raise)
                            and a.rule is Rule.WATER_INACTIVITY]

    def use(self, t: int) -> None:
        """Water used at t: the register advances at t and again a minute later (the use is dated at t)."""
        self.until(t)
        for ts, litres in ((t, 0.0), (t + 60_000, 3.0)):
            self.total += litres
            self.seq += 1
            self.rule.on_message(Message("gw-1", "wm-1", Channel.READING, Kind.WATER_METER, ts, self.seq,
                                         {"total_l": self.total}), ts)

    def day(self, d: int, hours: list[float]) -> None:
        for h in hours:
            self.use(MONDAY + d * 24 * HOUR + int(h * HOUR))

    def alarms_on(self, d: int) -> list[Raise]:
        lo = MONDAY + d * 24 * HOUR
        return [a for a in self.alarms if lo <= a.at_ms < lo + 24 * HOUR]


HOURLY = [6.7 + k for k in range(15)]  # 06:42 to 20:42, every hour
OUT_TUESDAY = [h for h in HOURLY if not 8.0 < h < 16.0]  # 07:42, then nothing until 16:42: 9 h awake


def test_learning_relaxes_only_up_to_the_maximum_staff_approved() -> None:
    """The same 9 h silence every day: the window alarms on it while nothing is learned; once learned, it relaxes
    to the 10 h maximum staff approved (for the household in the registry, or for all in the settings) and stops -
    with no approved maximum the limit stays at the window."""
    for approved, quiet_after in (({"max_window_h": 10.0}, True), ({"inactivity_max_h": 10.0}, True),
                                  ({}, False)):
        home = Home(routine_min_days=5, **approved)
        for d in range(14):
            home.day(d, OUT_TUESDAY)
        assert home.alarms_on(0) and home.alarms_on(0)[0].details["reason"] == "window"  # cold start: 7 h
        late = [a for d in range(9, 14) for a in home.alarms_on(d)]
        assert (late == []) is quiet_after, (approved, late)
        if not quiet_after:
            assert {a.details["reason"] for a in late} == {"learned"}
            assert all(a.details["threshold_h"] == 7.0 for a in late)  # never above the window


def test_a_recurring_outing_relaxes_its_weekday_only() -> None:
    """Out 08:00-16:00 every Tuesday for three weeks, otherwise water every hour; approved maximum 10 h. In week
    four the Tuesday outing raises nothing; the same silence on a Thursday does."""
    home = Home(max_window_h=10.0, routine_min_days=5)
    for d in range(28):
        home.day(d, OUT_TUESDAY if d % 7 == 1 else HOURLY)
    assert home.alarms_on(22) == []  # Tuesday of week four
    home.day(28, HOURLY)
    home.day(29, HOURLY)
    home.day(30, HOURLY)
    home.day(31, OUT_TUESDAY)  # Friday of week five: the same silence on another weekday
    [a] = home.alarms_on(31)
    assert a.details["reason"] == "learned" and a.details["threshold_h"] < 7.0


def test_a_silence_is_learned_only_when_a_use_ends_it() -> None:
    """An alert not cleared by use (an emergency) feeds nothing: its days are not counted and its silence is
    not a sample. An alert cleared by use was a false alarm: that silence is learned."""
    home = Home(routine_min_days=5)
    for d in range(7):
        home.day(d, HOURLY)
    home.until(MONDAY + 7 * 24 * HOUR + 300_000)
    r = home.rule.routine
    days, over = int(r.days[0]), float(r.over[0])
    home.day(7, [6.7, 7.7])  # Monday: last use at 07:42, then nothing for two days
    home.until(MONDAY + 10 * 24 * HOUR)
    assert len(home.alarms_on(7)) == 1
    assert int(r.days[0]) == days and float(r.over[0]) <= over  # no day counted; old samples only fade
    home.day(10, HOURLY)  # found after 2 days: the silence is longer than the hard cap, not routine
    assert float(r.over[0]) <= over and int(r.days[0]) == days

    home = Home(routine_min_days=5)
    for d in range(7):
        home.day(d, HOURLY)
    before = float(home.rule.routine.over[0])
    home.day(7, [6.7, 7.7, 16.7, 17.7, 18.7])  # out 07:42-16:42: an alert, cleared by the use at 16:42
    assert len(home.alarms_on(7)) == 1
    assert float(home.rule.routine.over[0]) > before


def test_no_use_all_evening_counts_the_night() -> None:
    """Silent from 17:00 (5 h awake before the 22:00 bedtime): a household that uses water every evening before
    bed did not go to bed as usual - its sleep hours count and the alarm comes at 23:00 (its learned 6 h), not
    the next morning. The same silence in a household that never uses water after 17:00 is its ordinary night."""
    early = [7.0, 9.0, 11.0, 12.5, 14.0, 15.5, 17.0]
    home = Home(routine_min_days=5, routine_evening_min_days=5)
    for d in range(10):
        home.day(d, early + [18.5, 20.0, 21.5])
    home.day(10, early)
    home.until(MONDAY + 12 * 24 * HOUR)
    [a] = home.alarms_on(10)
    start = MONDAY + 10 * 24 * HOUR + 17 * HOUR
    assert a.details["reason"] == "learned" and start + 6 * HOUR <= a.at_ms <= start + 6 * HOUR + 600_000

    home = Home(routine_min_days=5)
    for d in range(11):
        home.day(d, early)
    home.until(MONDAY + 11 * 24 * HOUR + 7 * HOUR)
    assert home.alarms == []


def test_the_evening_is_trusted_only_after_two_months_without_a_silent_evening() -> None:
    """The evening rule costs a night-time false alarm for each silent evening of a household it trusts, so it
    trusts an evening habit only on the evidence its budget needs (defaults: 60 clean days, 98 % of evenings over
    about two months). The same silent evening after 30 days of evening use is found the next morning; after 61
    days it is found that night; a household with a silent evening every 12 days is never trusted."""
    early = [7.0, 9.0, 11.0, 12.5, 14.0, 15.5, 17.0]
    evening = early + [18.5, 20.0, 21.5]

    def night_alarm(days: int, silent_every: int | None = None) -> bool:
        home = Home()
        for d in range(days):
            home.day(d, early if silent_every and d % silent_every == silent_every - 1 else evening)
        home.alarms = []
        home.day(days, early)
        home.until(MONDAY + (days + 1) * 24 * HOUR + 6 * HOUR)  # to 06:00 the next morning: still in bed
        return any(a.details["reason"] == "learned" for a in home.alarms)

    assert not night_alarm(30)
    assert night_alarm(61)
    assert not night_alarm(61, silent_every=12)


OUT_TUESDAY_MORNING = [h for h in HOURLY if not 9.0 < h < 13.0]  # 08:42, then 13:42: out 09:00-13:00, 5 h silent
SILENT_AFTERNOON = [h for h in HOURLY if not 15.0 < h < 19.0]  # 14:42, then 19:42: the same 5 h, from 15:00


def weekly(home: Home, outing: list[float], until_day: int) -> None:
    """Water every hour, out on the Tuesdays of weeks two to four (days 8, 15, 22) as `outing` says."""
    for d in range(until_day):
        home.day(d, outing if d % 7 == 1 and d >= 8 else HOURLY)


def test_a_weekly_outing_is_learned_for_its_weekday_and_hour() -> None:
    """Out every Tuesday 09:00-13:00 from week two; staff set the floor to 3 h, so the hourly resident's own
    limit tightens below the outing's 5 h. On the fourth such Tuesday no alarm: the silence began in a learned
    slot (its own limit alone would have alarmed). A week later the same 5 h silence from 15:00 on a Tuesday
    does alarm: a learned slot is that weekday and hour, not the whole day."""
    home = Home(routine_min_days=5, routine_floor_h=3.0)
    weekly(home, OUT_TUESDAY_MORNING, 29)
    home.day(29, [6.7, 7.7, 8.7])  # the fourth Tuesday out: left at 09:00
    assert home.rule.routine.tail_limit_min(0.5)[0] < 5 * 60  # without the slot, 5 h silent would alarm
    assert home.rule.limit_ms[0] >= 5.5 * HOUR
    home.day(29, [h for h in OUT_TUESDAY_MORNING if h > 9.0])
    assert home.alarms_on(29) == []
    for d in range(30, 36):
        home.day(d, HOURLY)
    home.day(36, SILENT_AFTERNOON)
    [a] = home.alarms_on(36)
    assert a.details["reason"] == "learned" and a.details["threshold_h"] < 5.0


def test_a_learned_slot_never_relaxes_beyond_the_bound() -> None:
    """Out 07:42-16:42 (9 h) on three Tuesdays: the slot would relax the fourth to 1.1 x 9 h + 30 min, but the
    limit stays at the bound staff set - the window (7 h) when no maximum was approved, else the maximum."""
    for approved, bound_h in (({}, 7.0), ({"max_window_h": 8.0}, 8.0)):
        home = Home(routine_min_days=5, **approved)
        weekly(home, OUT_TUESDAY, 30)
        [a] = home.alarms_on(29)
        assert a.details["reason"] == "learned" and a.details["threshold_h"] == bound_h, (approved, a.details)
        last_use = MONDAY + 29 * 24 * HOUR + int(7.7 * HOUR)
        assert last_use + bound_h * HOUR <= a.at_ms <= last_use + bound_h * HOUR + 300_000


def test_an_emergency_on_a_learned_slot_day_is_caught_within_the_bound() -> None:
    """The fourth Tuesday the resident's last use is at 08:42, before the usual outing, and no use follows: the
    learned slot relaxes the limit (6 h here) but the alarm still comes within the window (7 h awake), and the
    silence is never learned (it never ended in a use)."""
    home = Home(routine_min_days=5, routine_floor_h=3.0)
    weekly(home, OUT_TUESDAY_MORNING, 29)
    home.day(29, [6.7, 7.7, 8.7])
    over, days = float(home.rule.routine.over[0]), int(home.rule.routine.days[0])
    home.until(MONDAY + 31 * 24 * HOUR)
    [a] = home.alarms_on(29)
    last_use = MONDAY + 29 * 24 * HOUR + int(8.7 * HOUR)
    assert a.details["reason"] == "learned" and 5.5 <= a.details["threshold_h"] <= 7.0
    assert a.at_ms <= last_use + 7 * HOUR + 300_000
    assert float(home.rule.routine.over[0]) <= over and int(home.rule.routine.days[0]) == days
