"""An inactivity alert people close while the silence goes on must not silence the household: the family says
"她/他没事" (she is at her daughter's, in hospital), she comes back and falls before using water - the engine raises
again, as a new episode, a limit after the close (alerts/engine.py Engine._rearm, WaterRule.rearm)."""

from __future__ import annotations

from alerts.actions import Actor, AlertActions
from alerts.types import AlertState, Rule
from storage.sql import Database
from tests.alerts.rig import Rig

HOUR_S = 3600
FAMILY = Actor("c-fam1", "ack_link", "contact", "192.0.2.9")


def mine(rig: Rig) -> list:
    """hh-0001's inactivity alerts (the sample registry's other households are silent from the start too)."""
    return [a for a in rig.alerts(Rule.WATER_INACTIVITY) if a.subject == "hh-0001"]


def silent_household(db: Database) -> Rig:
    """hh-0001 (window 7 h, sleep 22:00-06:30) uses water at 08:00 on Monday and then never again."""
    rig = Rig(db)
    rig.send("wm-0001", {"total_l": 100.0})
    rig.advance(60)
    rig.send("wm-0001", {"total_l": 103.0})  # the use, dated 08:00
    return rig


def test_a_silence_that_goes_on_after_the_family_said_fine_is_raised_again(sqlite_db: Database) -> None:
    rig = silent_household(sqlite_db)
    rig.advance(7.5 * HOUR_S)  # 15:30: over the 7 h window
    [first] = mine(rig)
    assert first.state is AlertState.OPEN
    AlertActions(rig.store, rig.clock).checkin_ok(first.id, FAMILY)  # the family's one-tap "她/他没事"
    closed_at = rig.now
    assert rig.store.get(first.id).state is AlertState.CLOSED
    # the same silence goes on: 6 awake hours after the close (15:30-21:30) nothing yet ...
    rig.advance(6 * HOUR_S)
    assert [a.id for a in mine(rig)] == [first.id]
    # ... and by the next morning (7 awake hours after the close, counting no sleep hours) it is raised again
    rig.advance(11 * HOUR_S)
    alerts = mine(rig)
    assert len(alerts) == 2, [(a.id, a.state, a.episode) for a in alerts]
    again = alerts[1]
    assert again.state is AlertState.OPEN and again.episode != first.episode
    assert again.opened_at >= closed_at + 7 * 3_600_000


def test_an_open_alert_is_not_raised_twice_for_one_silence(sqlite_db: Database) -> None:
    """Nobody closed it: the silence stays one alert however long it lasts (the cap, days on)."""
    rig = silent_household(sqlite_db)
    rig.advance(40 * HOUR_S, step_s=300)
    assert len(mine(rig)) == 1


def test_a_use_after_the_close_starts_an_ordinary_silence(sqlite_db: Database) -> None:
    """Closed, then water is used: no second alert for the old silence, and the new one is judged afresh."""
    rig = silent_household(sqlite_db)
    rig.advance(7.5 * HOUR_S)
    [first] = mine(rig)
    AlertActions(rig.store, rig.clock).checkin_ok(first.id, FAMILY)
    rig.advance(600)
    rig.send("wm-0001", {"total_l": 106.0})
    rig.advance(3 * HOUR_S)
    assert [a.id for a in mine(rig)] == [first.id]
