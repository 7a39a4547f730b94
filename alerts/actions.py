"""The one path by which people change alerts: acknowledge, dispatch, resolve, close, answer a check-in, and away
mode.

Every change a person makes — in the console, through an acknowledgement link, on the command
line — goes through AlertActions, which does what the engine does with its own changes:

    store      the transition, with the alert's audit trail entry (who, through which channel,
               note), in one transaction; LifecycleError if the lifecycle does not allow it
    audit      the audit log of people's writes, when the caller keeps one (the console's
               `audit_log`: who, from which address); the CLI keeps only the alert's own trail
    sinks      the same sinks as the engine's changes (alerts/sinks.py): the InfluxDB `alert`
               point, MQTT sw/alerts/v1/event and the retained sw/alerts/v1/active/{id}
    listeners  in-process followers (the console's live stream), before the sinks

A sink or listener that fails is logged and never undoes the change: the store has it.
Away mode changes the registry, not an alert: it is audited, and the engine picks it up with
the registry revision (no sink event).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from alerts.lifecycle import AlertChange
from alerts.sinks import Sink
from alerts.store import AlertStore
from alerts.types import CheckIn
from ground.clock import Clock
from registry.model import set_away

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Actor:
    """Who makes a change, and through what."""

    name: str  # console username, contact code (link), staff or contact code (CLI): the audit trail's actor
    channel: str  # console, ack_link, cli: the audit trail's channel
    role: str = ""  # for the audit log: the console role, "contact" for a link
    address: str = ""  # for the audit log: the client's address


class AuditLog(Protocol):
    """Records one write made by a person (the console's audit_log)."""

    def __call__(self, actor: Actor, action: str, target: str, detail: str) -> None: ...


class AlertActions:
    """People's changes to alerts: store, audit, sinks and listeners, in that order."""

    def __init__(self, store: AlertStore, clock: Clock, *, sinks: Sequence[Sink] = (),
                 listeners: Sequence[Callable[[AlertChange], None]] = (), audit: AuditLog | None = None) -> None:
        self.store = store
        self.clock = clock
        # read at each change, not copied: the console adds its sinks once its MQTT connection is up
        self.sinks = sinks
        self.listeners = listeners
        self.audit = audit

    # --- transitions ----------------------------------------------------------------------

    def acknowledge(self, alert_id: int, actor: Actor, note: str = "", *, audit_action: str = "alert.acknowledge",
                    audit_detail: str | None = None) -> AlertChange:
        """Someone has seen it and takes it on; escalation stops."""
        change = self.store.acknowledge(alert_id, actor.name, actor.channel, self.clock.now_ms(), note)
        return self._done(change, actor, audit_action, note if audit_detail is None else audit_detail)

    def dispatch(self, alert_id: int, to: str, actor: Actor, note: str = "") -> AlertChange:
        """Send a named person (contact code or username) to handle it."""
        change = self.store.dispatch(alert_id, to, actor.name, actor.channel, self.clock.now_ms(), note)
        return self._done(change, actor, "alert.dispatch", f"to {to}: {note}")

    def resolve(self, alert_id: int, actor: Actor, note: str = "") -> AlertChange:
        """The problem is handled on site."""
        change = self.store.resolve(alert_id, actor.name, actor.channel, self.clock.now_ms(), note)
        return self._done(change, actor, "alert.resolve", note)

    def close(self, alert_id: int, actor: Actor, feedback: str, rating: int | None = None,
              false_alarm: bool = False) -> AlertChange:
        """Close the loop with feedback and a rating (1-5), as handled or as a false alarm."""
        change = self.store.close(alert_id, actor.name, actor.channel, self.clock.now_ms(), feedback, rating,
                                  false_alarm)
        return self._done(change, actor, "alert.close", f"rating {rating}: {feedback}")

    # --- the check-in step (alerts/checkin.py) ------------------------------------------------

    def checkin_ok(self, alert_id: int, actor: Actor) -> AlertChange:
        """The family answered the check-in "她/他没事": closed as no emergency, recorded."""
        change = self.store.checkin_ok(alert_id, CheckIn.OK_FAMILY, actor.name, actor.channel, self.clock.now_ms())
        return self._done(change, actor, "alert.checkin_ok", CheckIn.OK_FAMILY.value)

    def checkin_unreachable(self, alert_id: int, actor: Actor) -> AlertChange:
        """The family answered the check-in "联系不上": staff are due at once (the engine pushes them)."""
        change = self.store.checkin_unreachable(alert_id, actor.name, actor.channel, self.clock.now_ms())
        return self._done(change, actor, "alert.checkin_unreachable", CheckIn.UNREACHABLE.value)

    # --- away mode -----------------------------------------------------------------------------

    def set_away(self, household: str, until: dt.date | None, actor: Actor) -> None:
        """Switch a household's away mode on (until a date, inclusive) or off; KeyError for no such household."""
        set_away(self.store.db, household, until)
        self.record(actor, "household.away", f"household {household}", str(until))

    # --- the rest -----------------------------------------------------------------------------

    def record(self, actor: Actor, action: str, target: str, detail: str = "") -> None:
        """Audit an attempt that changed no alert (a refused acknowledgement link)."""
        if self.audit is not None:
            self.audit(actor, action, target, detail)

    def _done(self, change: AlertChange, actor: Actor, action: str, detail: str) -> AlertChange:
        self.record(actor, action, f"alert {change.alert.id}", detail)
        for fn in self.listeners:
            try:
                fn(change)
            except Exception:  # the store has the change; a follower's failure must not fail the person's action
                log.exception("alert listener failed for alert %d", change.alert.id)
        for sink in self.sinks:
            try:
                sink.emit(change)
            except Exception:  # the store has the change; a sink failure must not fail the person's action
                log.exception("alert sink %s failed for alert %d", type(sink).__name__, change.alert.id)
        return change
