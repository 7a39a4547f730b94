"""The alert store: alerts, their audit trail and deliveries, over SQLAlchemy (SQLite or PostgreSQL).

Every method is one transaction. Uniqueness is enforced by the database, not by a cache,
so several engines or the console writing at once cannot create two active alerts for
one (rule, subject) nor raise one episode twice. Queries take an AlertScope (which alerts a
reader may see) so the console asks for what a user may see instead of querying the tables.
People's transitions are made through alerts/actions.py, which also tells the sinks.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import ColumnElement, Select, and_, false, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from alerts.checkin import CHECKIN_RULES
from alerts.lifecycle import AlertChange, AlertNotFound, AlertView, LifecycleError, check_transition
from alerts.tables import Alert, AlertEpisode, AlertEvent, Delivery
from alerts.types import ACTIVE_STATES, AlertState, CheckIn, Outcome, Raise, Rule, Severity
from storage.sql import Database

log = logging.getLogger(__name__)
S = AlertState


def _view(a: Alert) -> AlertView:
    return AlertView(
        id=a.id, rule=Rule(a.rule), subject=a.subject, episode=a.episode, severity=Severity(a.severity),
        state=AlertState(a.state), outcome=Outcome(a.outcome) if a.outcome else None, place=a.place, grid=a.grid,
        summary=a.summary, opened_at=a.opened_at, last_event_at=a.last_event_at, merged_count=a.merged_count,
        escalation_step=a.escalation_step, next_escalation_at=a.next_escalation_at,
        acknowledged_at=a.acknowledged_at, acknowledged_by=a.acknowledged_by, dispatched_at=a.dispatched_at,
        dispatched_to=a.dispatched_to, resolved_at=a.resolved_at, closed_at=a.closed_at, feedback=a.feedback,
        rating=a.rating, details=dict(a.details or {}), checkin=CheckIn(a.checkin) if a.checkin else None,
        checkin_at=a.checkin_at, staff_pushed_at=a.staff_pushed_at)


@dataclass(frozen=True, slots=True)
class AlertScope:
    """Which alerts a reader may see: those of some grids, those at some places, those whose place the
    registry does not know (`unplaced`), optionally only some rules. No scope at all: every alert."""

    grids: frozenset[str] = frozenset()
    places: frozenset[str] = frozenset()
    unplaced: bool = False
    rules: frozenset[Rule] | None = None  # None: every rule

    def sees(self, place: str, grid: str, rule: Rule | str | None = None) -> bool:
        """Whether an alert (or any thing) at place/grid, of that rule, is in the scope."""
        if self.rules is not None and rule is not None and Rule(rule) not in self.rules:
            return False
        return (bool(grid) and grid in self.grids) or place in self.places or (self.unplaced and not place)

    def condition(self) -> ColumnElement[bool]:
        """The same as a SQL condition on the alert table."""
        conds = []
        if self.grids:
            conds.append(Alert.grid.in_(sorted(self.grids)))
        if self.places:
            conds.append(Alert.place.in_(sorted(self.places)))
        if self.unplaced:
            conds.append(Alert.place == "")
        cond = or_(*conds) if conds else false()
        if self.rules is not None:
            cond = cond & Alert.rule.in_(sorted(r.value for r in self.rules))
        return cond


@dataclass(frozen=True, slots=True)
class AlertFilter:
    """Which alerts a listing is about; every field is optional (empty: no condition)."""

    scope: AlertScope | None = None
    states: Sequence[AlertState] = ()
    severities: Sequence[Severity] = ()
    rules: Sequence[Rule] = ()
    active: bool | None = None  # only active (open, acknowledged, dispatched) / only ended ones
    place: str | None = None
    since: int | None = None  # opened at or after (ms)

    def apply(self, q: Select) -> Select:
        if self.scope is not None:
            q = q.where(self.scope.condition())
        if self.states:
            q = q.where(Alert.state.in_([s.value for s in self.states]))
        if self.active is not None:
            act = [s.value for s in ACTIVE_STATES]
            q = q.where(Alert.state.in_(act) if self.active else Alert.state.not_in(act))
        if self.severities:
            q = q.where(Alert.severity.in_([s.value for s in self.severities]))
        if self.rules:
            q = q.where(Alert.rule.in_([r.value for r in self.rules]))
        if self.place is not None:
            q = q.where(Alert.place == self.place)
        if self.since is not None:
            q = q.where(Alert.opened_at >= self.since)
        return q


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    contact: str
    role: str
    channels: int
    language: str
    status: str
    title: str
    body: str
    event: str
    step: int


@dataclass(frozen=True, slots=True)
class CheckinStats:
    """Alerts of the check-in rules opened in a period: how many asked first, how the asking ended, and how many
    pushed staff (a staff dispatch: the grid worker was pushed, at once or after the check-in)."""

    alerts: int
    asked: int  # a check-in was asked (the family had a message, the resident could answer)
    answered_fine: int  # closed as no emergency by the family or the resident, or water used while asking
    staff_pushed: int  # staff were pushed: without a check-in, at night, nobody answered, or "联系不上"
    pending: int  # still asking
    by_state: dict[str, int]  # alert.checkin -> count ("none": no check-in)


@dataclass(frozen=True, slots=True)
class RuleStats:
    rule: str
    alerts: int
    acknowledged: int
    resolved: int
    false_alarms: int
    tta_median_s: float | None
    tta_p95_s: float | None
    ttr_median_s: float | None
    ttr_p95_s: float | None


def _audit(s: Session, a: Alert, at: int, action: str, actor: str, channel: str, frm: str | None,
           to: str | None, note: str = "") -> None:
    s.add(AlertEvent(alert_id=a.id, at=at, action=action, actor=actor[:64], channel=channel[:32], from_state=frm,
                     to_state=to, note=note[:2000]))


class AlertStore:
    """Alerts in a SQL database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # --- engine side ----------------------------------------------------------------

    def raise_alert(self, r: Raise, *, grid: str, now: int, next_escalation_at: int | None,
                    checkin: CheckIn | None = None) -> AlertChange | None:
        """Open, merge into or upgrade the active (rule, subject) alert; None if the episode is known.
        A new alert starts its check-in at `checkin` (alerts/checkin.py): staff count as pushed now unless it is
        ASKING (None: no check-in, staff are told at once)."""
        for attempt in range(3):
            try:
                return self._raise_once(r, grid, now, next_escalation_at, checkin)
            except IntegrityError:
                if attempt == 2:
                    raise
                log.info("concurrent raise of %s/%s; retrying as a merge", r.rule, r.subject)
        return None

    def _raise_once(self, r: Raise, grid: str, now: int, next_at: int | None,
                    checkin: CheckIn | None) -> AlertChange | None:
        key = f"{r.rule}|{r.subject}"
        at = _event_time(r.at_ms, now)
        with self.db.session() as s, s.begin():
            known = s.scalar(select(AlertEpisode).where(AlertEpisode.rule == r.rule.value,
                                                        AlertEpisode.subject == r.subject,
                                                        AlertEpisode.episode == r.episode))
            if known is not None:
                # the episode was raised before: only a higher severity while still active is news
                a = s.get(Alert, known.alert_id, with_for_update=True)
                if a is not None and a.active_key and Severity(r.severity).rank > Severity(a.severity).rank:
                    return self._upgrade(s, a, r, now)
                return None
            active = s.scalar(select(Alert).where(Alert.active_key == key).with_for_update())
            if active is not None:
                s.add(AlertEpisode(alert_id=active.id, rule=r.rule.value, subject=r.subject, episode=r.episode, at=at))
                return self._merge(s, active, r, now)
            a = Alert(rule=r.rule.value, subject=r.subject, episode=r.episode, active_key=key,
                      severity=r.severity.value, state=S.OPEN.value, place=r.place, grid=grid, summary=r.summary[:300],
                      details=dict(r.details), opened_at=at, last_event_at=at, merged_count=0, escalation_step=0,
                      next_escalation_at=next_at, checkin=checkin.value if checkin else None,
                      checkin_at=now if checkin is CheckIn.NO_FAMILY else None,
                      staff_pushed_at=None if checkin is CheckIn.ASKING else now)
            s.add(a)
            s.flush()
            s.add(AlertEpisode(alert_id=a.id, rule=r.rule.value, subject=r.subject, episode=r.episode, at=at))
            # the trail says when it happened (the card's and the detail's time), not when the store heard of it
            _audit(s, a, at, "opened", "engine", "rules", None, S.OPEN, r.summary)
            s.flush()
            return AlertChange(_view(a), "opened", now)

    def _merge(self, s: Session, a: Alert, r: Raise, now: int) -> AlertChange:
        a.merged_count += 1
        a.last_event_at = _event_time(r.at_ms, now)
        a.details = {**(a.details or {}), **dict(r.details)}
        if Severity(r.severity).rank > Severity(a.severity).rank:
            return self._upgrade(s, a, r, now)
        _audit(s, a, max(a.last_event_at, a.opened_at), "merged", "engine", "rules", a.state, a.state,
               f"episode {r.episode}: {r.summary}")
        s.flush()
        return AlertChange(_view(a), "merged", now)

    def _upgrade(self, s: Session, a: Alert, r: Raise, now: int) -> AlertChange:
        old = a.severity
        a.severity = r.severity.value
        a.summary = r.summary[:300]
        a.details = {**(a.details or {}), **dict(r.details)}
        a.last_event_at = _event_time(r.at_ms, now)
        _audit(s, a, max(a.last_event_at, a.opened_at), "upgraded", "engine", "rules", a.state, a.state,
               f"severity {old} -> {r.severity}")
        s.flush()
        return AlertChange(_view(a), "upgraded", now)

    def clear(self, rule: Rule, subject: str, reason: str, now: int) -> AlertChange | None:
        """Auto-clear the active (rule, subject) alert: resolved by the system."""
        with self.db.session() as s, s.begin():
            a = s.scalar(select(Alert).where(Alert.active_key == f"{rule}|{subject}").with_for_update())
            if a is None:
                return None
            frm = a.state
            now = max(now, a.opened_at)  # a late message's time can precede the opening: never a negative TTR
            a.state, a.outcome, a.resolved_at = S.RESOLVED.value, Outcome.AUTO_CLEARED.value, now
            a.active_key, a.next_escalation_at = None, None
            if a.checkin == CheckIn.ASKING.value:  # the resident answered by using water
                a.checkin, a.checkin_at = CheckIn.WATER_USED.value, now
            _audit(s, a, now, "auto_cleared", "engine", "rules", frm, S.RESOLVED, reason)
            s.flush()
            return AlertChange(_view(a), "auto_cleared", now)

    def cancel(self, rule: Rule, subject: str, within_s: float, now: int) -> AlertChange | None:
        """A resident's cancel: close as a false alarm if soon enough, else only record it."""
        with self.db.session() as s, s.begin():
            a = s.scalar(select(Alert).where(Alert.active_key == f"{rule}|{subject}").with_for_update())
            if a is None:
                return None
            now = max(now, a.opened_at)
            age = (now - a.opened_at) / 1000
            if age > within_s:
                _audit(s, a, now, "cancel_late", "resident", "device", a.state, a.state,
                       f"cancel {age:.0f} s after the press (window {within_s:.0f} s): kept open")
                return AlertChange(_view(a), "cancel_late", now, "resident", "device")
            frm = a.state
            a.state, a.outcome, a.closed_at = S.CLOSED.value, Outcome.FALSE_ALARM.value, now
            a.active_key, a.next_escalation_at = None, None
            a.feedback = f"cancelled by the resident {age:.0f} s after the press"
            _audit(s, a, now, "closed", "resident", "device", frm, S.CLOSED, a.feedback)
            s.flush()
            return AlertChange(_view(a), "false_alarm", now, "resident", "device")

    def due_escalations(self, now: int) -> list[AlertView]:
        """Open (unacknowledged) alerts whose next escalation step is due."""
        with self.db.session() as s:
            rows = s.scalars(select(Alert).where(and_(Alert.state == S.OPEN.value,
                                                      Alert.next_escalation_at <= now)).order_by(Alert.id))
            return [_view(a) for a in rows]

    def next_escalation_at(self) -> int | None:
        """When the next escalation of any open alert is due."""
        with self.db.session() as s:
            return s.scalar(select(func.min(Alert.next_escalation_at)).where(Alert.state == S.OPEN.value))

    def record_escalation(self, alert_id: int, step: int, next_at: int | None, now: int, note: str) -> AlertChange:
        with self.db.session() as s, s.begin():
            a = self._get(s, alert_id)
            a.escalation_step, a.next_escalation_at = step, next_at
            _audit(s, a, now, "escalated", "engine", "escalation", a.state, a.state, note)
            s.flush()
            return AlertChange(_view(a), "escalated", now, "engine", "escalation")

    def push_staff(self, alert_id: int, checkin: CheckIn, next_at: int | None, now: int, note: str) -> AlertChange:
        """The engine pushes staff after (or during) a check-in: `checkin` says why (no answer, unreachable)."""
        with self.db.session() as s, s.begin():
            a = self._get(s, alert_id)
            if a.checkin != checkin.value:
                a.checkin, a.checkin_at = checkin.value, now
            a.staff_pushed_at, a.next_escalation_at = now, next_at
            _audit(s, a, now, "staff_pushed", "engine", "checkin", a.state, a.state, note)
            s.flush()
            return AlertChange(_view(a), "staff_pushed", now, "engine", "checkin")

    def checkin_pending_for(self, rule: Rule, subject: str) -> AlertView | None:
        """The active (rule, subject) alert if it asked for a check-in (whatever its answer so far)."""
        with self.db.session() as s:
            a = s.scalar(select(Alert).where(Alert.active_key == f"{rule}|{subject}", Alert.checkin.is_not(None)))
            return _view(a) if a else None

    def record_deliveries(self, alert_id: int, at: int, records: Sequence[DeliveryRecord]) -> list[int]:
        """Store one delivery per recipient of a notification and its audit line (who was told, how many of each
        status; codes and counts only) in one transaction; returns the deliveries' ids in order."""
        rows = [Delivery(alert_id=alert_id, at=at, event=r.event, step=r.step, contact=r.contact, role=r.role,
                         channels=r.channels, language=r.language, status=r.status, title=r.title[:300], body=r.body)
                for r in records]
        counts: dict[str, int] = {}
        for r in records:
            counts[r.status] = counts.get(r.status, 0) + 1
        with self.db.session() as s, s.begin():
            a = self._get(s, alert_id)
            s.add_all(rows)
            _audit(s, a, at, "notified", "engine", "notifier", a.state, a.state,
                   f"{len(rows)} contacts ({', '.join(sorted({r.role for r in records}))}): "
                   + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
            s.flush()
            return [r.id for r in rows]

    # --- people's side (through alerts/actions.py) ----------------------------------------

    def _get(self, s: Session, alert_id: int) -> Alert:
        a = s.get(Alert, alert_id, with_for_update=True)  # row lock: concurrent transitions serialise
        if a is None:
            raise AlertNotFound(f"no alert {alert_id}")
        return a

    def _transition(self, alert_id: int, target: AlertState, actor: str, channel: str, now: int, note: str,
                    action: str | None = None, **changes: Any) -> AlertChange:
        if not actor:
            raise LifecycleError("who did it must be recorded (actor)")
        with self.db.session() as s, s.begin():
            a = self._get(s, alert_id)
            frm = AlertState(a.state)
            check_transition(alert_id, frm, target)
            now = max(now, a.opened_at)  # times to acknowledge and resolve are never negative
            changes = {k: max(v, a.opened_at) if k.endswith("_at") and isinstance(v, int) else v
                       for k, v in changes.items()}
            a.state = target.value
            for k, v in changes.items():
                setattr(a, k, v)
            if target in (S.RESOLVED, S.CLOSED):
                a.active_key, a.next_escalation_at = None, None
            if target is not S.OPEN:
                a.next_escalation_at = None  # someone has it: the ladder stops
            if a.acknowledged_at is None and target is not S.CLOSED:
                a.acknowledged_at, a.acknowledged_by = now, actor[:64]
            if target is S.CLOSED and a.resolved_at is None and a.outcome not in (Outcome.FALSE_ALARM.value,
                                                                                  Outcome.NO_EMERGENCY.value):
                a.resolved_at = now
            action = action or {S.ACKNOWLEDGED: "acknowledged", S.DISPATCHED: "dispatched", S.RESOLVED: "resolved",
                      S.CLOSED: "closed"}[target]
            _audit(s, a, now, action, actor, channel, frm, target, note)
            s.flush()
            return AlertChange(_view(a), action, now, actor, channel)

    def checkin_ok(self, alert_id: int, who: CheckIn, actor: str, channel: str, now: int) -> AlertChange:
        """A check-in answered "fine" (`who`: the family or the resident): closed as no emergency."""
        if not who.answered_fine:
            raise LifecycleError(f"{who} is not an answer that closes an alert")
        self._needs_checkin(alert_id)
        return self._transition(alert_id, S.CLOSED, actor, channel, now, "", action="checkin_ok",
                                outcome=Outcome.NO_EMERGENCY.value, checkin=who.value, checkin_at=now, closed_at=now,
                                feedback=f"check-in answered: {who.value}")

    def checkin_unreachable(self, alert_id: int, actor: str, channel: str, now: int) -> AlertChange:
        """The family could not reach the resident: staff are due at once (the engine pushes them)."""
        with self.db.session() as s, s.begin():
            a = self._get(s, alert_id)
            if a.checkin is None:
                raise LifecycleError(f"alert {alert_id} did not ask for a check-in")
            if a.active_key is None:
                raise LifecycleError(f"alert {alert_id} is {a.state}: nothing to escalate")
            a.checkin, a.checkin_at = CheckIn.UNREACHABLE.value, max(now, a.opened_at)
            if a.state == S.OPEN.value:
                a.next_escalation_at = a.checkin_at  # due now: the engine's next look pushes staff
            _audit(s, a, a.checkin_at, "checkin_unreachable", actor, channel, a.state, a.state, "")
            s.flush()
            return AlertChange(_view(a), "checkin_unreachable", a.checkin_at, actor, channel)

    def _needs_checkin(self, alert_id: int) -> None:
        with self.db.session() as s:
            a = s.get(Alert, alert_id)
            if a is None:
                raise AlertNotFound(f"no alert {alert_id}")
            if a.checkin is None:
                raise LifecycleError(f"alert {alert_id} did not ask for a check-in")

    def acknowledge(self, alert_id: int, actor: str, channel: str, now: int, note: str = "") -> AlertChange:
        """Someone has seen it and takes it on; escalation stops."""
        return self._transition(alert_id, S.ACKNOWLEDGED, actor, channel, now, note)

    def dispatch(self, alert_id: int, to: str, actor: str, channel: str, now: int, note: str = "") -> AlertChange:
        """Send a named person to handle it."""
        if not to:
            raise LifecycleError("dispatch needs the person it goes to")
        return self._transition(alert_id, S.DISPATCHED, actor, channel, now, note or f"to {to}",
                                dispatched_to=to[:64], dispatched_at=now)

    def resolve(self, alert_id: int, actor: str, channel: str, now: int, note: str = "") -> AlertChange:
        """The problem is handled on site."""
        return self._transition(alert_id, S.RESOLVED, actor, channel, now, note, resolved_at=now,
                                outcome=Outcome.HANDLED.value)

    def close(self, alert_id: int, actor: str, channel: str, now: int, feedback: str, rating: int | None = None,
              false_alarm: bool = False) -> AlertChange:
        """Close the loop with feedback and a rating (1-5)."""
        if not feedback.strip():
            raise LifecycleError("closing needs feedback")
        if rating is not None and not 1 <= rating <= 5:
            raise LifecycleError(f"rating {rating} is not 1..5")
        extra: dict[str, Any] = {"feedback": feedback[:4000], "rating": rating, "closed_at": now}
        if false_alarm:
            extra["outcome"] = Outcome.FALSE_ALARM.value
        return self._transition(alert_id, S.CLOSED, actor, channel, now, feedback, **extra)

    # --- queries ------------------------------------------------------------------------

    def get(self, alert_id: int) -> AlertView:
        with self.db.session() as s:
            return _view(self._get(s, alert_id))

    def active(self, rule: Rule | None = None) -> list[AlertView]:
        """Active alerts (open, acknowledged, dispatched)."""
        with self.db.session() as s:
            q = select(Alert).where(Alert.active_key.is_not(None))
            if rule is not None:
                q = q.where(Alert.rule == rule.value)
            return [_view(a) for a in s.scalars(q.order_by(Alert.id))]

    def active_for(self, rule: Rule, subject: str) -> AlertView | None:
        with self.db.session() as s:
            a = s.scalar(select(Alert).where(Alert.active_key == f"{rule}|{subject}"))
            return _view(a) if a else None

    def list(self, f: AlertFilter = AlertFilter(), *, limit: int | None = 100, offset: int = 0) -> list[AlertView]:
        """Alerts matching the filter, newest first."""
        with self.db.session() as s:
            q = f.apply(select(Alert)).order_by(Alert.id.desc()).offset(offset)
            return [_view(a) for a in s.scalars(q if limit is None else q.limit(limit))]

    def count(self, f: AlertFilter = AlertFilter()) -> int:
        """How many alerts match the filter."""
        with self.db.session() as s:
            return s.scalar(select(func.count()).select_from(f.apply(select(Alert.id)).subquery())) or 0

    def active_by_subject(self, scope: AlertScope | None = None, rules: Iterable[Rule] = ()) -> dict[str, list[int]]:
        """Ids of the active alerts in scope (of these rules), by subject."""
        q = AlertFilter(scope, rules=tuple(rules), active=True).apply(select(Alert.id, Alert.subject))
        out: dict[str, list[int]] = {}
        with self.db.session() as s:
            for aid, subject in s.execute(q.order_by(Alert.id)):
                out.setdefault(subject, []).append(aid)
        return out

    def ids_in(self, scope: AlertScope | None = None) -> Select[tuple[int]]:
        """A SELECT of the ids of the alerts in scope, for a query that joins them (the console's audit log)."""
        return AlertFilter(scope).apply(select(Alert.id))

    def all(self) -> list[AlertView]:
        with self.db.session() as s:
            return [_view(a) for a in s.scalars(select(Alert).order_by(Alert.id))]

    def events(self, alert_id: int) -> list[dict[str, Any]]:
        """The audit trail of one alert, oldest first."""
        with self.db.session() as s:
            rows = s.scalars(select(AlertEvent).where(AlertEvent.alert_id == alert_id).order_by(AlertEvent.id))
            return [{"at": e.at, "action": e.action, "actor": e.actor, "channel": e.channel, "from": e.from_state,
                     "to": e.to_state, "note": e.note} for e in rows]

    def deliveries(self, alert_id: int | None = None) -> list[DeliveryRecord]:
        with self.db.session() as s:
            q = select(Delivery).order_by(Delivery.id)
            if alert_id is not None:
                q = q.where(Delivery.alert_id == alert_id)
            return [DeliveryRecord(d.contact, d.role, d.channels, d.language, d.status, d.title, d.body, d.event,
                                   d.step) for d in s.scalars(q)]

    def stats(self, since: int | None = None, until: int | None = None,
              scope: AlertScope | None = None) -> list[RuleStats]:
        """Per rule, of the alerts opened in [since, until) in scope: counts and time-to-acknowledge /
        time-to-resolve (median, p95) in seconds."""
        with self.db.session() as s:
            q = AlertFilter(scope).apply(select(Alert.rule, Alert.opened_at, Alert.acknowledged_at, Alert.resolved_at,
                                                Alert.outcome))
            if since is not None:
                q = q.where(Alert.opened_at >= since)
            if until is not None:
                q = q.where(Alert.opened_at < until)
            rows = s.execute(q).all()
        by_rule: dict[str, list[Any]] = {}
        for row in rows:
            by_rule.setdefault(row.rule, []).append(row)
        out = []
        for rule, rs in sorted(by_rule.items()):
            tta = [max(0, r.acknowledged_at - r.opened_at) / 1000 for r in rs if r.acknowledged_at is not None]
            ttr = [max(0, r.resolved_at - r.opened_at) / 1000 for r in rs if r.resolved_at is not None
                   and r.outcome == Outcome.HANDLED.value]
            out.append(RuleStats(rule, len(rs), len(tta), len(ttr),
                                 sum(1 for r in rs if r.outcome == Outcome.FALSE_ALARM.value),
                                 *_median_p95(tta), *_median_p95(ttr)))
        return out


    def checkin_stats(self, since: int | None = None, until: int | None = None,
                      scope: AlertScope | None = None) -> CheckinStats:
        """Alerts of the check-in rules opened in [since, until) in scope: check-ins vs staff dispatches."""
        with self.db.session() as s:
            q = AlertFilter(scope, rules=tuple(sorted(CHECKIN_RULES))).apply(
                select(Alert.checkin, Alert.staff_pushed_at, Alert.opened_at))
            if since is not None:
                q = q.where(Alert.opened_at >= since)
            if until is not None:
                q = q.where(Alert.opened_at < until)
            rows = s.execute(q).all()
        by_state: dict[str, int] = {}
        for r in rows:
            by_state[r.checkin or "none"] = by_state.get(r.checkin or "none", 0) + 1
        asked = sum(v for k, v in by_state.items() if k not in ("none", CheckIn.NO_FAMILY.value))
        fine = sum(by_state.get(c.value, 0) for c in CheckIn if c.answered_fine)
        return CheckinStats(len(rows), asked, fine, sum(1 for r in rows if r.staff_pushed_at is not None),
                            by_state.get(CheckIn.ASKING.value, 0), dict(sorted(by_state.items())))


def _event_time(at_ms: int | None, now: int) -> int:
    """When an alert opens: its event's own time, but never after the engine's now (a device clock may run up to
    the contract's future skew ahead), so no duration measured from it can come out negative."""
    return min(at_ms, now) if at_ms else now


def _median_p95(xs: list[float]) -> tuple[float | None, float | None]:
    if not xs:
        return None, None
    arr = np.asarray(xs)
    return float(np.median(arr)), float(np.percentile(arr, 95))
