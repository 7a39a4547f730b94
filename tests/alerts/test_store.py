"""The alert store on SQLite and PostgreSQL: uniqueness, episodes, lifecycle, audit, timings."""

from __future__ import annotations

import threading

import pytest

from alerts.lifecycle import AlertNotFound, LifecycleError
from alerts.store import AlertFilter, AlertScope, AlertStore, DeliveryRecord
from alerts.types import AlertState, Outcome, Raise, Rule, Severity
from storage.sql import Database, current_revision, migrate

T0 = 1_800_000_000_000


def press(subject: str = "hh-0001", episode: str = "p1", sev: Severity = Severity.CRITICAL, at: int = T0) -> Raise:
    return Raise(Rule.CALL_BUTTON, subject, sev, subject, episode, "call button pressed", {"device": "btn-1"}, at)


def test_migrations_are_at_head_and_idempotent(db: Database) -> None:
    from alembic.script import ScriptDirectory

    from storage.sql import MIGRATIONS

    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    assert current_revision(db.engine) == head
    migrate(db.engine)
    assert current_revision(db.engine) == head


def test_one_active_alert_per_rule_and_subject(db: Database) -> None:
    st = AlertStore(db)
    first = st.raise_alert(press(episode="p1"), grid="gr-01", now=T0, next_escalation_at=T0 + 300_000)
    assert first is not None and first.action == "opened" and first.alert.state is AlertState.OPEN
    again = st.raise_alert(press(episode="p2", at=T0 + 5000), grid="gr-01", now=T0 + 5000, next_escalation_at=None)
    assert again is not None and again.action == "merged" and again.alert.id == first.alert.id
    assert again.alert.merged_count == 1 and again.alert.last_event_at == T0 + 5000
    assert st.raise_alert(press(episode="p2"), grid="gr-01", now=T0 + 6000, next_escalation_at=None) is None
    other = st.raise_alert(press("hh-0002"), grid="gr-01", now=T0, next_escalation_at=None)
    assert other is not None and other.alert.id != first.alert.id
    assert len(st.active()) == 2 and len(st.active(Rule.CALL_BUTTON)) == 2


def test_known_episode_is_never_raised_again(db: Database) -> None:
    st = AlertStore(db)
    r = Raise(Rule.WATER_INACTIVITY, "hh-1", Severity.MAJOR, "hh-1", "since-123", "no water use for 7.2 h")
    a = st.raise_alert(r, grid="", now=T0, next_escalation_at=None)
    st.resolve(a.alert.id, "c-gw1", "cli", T0 + 60_000, "visited, all well")
    assert st.raise_alert(r, grid="", now=T0 + 120_000, next_escalation_at=None) is None
    assert len(st.all()) == 1
    new = Raise(Rule.WATER_INACTIVITY, "hh-1", Severity.MAJOR, "hh-1", "since-999", "no water use for 7.0 h")
    assert st.raise_alert(new, grid="", now=T0 + 200_000, next_escalation_at=None).action == "opened"


def test_severity_upgrade_on_same_episode(db: Database) -> None:
    st = AlertStore(db)
    base = Raise(Rule.RIVER_LEVEL, "rs-01", Severity.MAJOR, "rs-01", "e1", "above warning level")
    st.raise_alert(base, grid="", now=T0, next_escalation_at=None)
    up = Raise(Rule.RIVER_LEVEL, "rs-01", Severity.CRITICAL, "rs-01", "e1", "above guaranteed level")
    ch = st.raise_alert(up, grid="", now=T0 + 1000, next_escalation_at=None)
    assert ch.action == "upgraded" and ch.alert.severity is Severity.CRITICAL
    assert st.raise_alert(base, grid="", now=T0 + 2000, next_escalation_at=None) is None


def test_full_lifecycle_with_audit_and_timings(db: Database) -> None:
    st = AlertStore(db)
    a = st.raise_alert(press(), grid="gr-01", now=T0, next_escalation_at=T0 + 300_000).alert
    st.acknowledge(a.id, "c-gw1", "wecom", T0 + 40_000)
    with pytest.raises(LifecycleError, match="acknowledged; it can go to"):
        st.acknowledge(a.id, "c-gw1", "wecom", T0 + 41_000)
    st.dispatch(a.id, "c-gw1", "c-cm", "console", T0 + 60_000)
    st.resolve(a.id, "c-gw1", "app", T0 + 600_000, "resident had fallen; ambulance called")
    with pytest.raises(LifecycleError, match="feedback"):
        st.close(a.id, "c-cm", "console", T0 + 700_000, "  ")
    with pytest.raises(LifecycleError, match="rating 9"):
        st.close(a.id, "c-cm", "console", T0 + 700_000, "ok", rating=9)
    done = st.close(a.id, "c-cm", "console", T0 + 700_000, "family thanked the team", rating=5).alert
    assert done.state is AlertState.CLOSED and done.outcome is Outcome.HANDLED and done.rating == 5
    assert done.time_to_acknowledge_s == 40 and done.time_to_resolve_s == 600
    assert done.dispatched_to == "c-gw1" and done.next_escalation_at is None
    trail = st.events(a.id)
    assert [(e["action"], e["actor"], e["channel"]) for e in trail] == [
        ("opened", "engine", "rules"), ("acknowledged", "c-gw1", "wecom"), ("dispatched", "c-cm", "console"),
        ("resolved", "c-gw1", "app"), ("closed", "c-cm", "console")]
    assert trail[1]["from"] == "open" and trail[1]["to"] == "acknowledged"
    with pytest.raises(LifecycleError, match="closed"):
        st.resolve(a.id, "x", "cli", T0 + 800_000)
    with pytest.raises(AlertNotFound):
        st.acknowledge(999_999, "x", "cli", T0)
    # the subject is free again: a new press opens a new alert
    again = st.raise_alert(press(episode="p9"), grid="gr-01", now=T0 + 900_000, next_escalation_at=None)
    assert again.action == "opened"
    stats = {s.rule: s for s in st.stats()}
    assert stats["call_button"].alerts == 2 and stats["call_button"].tta_median_s == 40
    assert stats["call_button"].ttr_p95_s == 600


def test_cancel_within_window_is_a_false_alarm(db: Database) -> None:
    st = AlertStore(db)
    st.raise_alert(press(), grid="", now=T0, next_escalation_at=T0 + 300_000)
    late = st.raise_alert(press("hh-2"), grid="", now=T0, next_escalation_at=None).alert
    ch = st.cancel(Rule.CALL_BUTTON, "hh-0001", 120, T0 + 30_000)
    assert ch.action == "false_alarm" and ch.alert.outcome is Outcome.FALSE_ALARM
    assert ch.alert.state is AlertState.CLOSED
    kept = st.cancel(Rule.CALL_BUTTON, "hh-2", 120, T0 + 500_000)
    assert kept.action == "cancel_late" and st.get(late.id).state is AlertState.OPEN
    assert st.cancel(Rule.CALL_BUTTON, "hh-unknown", 120, T0) is None
    assert [s.false_alarms for s in st.stats()] == [1]


def test_auto_clear_and_escalation_queries(db: Database) -> None:
    st = AlertStore(db)
    a = st.raise_alert(press(), grid="", now=T0, next_escalation_at=T0 + 300_000).alert
    assert st.due_escalations(T0 + 299_999) == []
    assert [x.id for x in st.due_escalations(T0 + 300_000)] == [a.id]
    st.record_escalation(a.id, 1, T0 + 900_000, T0 + 300_000, "step 1")
    assert st.due_escalations(T0 + 300_001) == []
    st.acknowledge(a.id, "c-cm", "sms", T0 + 400_000)
    assert st.due_escalations(T0 + 10**9) == []
    cleared = st.clear(Rule.CALL_BUTTON, "hh-0001", "condition cleared", T0 + 500_000)
    assert cleared.alert.state is AlertState.RESOLVED and cleared.alert.outcome is Outcome.AUTO_CLEARED
    assert st.clear(Rule.CALL_BUTTON, "hh-0001", "again", T0 + 600_000) is None


def test_deliveries_recorded(db: Database) -> None:
    st = AlertStore(db)
    a = st.raise_alert(press(), grid="", now=T0, next_escalation_at=None).alert
    recs = [DeliveryRecord("c-gw1", "grid_worker", 1, "zh", "handed_off", "t", "b", "opened", 0),
            DeliveryRecord("c-fam1", "family", 2, "en", "handed_off", "t", "b", "opened", 0)]
    ids = st.record_deliveries(a.id, T0, recs)
    assert len(ids) == 2 and ids[0] < ids[1]
    assert st.deliveries(a.id) == recs
    event = st.events(a.id)[-1]
    assert (event["action"], event["note"]) == ("notified", "2 contacts (family, grid_worker): handed_off 2")
    with pytest.raises(AlertNotFound):
        st.record_deliveries(a.id + 1000, T0, recs)


def test_concurrent_raises_make_one_alert(db: Database) -> None:
    """Two writers (threads, as two engines would be) racing on one (rule, subject)."""
    st = AlertStore(db)
    results = []
    barrier = threading.Barrier(4)

    def worker(i: int) -> None:
        barrier.wait()
        results.append(st.raise_alert(press(episode=f"p{i}"), grid="", now=T0 + i, next_escalation_at=None))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(st.all()) == 1
    assert sorted(r.action for r in results) == ["merged", "merged", "merged", "opened"]
    assert st.all()[0].merged_count == 3


def test_listings_counts_open_alerts_and_stats_by_scope(db: Database) -> None:
    """What the console asks of the store for one reader: the same AlertScope in Python and in SQL."""
    st = AlertStore(db)

    def raise_(rule: Rule, subject: str, place: str, grid: str, sev: Severity = Severity.MAJOR, at: int = T0) -> int:
        ch = st.raise_alert(Raise(rule, subject, sev, place, f"e-{subject}", "x", {}, at), grid=grid, now=at,
                            next_escalation_at=None)
        return ch.alert.id

    p1 = raise_(Rule.CALL_BUTTON, "hh-1", "hh-1", "gr-01", Severity.CRITICAL)
    p2 = raise_(Rule.CALL_BUTTON, "hh-2", "hh-2", "gr-02", Severity.CRITICAL, T0 + 1000)
    river = raise_(Rule.RIVER_LEVEL, "rs-01", "rs-01", "")
    batt = raise_(Rule.BATTERY_LOW, "btn-1", "hh-1", "gr-01", Severity.MAINTENANCE)
    lost = raise_(Rule.GATEWAY_OFFLINE, "gw-x", "", "", Severity.MAINTENANCE)
    st.acknowledge(p1, "c-gw1", "console", T0 + 60_000)
    st.resolve(p1, "c-gw1", "console", T0 + 120_000)

    grid1 = AlertScope(grids=frozenset({"gr-01"}), places=frozenset({"rs-01"}))
    tech = AlertScope(grids=frozenset({"gr-01", "gr-02"}), rules=frozenset({Rule.BATTERY_LOW, Rule.GATEWAY_OFFLINE}))
    street = AlertScope(grids=frozenset({"gr-01", "gr-02"}), places=frozenset({"rs-01"}), unplaced=True)
    assert [a.id for a in st.list(AlertFilter(grid1))] == [batt, river, p1]
    assert [a.id for a in st.list(AlertFilter(tech))] == [batt]
    assert st.count(AlertFilter(street)) == 5 and st.count(AlertFilter(AlertScope())) == 0
    assert [a.id for a in st.list(AlertFilter(street), limit=2, offset=1)] == [batt, river]
    assert [a.id for a in st.list(AlertFilter(grid1, active=True, place="hh-1"), limit=None)] == [batt]
    assert [a.id for a in st.list(AlertFilter(street, rules=(Rule.CALL_BUTTON,), active=False))] == [p1]
    assert [a.id for a in st.list(AlertFilter(street, severities=(Severity.CRITICAL,), since=T0 + 1))] == [p2]
    assert st.active_by_subject(street, [Rule.CALL_BUTTON, Rule.GATEWAY_OFFLINE]) == {"hh-2": [p2], "gw-x": [lost]}
    with db.session() as s:
        assert sorted(s.scalars(st.ids_in(tech))) == [batt]
    # every alert the SQL condition selects, the Python check sees, and no other
    everything = st.all()
    for scope in (grid1, tech, street):
        assert {a.id for a in st.list(AlertFilter(scope), limit=None)} == \
            {a.id for a in everything if scope.sees(a.place, a.grid, a.rule)}
    stats = {s.rule: s for s in st.stats(since=T0, scope=grid1)}
    assert set(stats) == {"call_button", "battery_low", "river_level"}
    assert stats["call_button"].alerts == 1 and stats["call_button"].tta_median_s == 60
    assert stats["call_button"].ttr_median_s == 120
    assert {s.rule for s in st.stats(since=T0, scope=street)} == {"call_button", "battery_low", "river_level",
                                                                  "gateway_offline"}
