"""Alert lifecycle: states, allowed transitions and the in-process view of an alert.

    open -> acknowledged -> dispatched -> resolved -> closed
      |          |              |            ^
      +----------+--------------+------------+   (resolved directly; auto-clear)
      +----------+-> closed as false alarm (resident cancel, or staff)
      +----------+--------------+-> closed as no emergency (a check-in answered "fine": alerts/checkin.py)

Only open/acknowledged/dispatched alerts are active: at most one per (rule, subject).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from alerts.types import AlertState, CheckIn, Outcome, Rule, Severity
from ground.errors import ShouwangError

S = AlertState
TRANSITIONS: dict[AlertState, frozenset[AlertState]] = {
    S.OPEN: frozenset({S.ACKNOWLEDGED, S.DISPATCHED, S.RESOLVED, S.CLOSED}),
    S.ACKNOWLEDGED: frozenset({S.DISPATCHED, S.RESOLVED, S.CLOSED}),
    S.DISPATCHED: frozenset({S.DISPATCHED, S.RESOLVED, S.CLOSED}),  # re-dispatch to someone else
    S.RESOLVED: frozenset({S.CLOSED}),
    S.CLOSED: frozenset(),
}


class LifecycleError(ShouwangError):
    """A transition that the lifecycle does not allow, or an unknown alert."""


class AlertNotFound(LifecycleError):
    """No alert with that id."""


def check_transition(alert_id: int, current: AlertState, target: AlertState) -> None:
    """Raise LifecycleError unless current -> target is allowed."""
    if target not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(TRANSITIONS[current])) or "nothing (it is closed)"
        raise LifecycleError(f"alert {alert_id} is {current}; it can go to {allowed}, not {target}")


@dataclass(frozen=True, slots=True)
class AlertView:
    """A snapshot of one alert row."""

    id: int
    rule: Rule
    subject: str
    episode: str
    severity: Severity
    state: AlertState
    outcome: Outcome | None
    place: str
    grid: str
    summary: str
    opened_at: int
    last_event_at: int
    merged_count: int
    escalation_step: int
    next_escalation_at: int | None
    acknowledged_at: int | None = None
    acknowledged_by: str | None = None
    dispatched_at: int | None = None
    dispatched_to: str | None = None
    resolved_at: int | None = None
    closed_at: int | None = None
    feedback: str | None = None
    rating: int | None = None
    details: Mapping[str, Any] = field(default_factory=dict)
    checkin: CheckIn | None = None  # the check-in step (alerts/checkin.py); None: staff were told at once
    checkin_at: int | None = None  # when the check-in was answered (or given up)
    staff_pushed_at: int | None = None  # when staff were last pushed (None: not yet, or never)

    @property
    def active(self) -> bool:
        return self.state in (S.OPEN, S.ACKNOWLEDGED, S.DISPATCHED)

    @property
    def time_to_acknowledge_s(self) -> float | None:
        return None if self.acknowledged_at is None else max(0, self.acknowledged_at - self.opened_at) / 1000

    @property
    def time_to_resolve_s(self) -> float | None:
        return None if self.resolved_at is None else max(0, self.resolved_at - self.opened_at) / 1000


@dataclass(frozen=True, slots=True)
class AlertChange:
    """Something happened to an alert: what the sinks (InfluxDB, MQTT) and notifier react to."""

    alert: AlertView
    action: str  # opened, merged, upgraded, acknowledged, dispatched, resolved, auto_cleared, closed, escalated
    at: int
    actor: str = "engine"
    channel: str = "rules"
