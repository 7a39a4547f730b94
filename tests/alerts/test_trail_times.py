"""The alert's trail tells each event's own time: the opening at the alert's opened_at (what the card and the detail
show as 开始), a merged press and a severity raise at their events' times, escalations and notifications when the
engine did them; on SQLite and PostgreSQL."""

from __future__ import annotations

from alerts.store import AlertStore, DeliveryRecord
from alerts.types import Raise, Rule, Severity
from storage.sql import Database

T0 = 1_800_000_000_000
LAG = 17_000  # the engine heard of the press 17 s after it happened (the issue saw 19:01:25 vs 19:01:42)


def test_the_trail_shows_each_events_own_time(db: Database) -> None:
    st = AlertStore(db)
    press = Raise(Rule.CALL_BUTTON, "hh-1", Severity.CRITICAL, "hh-1", "p1", "call_button hh-1 reason=press",
                  {"reason": "press"}, T0)
    opened = st.raise_alert(press, grid="gr-1", now=T0 + LAG, next_escalation_at=T0 + LAG + 300_000)
    assert opened is not None and opened.alert.opened_at == T0
    st.record_deliveries(opened.alert.id, T0 + LAG + 200, [DeliveryRecord("c-gw1", "grid_worker", 1, "zh", "sent",
                                                                          "t", "b", "opened", 0)])
    again = Raise(Rule.CALL_BUTTON, "hh-1", Severity.CRITICAL, "hh-1", "p2", "call_button hh-1 reason=press",
                  {"reason": "press"}, T0 + 90_000)
    assert st.raise_alert(again, grid="gr-1", now=T0 + 90_000 + LAG, next_escalation_at=None).action == "merged"
    st.record_escalation(opened.alert.id, 1, None, T0 + LAG + 300_000, "step 1: community_duty")
    at = {e["action"]: e["at"] for e in st.events(opened.alert.id)}
    assert at["opened"] == T0 == st.get(opened.alert.id).opened_at  # the press's time, as on the card
    assert at["notified"] == T0 + LAG + 200  # when the notifier recorded it
    assert at["merged"] == T0 + 90_000  # the second press's own time
    assert at["escalated"] == T0 + LAG + 300_000  # when the step was taken
    times = [e["at"] for e in st.events(opened.alert.id)]
    assert times[0] == min(times)  # nothing in the trail happened before the opening


def test_a_raise_at_its_events_time_and_never_before_the_opening(db: Database) -> None:
    st = AlertStore(db)
    base = Raise(Rule.RIVER_LEVEL, "rs-1", Severity.MAJOR, "rs-1", "e1", "river_level rs-1", {}, T0)
    a = st.raise_alert(base, grid="", now=T0 + LAG, next_escalation_at=None)
    up = Raise(Rule.RIVER_LEVEL, "rs-1", Severity.CRITICAL, "rs-1", "e1", "river_level rs-1", {}, T0 + 60_000)
    assert st.raise_alert(up, grid="", now=T0 + 60_000 + LAG, next_escalation_at=None).action == "upgraded"
    late = Raise(Rule.RIVER_LEVEL, "rs-1", Severity.CRITICAL, "rs-1", "e2", "river_level rs-1", {}, T0 - 5_000)
    assert st.raise_alert(late, grid="", now=T0 + 70_000, next_escalation_at=None).action == "merged"
    trail = st.events(a.alert.id)
    assert [(e["action"], e["at"]) for e in trail] == [("opened", T0), ("upgraded", T0 + 60_000), ("merged", T0)]


def test_a_device_clock_ahead_opens_at_the_engines_now(db: Database) -> None:
    st = AlertStore(db)
    ahead = Raise(Rule.CALL_BUTTON, "hh-2", Severity.CRITICAL, "hh-2", "p1", "call_button hh-2", {}, T0 + 30_000)
    a = st.raise_alert(ahead, grid="", now=T0, next_escalation_at=None)
    assert a.alert.opened_at == T0 and st.events(a.alert.id)[0]["at"] == T0
