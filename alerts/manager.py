"""AlertManager: applies rule actions to the store, notifies along the ladder, feeds the sinks.

Rules say Raise / Clear / Cancel; the manager keeps the lifecycle's promises (one active
alert per (rule, subject), an episode never raised twice, escalation while unacknowledged)
and tells every sink (InfluxDB, MQTT) about every change it makes. People's changes take the
same sinks through alerts/actions.py.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from alerts import escalation
from alerts.lifecycle import AlertChange, AlertView
from alerts.notifier import Notification, Notifier
from alerts.settings import AlertsConfig
from alerts.sinks import Sink
from alerts.store import AlertStore
from alerts.types import Action, Cancel, Clear, Raise
from registry.model import RegistrySnapshot
from registry.types import Level, Role

log = logging.getLogger(__name__)


class AlertManager:
    """The one path by which the engine changes alerts (people's: alerts/actions.py)."""

    def __init__(self, store: AlertStore, registry: Callable[[], RegistrySnapshot], notifier: Notifier,
                 cfg: AlertsConfig, sinks: Iterable[Sink] = ()) -> None:
        self.store = store
        self.registry = registry
        self.notifier = notifier
        self.cfg = cfg
        self.sinks = list(sinks)
        # earliest escalation we know to be due; the store is asked only then (or once a
        # minute, for alerts another process opened), not on every tick
        self._next_due: int | None = None
        self._next_poll = 0

    # --- from rules -----------------------------------------------------------------

    def apply(self, actions: Iterable[Action], now: int) -> list[AlertChange]:
        """Apply rule actions in order; returns the changes that happened."""
        changes = []
        for act in actions:
            change = self._apply_one(act, now)
            if change is not None:
                changes.append(change)
        return changes

    def _apply_one(self, act: Action, now: int) -> AlertChange | None:
        if isinstance(act, Raise):
            reg = self.registry()
            grid = reg.ancestor(act.place, Level.GRID) or ""
            opened = act.at_ms or now
            change = self.store.raise_alert(act, grid=grid, now=now,
                                            next_escalation_at=escalation.next_due(self.cfg, act.severity, opened, 0))
            if change is None:
                return None
            if change.action == "opened":
                nxt = change.alert.next_escalation_at
                if nxt is not None and (self._next_due is None or nxt < self._next_due):
                    self._next_due = nxt
                log.info("alert %d opened: %s %s on %s", change.alert.id, act.severity, act.rule, act.subject)
                self._notify(change, "opened", 0, escalation.roles_at(self.cfg, act.severity, 0))
            elif change.action == "upgraded":
                a = change.alert
                log.info("alert %d upgraded to %s", a.id, a.severity)
                self._notify(change, "upgraded", a.escalation_step,
                             escalation.roles_up_to(self.cfg, a.severity, a.escalation_step))
        elif isinstance(act, Clear):
            change = self.store.clear(act.rule, act.subject, act.reason, act.at_ms or now)
            if change is None:
                return None
            log.info("alert %d auto-cleared: %s", change.alert.id, act.reason)
            self._notify(change, "auto_cleared", change.alert.escalation_step, self._told(change.alert))
        elif isinstance(act, Cancel):
            change = self.store.cancel(act.rule, act.subject, act.within_s, act.at_ms or now)
            if change is None:
                return None
            if change.action == "false_alarm":
                log.info("alert %d closed as a false alarm (resident cancel)", change.alert.id)
                self._notify(change, "false_alarm", change.alert.escalation_step, self._told(change.alert))
        else:  # pragma: no cover - the Action union is closed
            raise TypeError(f"unknown action {act!r}")
        self._emit(change)
        return change

    def _told(self, a: AlertView) -> list[Role]:
        return escalation.roles_up_to(self.cfg, a.severity, a.escalation_step)

    # --- timers ---------------------------------------------------------------------------

    def tick(self, now: int) -> list[AlertChange]:
        """Escalate every open alert whose next step is due."""
        out: list[AlertChange] = []
        if now < self._next_poll and (self._next_due is None or now < self._next_due):
            return out
        self._next_poll = now + 60_000
        for a in self.store.due_escalations(now):
            step = a.escalation_step + 1
            roles = escalation.roles_at(self.cfg, a.severity, step)
            nxt = escalation.next_due(self.cfg, a.severity, a.opened_at, step)
            change = self.store.record_escalation(a.id, step, nxt, now,
                                                  f"step {step}: {', '.join(r.value for r in roles)}")
            log.info("alert %d unacknowledged: escalated to step %d", a.id, step)
            self._notify(change, "escalated", step, roles)
            self._emit(change)
            out.append(change)
        self._next_due = self.store.next_escalation_at()
        return out

    # --- helpers -------------------------------------------------------------------------

    def _notify(self, change: AlertChange, event: str, step: int, roles: list[Role]) -> None:
        a = change.alert
        reg = self.registry()
        recipients = tuple(reg.audience(a.place, roles))
        contacts = tuple(reg.audience(a.place, [Role.FAMILY, Role.GRID_WORKER])) \
            if reg.nodes.get(a.place) is not None and reg.nodes[a.place].level is Level.HOUSEHOLD else ()
        self.notifier.notify(Notification(a, event, step, recipients, reg.location(a.place), contacts, change.at))

    def _emit(self, change: AlertChange) -> None:
        for sink in self.sinks:
            sink.emit(change)
