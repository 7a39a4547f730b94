"""The check-in step (alerts/checkin.py) on a real SQLite store: who is told when, each answer, the counts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from zoneinfo import ZoneInfo

import pytest

from alerts.actions import Actor, AlertActions
from alerts.checkin import CheckinConfig, is_night
from alerts.lifecycle import LifecycleError
from alerts.manager import AlertManager
from alerts.notifier import MemoryNotifier
from alerts.settings import AlertsConfig
from alerts.store import AlertStore
from alerts.types import AlertState, Cancel, CheckIn, Clear, Outcome, Raise, Rule, Severity
from ground.clock import ManualClock
from registry.csvio import import_rows
from registry.model import load_snapshot
from storage.sql import Database
from tests.alerts.conftest import SAMPLE_CSV

TZ = ZoneInfo("Asia/Shanghai")
MIN = 60_000
DAY = int(dt.datetime(2026, 3, 2, 10, 0, tzinfo=TZ).timestamp() * 1000)  # a Monday morning
NIGHT = int(dt.datetime(2026, 3, 2, 23, 30, tzinfo=TZ).timestamp() * 1000)
FAMILY = Actor("c-fam1", "ack_link", "contact", "192.0.2.9")


class Rig:
    def __init__(self, db: Database, at: int, **checkin: object) -> None:
        assert import_rows(db, SAMPLE_CSV).errors == []
        self.cfg = AlertsConfig(checkin=CheckinConfig(**checkin))
        self.reg = load_snapshot(db)
        self.store = AlertStore(db)
        self.clock = ManualClock(at)
        self.notifier = MemoryNotifier()
        self.manager = AlertManager(self.store, lambda: self.reg, self.notifier, self.cfg)
        self.actions = AlertActions(self.store, self.clock)

    def now(self) -> int:
        return self.clock.now_ms()

    def inactivity(self, household: str = "hh-0001") -> int:
        [ch] = self.manager.apply([Raise.of(Rule.WATER_INACTIVITY, household, Severity.MAJOR, household,
                                            f"since-{self.now()}", self.now() - 7 * 60 * MIN, reason="window",
                                            hours=7.0, window_h=7)], self.now())
        return ch.alert.id

    def told(self) -> list[tuple[str, list[str]]]:
        """(event, recipients' codes) of each notification so far, and forget them."""
        out = [(n.event, sorted(c.code for c in n.recipients)) for n in self.notifier.sent]
        self.notifier.sent.clear()
        return out

    def tick_to(self, at: int) -> list[str]:
        self.clock.set(at)
        return [c.action for c in self.manager.tick(at)]


@pytest.fixture
def day(sqlite_db: Database) -> Iterator[Rig]:
    yield Rig(sqlite_db, DAY)


def test_by_day_the_family_is_asked_and_staff_are_pushed_only_when_nobody_answers(day: Rig) -> None:
    aid = day.inactivity()
    a = day.store.get(aid)
    assert a.state is AlertState.OPEN and a.checkin is CheckIn.ASKING and a.staff_pushed_at is None
    assert a.next_escalation_at == DAY + 30 * MIN
    assert day.told() == [("checkin", ["c-fam1"])]  # the family only: the grid worker sees it on the board
    assert day.tick_to(DAY + 30 * MIN - 1) == []
    assert day.told() == []
    assert day.tick_to(DAY + 30 * MIN) == ["staff_pushed"]
    assert day.told() == [("checkin_no_answer", ["c-gw1"])]
    a = day.store.get(aid)
    assert a.checkin is CheckIn.NO_ANSWER and a.staff_pushed_at == DAY + 30 * MIN and a.state is AlertState.OPEN
    # the ladder goes on from the push: the community duty officer 15 min later (major)
    assert a.next_escalation_at == DAY + 45 * MIN
    assert day.tick_to(DAY + 45 * MIN) == ["escalated"] and day.told() == [("escalated", ["c-cm"])]
    assert [e["action"] for e in day.store.events(aid)] == ["opened", "staff_pushed", "escalated"]


def test_family_says_fine_closes_as_no_emergency_and_nobody_is_pushed(day: Rig) -> None:
    aid = day.inactivity()
    day.told()
    day.clock.advance(600)
    ch = day.actions.checkin_ok(aid, FAMILY)
    a = ch.alert
    assert a.state is AlertState.CLOSED and a.outcome is Outcome.NO_EMERGENCY and a.checkin is CheckIn.OK_FAMILY
    assert a.checkin_at == DAY + 10 * MIN and a.resolved_at is None and a.staff_pushed_at is None
    assert day.store.events(aid)[-1] | {"at": 0} == {"at": 0, "action": "checkin_ok", "actor": "c-fam1",
                                                     "channel": "ack_link", "from": "open", "to": "closed", "note": ""}
    assert day.tick_to(DAY + 2 * 60 * MIN) == [] and day.told() == []
    with pytest.raises(LifecycleError):  # answered once: the other link has nothing left to do
        day.actions.checkin_unreachable(aid, FAMILY)


def test_family_cannot_reach_her_pushes_staff_on_the_next_look(day: Rig) -> None:
    aid = day.inactivity()
    day.told()
    day.clock.advance(300)
    ch = day.actions.checkin_unreachable(aid, FAMILY)
    assert ch.alert.checkin is CheckIn.UNREACHABLE and ch.alert.next_escalation_at == DAY + 5 * MIN
    # the engine asks the store every few seconds for what another process made due
    assert day.tick_to(DAY + 5 * MIN + 5_000) == ["staff_pushed"]
    assert day.told() == [("checkin_unreachable", ["c-gw1"])]
    a = day.store.get(aid)
    assert a.staff_pushed_at == DAY + 5 * MIN + 5_000 and a.next_escalation_at == a.staff_pushed_at + 15 * MIN
    assert day.tick_to(DAY + 10 * MIN) == [] and day.told() == []  # once


def test_the_residents_cancel_key_answers_and_tells_whom_was_told(day: Rig) -> None:
    aid = day.inactivity()
    day.told()
    day.clock.advance(120)
    changes = day.manager.apply([Cancel(Rule.CALL_BUTTON, "hh-0001", 120, day.now())], day.now())
    assert [c.action for c in changes] == ["checkin_ok"]
    a = day.store.get(aid)
    assert a.state is AlertState.CLOSED and a.outcome is Outcome.NO_EMERGENCY and a.checkin is CheckIn.OK_RESIDENT
    assert day.store.events(aid)[-1]["actor"] == "resident" and day.store.events(aid)[-1]["channel"] == "device"
    assert day.told() == [("checkin_ok", ["c-fam1"])]  # staff were never pushed: not told either
    # a cancel with nothing pending changes nothing
    assert day.manager.apply([Cancel(Rule.CALL_BUTTON, "hh-0001", 120, day.now())], day.now()) == []


def test_water_used_while_asking_clears_it_and_tells_the_family_only(day: Rig) -> None:
    aid = day.inactivity()
    day.told()
    day.clock.advance(900)
    day.manager.apply([Clear(Rule.WATER_INACTIVITY, "hh-0001", "water_used", day.now())], day.now())
    a = day.store.get(aid)
    assert a.outcome is Outcome.AUTO_CLEARED and a.checkin is CheckIn.WATER_USED and a.staff_pushed_at is None
    assert day.told() == [("auto_cleared", ["c-fam1"])]


def test_at_night_staff_are_pushed_at_once_and_a_later_unreachable_pushes_them_again(sqlite_db: Database) -> None:
    rig = Rig(sqlite_db, NIGHT)
    aid = rig.inactivity()
    a = rig.store.get(aid)
    assert a.checkin is CheckIn.NIGHT and a.staff_pushed_at == NIGHT
    assert rig.told() == [("checkin", ["c-fam1"]), ("opened", ["c-gw1"])]
    rig.clock.advance(600)
    rig.actions.checkin_unreachable(aid, FAMILY)
    assert rig.tick_to(NIGHT + 10 * MIN + 5_000) == ["staff_pushed"]
    assert rig.told() == [("checkin_unreachable", ["c-gw1"])]
    # the ladder still counts from the first push: community duty at +15 min
    assert rig.store.get(aid).next_escalation_at == NIGHT + 15 * MIN


def test_no_family_to_ask_means_staff_at_once_and_off_means_no_check_in(sqlite_db: Database) -> None:
    rig = Rig(sqlite_db, DAY)
    aid = rig.inactivity("hh-0002")  # the sample registry has no family for hh-0002
    assert rig.store.get(aid).checkin is CheckIn.NO_FAMILY
    assert rig.told() == [("opened", ["c-gw1"])]
    off = Rig.__new__(Rig)
    off.__dict__.update(rig.__dict__)
    off.cfg = AlertsConfig(checkin=CheckinConfig(enabled=False))
    off.manager = AlertManager(rig.store, lambda: rig.reg, rig.notifier, off.cfg)
    bid = off.inactivity("hh-0001")
    b = rig.store.get(bid)
    assert b.checkin is None and b.staff_pushed_at == DAY
    assert rig.told() == [("opened", ["c-fam1", "c-gw1"])]
    with pytest.raises(LifecycleError):
        rig.actions.checkin_ok(bid, FAMILY)


def test_a_call_button_press_never_waits_for_a_check_in(day: Rig) -> None:
    [ch] = day.manager.apply([Raise.of(Rule.CALL_BUTTON, "hh-0001", Severity.CRITICAL, "hh-0001", "p1", day.now(),
                                       reason="press")], day.now())
    assert ch.alert.checkin is None and day.told() == [("opened", ["c-fam1", "c-gw1"])]


def test_checkin_stats_count_check_ins_apart_from_staff_dispatches(day: Rig) -> None:
    fine = day.inactivity()
    day.actions.checkin_ok(fine, FAMILY)
    day.clock.advance(3600)
    day.inactivity()  # left unanswered
    day.tick_to(day.now() + 30 * MIN)
    day.inactivity("hh-0002")  # nobody to ask
    st = day.store.checkin_stats()
    assert (st.alerts, st.asked, st.answered_fine, st.staff_pushed, st.pending) == (3, 2, 1, 2, 0)
    assert st.by_state == {"no_answer": 1, "no_family": 1, "ok_family": 1}
    assert day.store.checkin_stats(since=day.now() + 1).alerts == 0


def test_night_is_local_time_and_wraps_midnight() -> None:
    cfg = CheckinConfig()
    def at(h: int, m: int) -> int:
        return int(dt.datetime(2026, 3, 2, h, m, tzinfo=TZ).timestamp() * 1000)

    assert [is_night(cfg, TZ, at(h, m)) for h, m in ((21, 59), (22, 0), (3, 0), (6, 59), (7, 0), (12, 0))] == \
        [False, True, True, True, False, False]
    assert not is_night(CheckinConfig(night=""), TZ, at(3, 0))
    with pytest.raises(ValueError):
        CheckinConfig(night="22h-7h")


def test_alerts_stats_prints_check_ins_apart_from_staff_dispatches(tmp_path) -> None:  # noqa: ANN001
    """`shouwang alerts stats` as a user types it, over alerts made by the step on the store it reads."""
    import time

    from shouwang.config import load_config
    from tests.alerts.test_cli import run
    from tests.conftest import write_config

    cfg_file = write_config(tmp_path / "c.toml", tmp_path / "state", influx={"port": 9})
    with Database.from_config(load_config(cfg_file, env={})) as db:
        rig = Rig(db, int(time.time() * 1000) - 3_600_000, night="")
        rig.actions.checkin_ok(rig.inactivity(), FAMILY)  # answered: a check-in, no dispatch
        rig.clock.advance(60)
        rig.inactivity()
        rig.tick_to(rig.now() + 30 * MIN)  # nobody answered: a check-in and a staff dispatch
        rig.inactivity("hh-0002")  # nobody to ask: a staff dispatch without a check-in
    r = run(cfg_file, "alerts", "stats", "--days", "30")
    assert r.returncode == 0, r.stderr
    # two watched households (flagged, metered) for 30 days: 2 household-months
    assert ("check-in step (water_inactivity), 2 watched households: 3 alerts, 2 check-ins (1.000 per "
            "household-month), 1 answered fine, 2 staff dispatches (1.000 per household-month), 0 still asking"
            ) in r.stdout, r.stdout
    assert "how they stand: no_answer 1, no_family 1, ok_family 1" in r.stdout
