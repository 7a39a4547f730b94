"""AlertManager: applies rule actions to the store, notifies along the ladder, feeds the sinks.

Rules say Raise / Clear / Cancel; the manager keeps the lifecycle's promises (one active
alert per (rule, subject), an episode never raised twice, escalation while unacknowledged)
and tells every sink (InfluxDB, MQTT) about every change it makes. People's changes take the
same sinks through alerts/actions.py. Alerts of the check-in rules ask the family and the resident
first and push staff only when nobody answers (alerts/checkin.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from zoneinfo import ZoneInfo

from alerts import checkin, escalation
from alerts.lifecycle import AlertChange, AlertView
from alerts.notifier import Notification, Notifier
from alerts.settings import AlertsConfig
from alerts.sinks import Sink
from alerts.store import AlertStore
from alerts.types import Action, Cancel, CheckIn, Clear, Raise, Rule
from registry.model import RegistrySnapshot
from registry.types import Level, Role

log = logging.getLogger(__name__)
#: how often the store is asked for due escalations another process may have made due (a check-in answered
#: "联系不上" in the console); without check-ins, once a minute is enough for alerts other engines opened
POLL_CHECKIN_MS = 5_000
POLL_MS = 60_000


class AlertManager:
    """The one path by which the engine changes alerts (people's: alerts/actions.py)."""

    def __init__(self, store: AlertStore, registry: Callable[[], RegistrySnapshot], notifier: Notifier,
                 cfg: AlertsConfig, sinks: Iterable[Sink] = ()) -> None:
        self.store = store
        self.registry = registry
        self.notifier = notifier
        self.cfg = cfg
        self.sinks = list(sinks)
        self.tz = ZoneInfo(cfg.timezone)
        self._poll_ms = POLL_CHECKIN_MS if cfg.checkin.enabled else POLL_MS
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
            if isinstance(act, Cancel) and act.rule is Rule.CALL_BUTTON:
                changes += self._resident_answers(act.subject, act.at_ms or now, now)
        return changes

    def _apply_one(self, act: Action, now: int) -> AlertChange | None:
        if isinstance(act, Raise):
            reg = self.registry()
            grid = reg.ancestor(act.place, Level.GRID) or ""
            opened = act.at_ms or now
            ask, nxt = self._checkin_start(act, reg, opened, now)
            change = self.store.raise_alert(act, grid=grid, now=now, next_escalation_at=nxt, checkin=ask)
            if change is None:
                return None
            if change.action == "opened":
                nxt = change.alert.next_escalation_at
                if nxt is not None and (self._next_due is None or nxt < self._next_due):
                    self._next_due = nxt
                roles = escalation.roles_at(self.cfg, act.severity, 0)
                if ask is None:
                    log.info("alert %d opened: %s %s on %s", change.alert.id, act.severity, act.rule, act.subject)
                    self._notify(change, "opened", 0, roles)
                else:
                    log.info("alert %d opened: %s %s on %s; check-in %s", change.alert.id, act.severity, act.rule,
                             act.subject, ask)
                    if ask is not CheckIn.NO_FAMILY:
                        self._notify(change, "checkin", 0, [Role.FAMILY])
                    if ask is not CheckIn.ASKING:
                        self._notify(change, "opened", 0, [r for r in roles if r is not Role.FAMILY])
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
        if a.checkin is not None and a.staff_pushed_at is None:
            return [Role.FAMILY]  # only the family was asked: staff saw it on the board, nobody pushed them
        return escalation.roles_up_to(self.cfg, a.severity, a.escalation_step)

    # --- the check-in step (alerts/checkin.py) ----------------------------------------------

    def _checkin_start(self, act: Raise, reg: RegistrySnapshot, opened: int,
                       now: int) -> tuple[CheckIn | None, int | None]:
        """How a new alert starts (its check-in, None: no check-in) and when its timer is first due."""
        if not checkin.applies(self.cfg.checkin, act.rule):
            return None, escalation.next_due(self.cfg, act.severity, opened, 0)
        if not reg.audience(act.place, [Role.FAMILY]):
            return CheckIn.NO_FAMILY, escalation.next_due(self.cfg, act.severity, now, 0)
        if checkin.is_night(self.cfg.checkin, self.tz, now):
            return CheckIn.NIGHT, escalation.next_due(self.cfg, act.severity, now, 0)
        return CheckIn.ASKING, checkin.deadline(self.cfg.checkin, now)

    def _push_staff(self, a: AlertView, why: CheckIn, now: int) -> AlertChange:
        """Push the first rung's staff (the family was asked already) after a check-in nobody answered or the
        family answered "联系不上"."""
        base = now if a.staff_pushed_at is None else a.staff_pushed_at
        nxt = escalation.next_due(self.cfg, a.severity, base, a.escalation_step)
        roles = [r for r in escalation.roles_at(self.cfg, a.severity, 0) if r is not Role.FAMILY]
        change = self.store.push_staff(a.id, why, nxt, now, f"check-in {why}: {', '.join(r.value for r in roles)}")
        log.info("alert %d: check-in %s, staff pushed", a.id, why)
        self._notify(change, f"checkin_{why}", a.escalation_step, roles)
        self._emit(change)
        return change

    def _resident_answers(self, subject: str, at: int, now: int) -> list[AlertChange]:
        """A call button's cancel key answers the household's pending check-ins: the resident is fine."""
        out = []
        for rule in sorted(checkin.CHECKIN_RULES):
            a = self.store.checkin_pending_for(rule, subject)
            if a is None:
                continue
            change = self.store.checkin_ok(a.id, CheckIn.OK_RESIDENT, "resident", "device", min(max(at, 0), now))
            log.info("alert %d closed as no emergency: the resident answered the check-in", a.id)
            self._notify(change, "checkin_ok", change.alert.escalation_step, self._told(change.alert))
            self._emit(change)
            out.append(change)
        return out

    # --- timers ---------------------------------------------------------------------------

    def tick(self, now: int) -> list[AlertChange]:
        """Escalate every open alert whose next step is due."""
        out: list[AlertChange] = []
        if now < self._next_poll and (self._next_due is None or now < self._next_due):
            return out
        self._next_poll = now + self._poll_ms
        for a in self.store.due_escalations(now):
            if a.checkin is CheckIn.ASKING:
                out.append(self._push_staff(a, CheckIn.NO_ANSWER, now))
                continue
            if a.checkin is CheckIn.UNREACHABLE and (a.staff_pushed_at is None or a.staff_pushed_at < (a.checkin_at or 0)):
                out.append(self._push_staff(a, CheckIn.UNREACHABLE, now))
                continue
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
