"""Times to acknowledge and to resolve can never be negative, whatever times the messages carry."""

from __future__ import annotations

from alerts.store import AlertStore
from alerts.types import Raise, Rule, Severity
from storage.sql import Database

T0 = 1_800_000_000_000


def _raise(at: int, episode: str = "p1") -> Raise:
    return Raise(Rule.CALL_BUTTON, "hh-0001", Severity.CRITICAL, "hh-0001", episode, "call_button hh-0001", {}, at)


def test_an_event_stamped_ahead_of_the_engine_opens_at_the_engines_now(db: Database) -> None:
    """A device clock up to the contract's skew ahead: the alert cannot open after the moment it was raised,
    so acknowledging it at once cannot give a negative time to acknowledge."""
    st = AlertStore(db)
    ch = st.raise_alert(_raise(T0 + 90_000), grid="", now=T0, next_escalation_at=None)
    assert ch is not None and ch.alert.opened_at == T0
    acked = st.acknowledge(ch.alert.id, "c-gw1", "console", T0 + 1000)
    assert acked.alert.time_to_acknowledge_s == 1.0
    done = st.resolve(ch.alert.id, "c-gw1", "console", T0 + 5000)
    assert done.alert.time_to_resolve_s == 5.0
    [stats] = st.stats()
    assert stats.tta_median_s == 1.0 and stats.ttr_median_s == 5.0


def test_a_clear_or_an_action_dated_before_the_opening_is_clamped_to_it(db: Database) -> None:
    """A late message (a gateway's outbox) clears with its own, earlier time; a person's action arrives from a
    console whose request was stamped a moment before: neither may precede the opening."""
    st = AlertStore(db)
    a = st.raise_alert(_raise(T0), grid="", now=T0, next_escalation_at=None)
    assert a is not None
    cleared = st.clear(Rule.CALL_BUTTON, "hh-0001", "reporting_again", T0 - 600_000)
    assert cleared is not None and cleared.alert.resolved_at == T0 and cleared.alert.time_to_resolve_s == 0
    b = st.raise_alert(_raise(T0 + 10_000, "p2"), grid="", now=T0 + 10_000, next_escalation_at=None)
    assert b is not None
    acked = st.acknowledge(b.alert.id, "c-gw1", "console", T0)
    assert acked.alert.acknowledged_at == T0 + 10_000 and acked.alert.time_to_acknowledge_s == 0
    closed = st.resolve(b.alert.id, "c-gw1", "console", T0 + 5000)
    assert closed.alert.resolved_at >= closed.alert.opened_at and closed.alert.time_to_resolve_s == 0
    assert all(s.tta_median_s >= 0 and s.ttr_median_s is None or s.ttr_median_s >= 0 for s in st.stats())
