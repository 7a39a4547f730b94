"""What every request handler shares: config, store, actions, registry cache, InfluxDB, the change hub, audit."""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from alerts.actions import Actor, AlertActions
from alerts.lifecycle import AlertChange
from alerts.sinks import change_payload
from alerts.store import AlertStore
from console.auth import LoginLimiter, User
from console.scope import Scope, children_of
from console.settings import ConsoleSettings
from console.stream import Hub
from console.tables import AuditLog
from ground.clock import Clock, SystemClock
from notify.links import AckLinks
from registry.model import RegistrySnapshot, load_snapshot, registry_revision
from storage.influx import InfluxClient
from storage.sql import Database

log = logging.getLogger(__name__)
REGISTRY_CHECK_S = 2.0


class RegistryCache:
    """The registry snapshot, reloaded when its revision changes (checked at most every 2 s)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._lock = threading.Lock()
        self._snap = load_snapshot(db)
        self._kids = children_of(self._snap)
        self._checked = time.monotonic()
        self._scopes: dict[tuple[str, tuple[str, ...]], Scope] = {}

    def get(self) -> RegistrySnapshot:
        now = time.monotonic()
        if now - self._checked >= REGISTRY_CHECK_S:
            self._checked = now
            with self.db.session() as s:
                rev = registry_revision(s)
            if rev != self._snap.revision:
                self.reload()
        return self._snap

    def reload(self) -> None:
        snap = load_snapshot(self.db)
        with self._lock:
            self._snap, self._kids, self._scopes = snap, children_of(snap), {}
            self._checked = time.monotonic()

    def scope(self, user: User) -> Scope:
        snap = self.get()
        key = (user.role.value, user.scopes)
        with self._lock:
            sc = self._scopes.get(key)
            if sc is None:
                sc = Scope.build(user.role, user.scopes, snap, self._kids)
                self._scopes[key] = sc
            return sc


@dataclass
class AppContext:
    cfg: ConsoleSettings
    db: Database
    influx: InfluxClient | None
    clock: Clock = field(default_factory=SystemClock)
    hub: Hub = field(default_factory=Hub)
    sinks: list = field(default_factory=list)  # alerts.sinks.Sink: MQTT event, InfluxDB point (added at start-up)
    on_close: list[Callable[[], None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.store = AlertStore(self.db)
        #: people's changes: store and alert trail, this audit log, the live stream, then the sinks
        self.actions = AlertActions(self.store, self.clock, sinks=self.sinks, listeners=[self._to_stream],
                                    audit=self._audit_actor)
        self.registry = RegistryCache(self.db)
        self.limiter = LoginLimiter(self.cfg.api.login_max_failures, self.cfg.api.login_window_s)
        self.links = AckLinks(self.cfg.api.secret_key.get_secret_value(), self.cfg.api.base_url,
                              int(self.cfg.notify.ack_link_ttl_h * 3_600_000))
        #: keys the digests that stand for unknown names typed at login (console.auth.audit_name)
        secret = self.cfg.api.secret_key.get_secret_value().encode()
        self.audit_key = hashlib.sha256(b"shouwang-audit-name\0" + secret).digest()

    def now(self) -> int:
        return self.clock.now_ms()

    def audit(self, actor: str, role: str, action: str, target: str, detail: str = "", address: str = "") -> None:
        """Record one write made through the API."""
        with self.db.session() as s, s.begin():
            s.add(AuditLog(at=self.now(), actor=actor[:64], role=role[:32], action=action[:64], target=target[:200],
                           detail=detail[:4000], address=address[:64]))

    def _audit_actor(self, actor: Actor, action: str, target: str, detail: str) -> None:
        self.audit(actor.name, actor.role, action, target, detail, actor.address)

    def _to_stream(self, change: AlertChange) -> None:
        """A change made here reaches the live stream at once (it comes back over MQTT, recognised as seen)."""
        self.hub.publish(change_payload(change))

    def close(self) -> None:
        for fn in reversed(self.on_close):
            fn()
