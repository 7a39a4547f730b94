"""Water inactivity (cold start, sleep, away, learned routine) and continuous flow, by scripted clock."""

from __future__ import annotations

import datetime as dt

import numpy as np

from alerts.types import AlertState, Rule, Severity
from notify.texts import alert_sentence, duration_text
from storage.sql import Database
from tests.alerts.conftest import SAMPLE_CSV
from tests.alerts.rig import MONDAY_8AM, Rig, local_ms


class Meter:
    def __init__(self, rig: Rig, device: str = "wm-0001") -> None:
        self.rig, self.device, self.total = rig, device, 1000.0

    def use(self, litres: float = 5.0) -> list:
        self.total += litres
        return self.rig.send(self.device, {"total_l": self.total})


def inactivity(rig: Rig, subject: str = "hh-0001") -> list:
    return [a for a in rig.alerts(Rule.WATER_INACTIVITY) if a.subject == subject]


def test_cold_start_daytime_window(sqlite_db: Database) -> None:
    rig = Rig(sqlite_db)
    m = Meter(rig)
    m.use()  # Monday 08:00
    rig.advance(7 * 3600 - 60)
    assert inactivity(rig) == []
    rig.advance(120)
    [a] = inactivity(rig)
    assert a.severity is Severity.MAJOR and a.opened_at - MONDAY_8AM <= 7 * 3600_000 + 60_000
    assert a.details["reason"] == "window"
    # daytime, a family contact: the family is asked first (check-in), the grid worker pushed when nobody answers
    assert {d.role for d in rig.store.deliveries(a.id)} == {"family"}
    rig.advance(3600)
    assert {d.role for d in rig.store.deliveries(a.id)} >= {"grid_worker", "family"}
    assert len(inactivity(rig)) == 1  # one episode, one alert
    m.use()
    assert rig.store.get(a.id).state is AlertState.RESOLVED


def test_sleep_hours_do_not_count(sqlite_db: Database) -> None:
    rig = Rig(sqlite_db, start=local_ms(2026, 11, 2, 21, 0))
    m = Meter(rig)
    m.use()  # 21:00, then bed at 22:00 (sleep 22:00-06:30), window 7 h: 1 h before sleep + 6 h after
    rig.advance((local_ms(2026, 11, 3, 12, 29) - rig.now) / 1000)
    assert inactivity(rig) == []
    rig.advance(120)
    [a] = inactivity(rig)
    assert local_ms(2026, 11, 3, 12, 30) <= a.opened_at <= local_ms(2026, 11, 3, 12, 31)


def test_normal_days_never_alarm(sqlite_db: Database) -> None:
    day0 = local_ms(2026, 11, 2, 0)
    rig = Rig(sqlite_db, start=day0 + 6 * 3600_000)
    m, m2 = Meter(rig), Meter(rig, "wm-0002")
    for d in range(3):
        for hour in (7, 12, 18, 21.5):  # longest awake gap 6 h, the night mostly asleep
            rig.advance((day0 + d * 86_400_000 + int(hour * 3600_000) - rig.now) / 1000, step_s=600)
            m.use()
            m2.use()
    rig.advance((day0 + 3 * 86_400_000 + 6 * 3600_000 - rig.now) / 1000, step_s=600)
    assert inactivity(rig) == [] and inactivity(rig, "hh-0002") == []


def test_away_mode_suppresses_until_it_ends(sqlite_db: Database) -> None:
    away = SAMPLE_CSV.replace("household,hh-0001,bd-01,Room 301,solitary_elderly,22:00-06:30,7,,",
                              "household,hh-0001,bd-01,Room 301,solitary_elderly,22:00-06:30,7,2026-11-03,")
    assert away != SAMPLE_CSV
    rig = Rig(sqlite_db, csv=away)
    Meter(rig).use()
    rig.advance((local_ms(2026, 11, 4, 13, 29) - rig.now) / 1000, step_s=300)
    assert inactivity(rig) == []  # away Monday and Tuesday; Wednesday counts from 00:00, sleep until 06:30
    rig.advance(15 * 60, step_s=60)
    [a] = inactivity(rig)
    assert local_ms(2026, 11, 4, 13, 30) <= a.opened_at <= local_ms(2026, 11, 4, 13, 32)


def test_hard_cap_when_sleep_hours_are_absurd(sqlite_db: Database) -> None:
    csv = SAMPLE_CSV.replace("solitary_elderly,22:00-06:30,7", "solitary_elderly,08:00-07:59,7")
    rig = Rig(sqlite_db, csv=csv, inactivity_hard_cap_h=16)
    Meter(rig).use()
    rig.advance(16 * 3600 + 120, step_s=300)
    [a] = inactivity(rig)
    assert a.details["reason"] == "cap"


def test_continuous_flow_two_hours(sqlite_db: Database) -> None:
    rig = Rig(sqlite_db, flow_continuous_h=2)
    m = Meter(rig)
    m.use()
    for _ in range(119):
        rig.advance(60)
        m.use(4.0)
    assert rig.alerts(Rule.WATER_FLOW) == []
    rig.advance(60)
    m.use(4.0)
    [a] = rig.alerts(Rule.WATER_FLOW)
    assert a.severity is Severity.MAJOR and a.subject == "hh-0001"
    rig.advance(60)
    m.use(0.0)
    assert rig.store.get(a.id).state is AlertState.RESOLVED


def test_learned_routine_tightens_to_the_floor_without_false_alarms(sqlite_db: Database) -> None:
    """Two weeks of use every 50-80 min while awake: the household's own silences are short, so what is learned
    tightens its limit from the 7 h window to the 6 h floor staff set - never below."""
    rng = np.random.default_rng(7)
    start = local_ms(2026, 11, 2, 0)
    rig = Rig(sqlite_db, start=start, routine_min_days=5)
    m, m2 = Meter(rig), Meter(rig, "wm-0002")
    day = 86_400_000
    for d in range(14):  # two weeks: use about every 50-80 min from 07:00 to 21:00
        t = start + d * day + 7 * 3600_000
        while t < start + d * day + 21 * 3600_000:
            rig.advance((t - rig.now) / 1000, step_s=600)
            m.use()
            m2.use()
            t += int(rng.uniform(50, 80) * 60_000)
        rig.advance((start + (d + 1) * day - rig.now) / 1000, step_s=600)
    assert inactivity(rig) == [] and inactivity(rig, "hh-0002") == []
    # Monday of week 3: last use at 09:00, then nothing (a fall)
    rig.advance(7 * 3600, step_s=600)
    m.use()
    m2.use()
    rig.advance(2 * 3600, step_s=600)
    m.use()
    fall = rig.now
    rig.advance(6 * 3600 - 120, step_s=60)
    assert inactivity(rig) == []  # not before the floor
    rig.advance(7 * 3600, step_s=60)
    [a] = inactivity(rig)
    assert a.details["reason"] == "learned"
    assert 6 * 3600_000 <= a.opened_at - fall <= 6 * 3600_000 + 120_000  # an hour inside the 7 h window
    # the facts say what was learned: the household's limit, at the floor; the gap that raised it is just over
    thr, hours = a.details["threshold_h"], a.details["hours"]
    assert thr == 6.0 and 6 <= hours < 6.1 and a.details["window_h"] == 7
    assert alert_sentence(a, "zh") == (f"已 {duration_text(hours * 60, 'zh')}无用水，超过这户平时的最长间隔"
                                       f"（醒着的时间里通常不超过 {duration_text(thr * 60, 'zh')}）")


def test_away_switched_off_on_return_restarts_the_clock(sqlite_db: Database) -> None:
    from registry.model import set_away

    rig = Rig(sqlite_db)
    Meter(rig).use()  # Monday 08:00, then the resident leaves
    set_away(sqlite_db, "hh-0001", dt.date(2026, 11, 5))
    rig.engine.reload_registry()
    rig.advance((local_ms(2026, 11, 3, 17, 0) - rig.now) / 1000, step_s=600)  # back early on Tuesday 17:00
    set_away(sqlite_db, "hh-0001", None)
    rig.engine.reload_registry()
    rig.advance(3600)
    assert inactivity(rig) == []  # not 33 h since the last use: the clock restarted at 17:00
    # 17:00 + 5 h awake until bed at 22:00, then 2 h after 06:30 -> 08:30 Wednesday
    rig.advance((local_ms(2026, 11, 4, 8, 29) - rig.now) / 1000, step_s=300)
    assert inactivity(rig) == []
    rig.advance(240)
    assert len(inactivity(rig)) == 1
