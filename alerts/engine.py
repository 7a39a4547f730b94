"""The rules engine: decoded messages and clock ticks in, alert changes out.

Transport-free (the MQTT service and the evaluation runner both drive it) and single-
threaded: the caller serialises handle() and tick(). Time comes only from the injected clock,
notifications go to the injected notifier (notify/: ChannelNotifier in the service,
StoreNotifier in the evaluation and tests).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable

from alerts.lifecycle import AlertChange
from alerts.manager import AlertManager
from alerts.notifier import Notifier
from alerts.rules.base import BaseRule, RuleContext, RuleSet
from alerts.rules.button import CallButtonRule
from alerts.rules.camera import CameraRule
from alerts.rules.health import HealthRule
from alerts.rules.river import RiverRule
from alerts.rules.water import WaterRule
from alerts.settings import AlertsConfig
from alerts.sinks import Sink
from alerts.store import AlertStore
from alerts.types import Rule
from ground.clock import Clock
from registry.model import RegistrySnapshot, load_snapshot, registry_revision
from storage.sql import Database
from wire.models import Message, StateMessage

log = logging.getLogger(__name__)
REGISTRY_CHECK_MS = 30_000
REARM_CHECK_MS = 300_000  # how often the store is asked for inactivity alerts people closed (Engine._rearm)
WARNED_MAX = 10_000  # (gateway, device) pairs warned about once each (Engine.own_gateway)


class Engine:
    """Rules + lifecycle over one store, driven by an injected clock."""

    def __init__(self, cfg: AlertsConfig, db: Database, clock: Clock, *, notifier: Notifier,
                 sinks: list[Sink] | None = None,
                 view: Callable[[RegistrySnapshot], RegistrySnapshot] | None = None, escalate: bool = True,
                 snapshot: RegistrySnapshot | None = None) -> None:
        """view: the part of the registry this engine judges (a partition's devices, alerts/partition.py);
        escalate: whether this engine runs the store's escalation timers (one engine among partitions does);
        snapshot: the registry as loaded already (a standby's, alerts/service.py) instead of loading it here."""
        self.cfg = cfg
        self.db = db
        self.clock = clock
        self.store = AlertStore(db)
        self._view = view or (lambda snap: snap)
        self.escalate = escalate
        self._registry = self._view(snapshot if snapshot is not None else load_snapshot(db))
        self.ctx = RuleContext.create(cfg, self.registry)
        start = clock.now_ms()
        self.button = CallButtonRule(self.ctx)
        self.health = HealthRule(self.ctx, start)
        self.river = RiverRule(self.ctx)
        self.water = WaterRule(self.ctx, start)
        self.camera = CameraRule(self.ctx)
        self.rules = RuleSet([self.button, self.health, self.river, self.water, self.camera])
        self.notifier = notifier
        self.manager = AlertManager(self.store, self.registry, self.notifier, cfg, sinks or [])
        self._next_registry_check = start + REGISTRY_CHECK_MS
        self._next_rearm_check = start + REARM_CHECK_MS
        self.foreign = 0  # messages for a registered device from a gateway other than its own
        self._warned: set[tuple[str, str]] = set()
        log.info("engine ready: registry revision %d, %d devices, %d monitored households",
                 self._registry.revision, len(self._registry.devices), len(self.water.codes))

    def registry(self) -> RegistrySnapshot:
        return self._registry

    def reload_registry(self, force: bool = False) -> bool:
        """Load the registry again if an import changed it; True if it did."""
        if not force:
            with self.db.session() as s:
                if registry_revision(s) == self._registry.revision:
                    return False
        snap = self._view(load_snapshot(self.db))
        self._registry = snap
        self.rules.registry_changed(snap)
        log.info("registry revision %d loaded: %d devices, %d monitored households", snap.revision,
                 len(snap.devices), len(self.water.codes))
        return True

    def handle(self, msg: Message | StateMessage) -> list[AlertChange]:
        """One validated message from the stream."""
        now = self.clock.now_ms()
        if isinstance(msg, Message):
            actions = self.rules.on_message(self.own_gateway(msg), now)
        else:
            actions = self.rules.on_state(msg, now)
        return self.manager.apply(actions, now) if actions else []

    def own_gateway(self, msg: Message) -> Message:
        """A device speaks only through the gateway the registry puts it on. A message for a registered device
        from another gateway (one gateway's stolen credentials naming a neighbour's button or meter, or a device
        moved before the registry says so) is taken as from an unregistered device `{device}@{gateway}`: a press
        still raises (without a location: nothing lost), but it cancels, clears or feeds nothing of the
        registered device - a cancel cannot swallow its press, a reading cannot end its household's silence."""
        dev = self._registry.devices.get(msg.device)
        if dev is None or not dev.gateway or dev.gateway == msg.gateway:
            return msg
        self.foreign += 1
        key = (msg.gateway, msg.device)
        if key not in self._warned and len(self._warned) < WARNED_MAX:
            self._warned.add(key)
            log.warning("gateway %s sent a %s %s for device %s, which is registered on gateway %s: taken as an "
                        "unregistered device (further ones from it not logged)", msg.gateway, msg.kind.value,
                        msg.channel.value, msg.device, dev.gateway)
        return dataclasses.replace(msg, device=f"{msg.device}@{msg.gateway}")

    def tick(self) -> list[AlertChange]:
        """Run timers: inactivity, silence, offline gateways, escalation; reload a changed registry."""
        now = self.clock.now_ms()
        if now >= self._next_registry_check:
            self._next_registry_check = now + REGISTRY_CHECK_MS
            self.reload_registry()
        if now >= self._next_rearm_check:
            self._next_rearm_check = now + REARM_CHECK_MS
            self._rearm(now)
        changes = self.manager.apply(self.rules.tick(now), now)
        return (changes + self.manager.tick(now)) if self.escalate else changes

    def _rearm(self, now: int) -> None:
        """An inactivity alert people closed while the silence goes on (an answer "她/他没事" in the console
        process, staff resolving it) restarts the household's clock now: a silence that goes on is raised
        again as a new episode, never silenced by the close. Asked of the store every REARM_CHECK_MS, and only
        when some household's silence has raised an alert."""
        silent = self.water.alerted_silent()
        if not silent:
            return
        active = {a.subject for a in self.manager.store.active(Rule.WATER_INACTIVITY)}
        for code in silent:
            if code not in active:
                self.water.rearm(code, now)

    def rule(self, kind: type) -> BaseRule:
        return self.rules.get(kind)
