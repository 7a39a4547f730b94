"""`shouwang alerts`: the rules engine as a service on the MQTT stream.

paho's network thread only queues messages; one worker thread decodes them, runs the
engine and acknowledges each message after the store has committed what it caused
(broker_config/consumer.py: persistent session, manual acks of the current connection
only): a crash or a store outage loses no button press.
The same thread runs the engine's timers every `alerts.tick_s`.

Which engine acts (alerts/lease.py, alerts/partition.py):
  SQLite store       one engine; a second one on the same file is refused (a lock beside the file).
  PostgreSQL store   any number of engines. Each holds the leases of the partitions it was assigned
                     (`alerts.partitions`, 1 by default: one active engine, the others standing by with no
                     MQTT session at all). A Part is one held partition: its engine over a store fenced by
                     that lease, its own persistent MQTT session, its rebuilt state. A part whose lease is
                     lost stops before its next message or timer, acknowledging nothing more: the broker
                     redelivers what it had not acknowledged to the part's next holder.

A standby is warm: while it waits it has loaded what does not need the lease -- the notifier's channel plugins
(by building a notifier it never starts), the registry snapshot (read through a connection of its own that
never writes, its revision checked every REGISTRY_CHECK_S), the InfluxDB client. Taking a partition over then
costs the registry's delta (one revision query), the engine's rules over the snapshot, the rebuild from InfluxDB
and the store (fresh: it must see the readings up to the takeover), the notifier's start and the MQTT connection.
"""

from __future__ import annotations

import logging
import queue
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import paho.mqtt.client as mqtt
from paho.mqtt.subscribeoptions import SubscribeOptions
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from alerts import partition
from alerts.engine import Engine
from alerts.jetstream import alerts_consumer, ensure_alerts_consumers
from alerts.lease import (
    LeaseBook,
    LeaseLost,
    fence,
    fenced_url,
    instance_id,
    is_postgresql,
    load_state,
    save_state,
    sqlite_lock,
)
from alerts.metrics import AlertsMetrics
from alerts.notifier import NotifierFactory, ServiceNotifier
from alerts.rebuild import rebuild, save_routine
from alerts.settings import AlertsSettings
from alerts.sinks import InfluxAlertSink, MqttAlertSink
from broker_config import Account
from broker_config.consumer import Consumer, Delivery, log_says_subscribed
from ground.clock import Clock, SystemClock
from ground.errors import ConfigError
from ground.heartbeat import Heartbeat
from registry.model import RegistrySnapshot, load_snapshot, registry_revision
from storage.influx import InfluxClient
from storage.sql import Database, database_url
from wire import ContractError, decode
from wire.topics import ALL_TOPICS, StateTopic, log_topic, parse_topic

log = logging.getLogger(__name__)
ROUTINE_SAVE_MS = 3_600_000
REGISTRY_CHECK_S = 30.0
STANDBY_TRY_S = 0.25


def subscribed_check(log_file: Path) -> Callable[[], bool]:
    """Readiness of an `alerts` child: its log, from now on, says the subscription was granted."""
    return log_says_subscribed(log_file, ALL_TOPICS)


@dataclass
class ServiceCounters:
    received: int = 0
    handled: int = 0
    rejected: int = 0
    internal_errors: int = 0
    alerts_changed: int = 0
    lease_lost: int = 0
    rejected_by_code: dict[str, int] = field(default_factory=dict)


class GatewaysConsumer(Consumer):
    """A durable consumer of a partition's gateways: one subscription per gateway, more added as the registry grows."""

    def __init__(self, *args, topics: list[str], **kw) -> None:  # noqa: ANN002, ANN003
        super().__init__(*args, **kw)
        self.topics = list(topics)

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:  # noqa: ANN001
        if reason_code.is_failure:
            super()._on_connect(client, userdata, flags, reason_code, properties)
            return
        with self._lock:
            self._epoch += 1
        self._connected = True
        log.info("%s connected to broker (session present: %s)", self.client_id, flags.session_present)
        if self.topics:
            client.subscribe([(t, SubscribeOptions(qos=1)) for t in self.topics])
        else:
            log.info("%s: no registered gateway in this partition yet", self.client_id)
            self.ready.set()

    def add(self, topics: list[str]) -> None:
        new = [t for t in topics if t not in self.topics]
        if new:
            self.topics += new
            if self.connected:
                self.client.subscribe([(t, SubscribeOptions(qos=1)) for t in new])


class Part:
    """One partition this engine works on: its engine over a store fenced by the partition's lease, its MQTT session."""

    def __init__(self, svc: AlertsService, k: int, n: int, lease: str | None) -> None:
        self.svc, self.k, self.n, self.lease = svc, k, n, lease
        acfg = svc.acfg
        url = database_url(svc.cfg)
        if lease is not None:
            self.db = Database(fenced_url(url, acfg.lease_ttl_s), migrate_schema=False)
            fence(self.db, svc.book, lease)
        else:
            self.db = Database(url)
        self.notifier: ServiceNotifier = svc.notifier_factory(self.db, svc.clock)  # started by start()
        if n > 1:  # the deliveries of this partition's places (and partition 0: the escalations') are its own
            self.notifier.serve_only(lambda place, event: partition.delivery_owner(svc.places, place, event) == k)
        sinks: list = [svc.metrics]
        if svc.influx_sink is not None:
            sinks.append(svc.influx_sink)
        if acfg.publish_mqtt:
            sinks.append(MqttAlertSink(self._publish))
        self.engine = Engine(acfg, self.db, svc.clock, notifier=self.notifier, sinks=sinks,
                             view=lambda snap: partition.registry_view(snap, k, n), escalate=k == 0,
                             snapshot=svc.snapshot)
        self.notifier.bind_registry(self.engine.registry)
        self.notifier.observe_attempts(svc.metrics.attempt)
        cid = partition.client_id(acfg.client_id, k, n)
        on_message: Callable[[Delivery], None] = lambda d: svc.q.put((self, d))  # noqa: E731
        self.native = svc.cfg.broker.kind == "nats"
        if self.native:  # no MQTT session a gateway could take over (alerts/jetstream.py)
            self.consumer = alerts_consumer(svc.cfg, acfg.client_id, k, n, svc.ack_wait_s,  # type: ignore[assignment]
                                            on_message=on_message)
        elif n == 1:
            self.consumer: Consumer = Consumer(svc.cfg, Account.ALERTS, cid, ALL_TOPICS, on_message=on_message,
                                               session_expiry_s=acfg.session_expiry_s)
        else:
            self.consumer = GatewaysConsumer(svc.cfg, Account.ALERTS, cid, f"sw/v1/<partition {k} of {n}>",
                                             on_message=on_message, session_expiry_s=acfg.session_expiry_s,
                                             topics=[partition.PRESENCE, *self._topics()])
        self.rev = self.engine.registry().revision
        self.started = False

    def _topics(self) -> list[str]:
        return partition.topics(partition.gateways_of(self.engine.registry(), self.k, self.n))

    def takes(self, topic: str) -> bool:
        """Whether a message of this part's session is this partition's. Every partition hears every gateway's
        presence: another partition's is not ours; ours from a gateway the registry does not name adds its
        topics to this part's subscriptions (alerts/partition.py)."""
        if self.n == 1:
            return True
        try:
            t = parse_topic(topic)
        except ContractError:
            return True  # the decoder counts it as rejected
        if partition.partition_of(t.gateway, self.n) != self.k:
            return False  # on NATS every partition's consumer reads every gateway
        if (isinstance(self.consumer, GatewaysConsumer) and isinstance(t, StateTopic)
                and partition.topics([t.gateway])[0] not in self.consumer.topics):
            log.info("gateway %s, not in the registry, announced itself: partition %d of %d consumes it", t.gateway,
                     self.k, self.n)
            self.consumer.add(partition.topics([t.gateway]))
        return True

    def _publish(self, topic: str, payload: bytes, qos: int, retain: bool) -> None:
        self.consumer.publish(topic, payload, qos=qos, retain=retain)

    @property
    def state_name(self) -> str:
        return f"routine/p{self.k}of{self.n}"

    def valid(self) -> bool:
        return self.lease is None or self.svc.book.valid(self.lease)

    def start(self) -> None:
        """Rebuild this part's state (InfluxDB, the store, the routine its last holder saved) and consume."""
        routine_file = self.svc.routine_file
        tmp: Path | None = None
        if self.lease is not None:
            data = load_state(self.db, self.state_name)
            if data is not None:
                tmp = Path(tempfile.mkstemp(suffix=".npz")[1])
                tmp.write_bytes(data)
            routine_file = tmp
        try:
            rep = rebuild(self.engine, self.svc.influx, routine_file)
        finally:
            if tmp is not None:
                tmp.unlink(missing_ok=True)
        if self.n > 1:  # rebuild reads every gateway's presence: keep this partition's
            hs = self.engine.health
            hs.offline_since = {g: t for g, t in hs.offline_since.items()
                                if partition.partition_of(g, self.n) == self.k}
        log.info("rebuilt partition %d of %d: %s", self.k, self.n, rep)
        self.notifier.start()
        self.consumer.start()
        self.started = True
        log.info("alerts engine %s consuming %s from %s:%d", self.consumer.client_id,
                 ALL_TOPICS if self.n == 1 or self.native else f"{len(self._topics())} gateways and every presence",
                 self.consumer.host, self.consumer.port)

    def tick(self) -> int:
        changes = len(self.engine.tick())
        rev = self.engine.registry().revision
        if rev != self.rev and isinstance(self.consumer, GatewaysConsumer):
            self.consumer.add(self._topics())  # a gateway registered since: its messages come to this part too
        self.rev = rev
        return changes

    def save_routine(self) -> None:
        if self.lease is None:
            save_routine(self.engine, self.svc.routine_file)
            return
        with tempfile.TemporaryDirectory() as d:
            path = Path(d) / "routine.npz"
            save_routine(self.engine, path)
            save_state(self.db, self.state_name, path.read_bytes(), self.svc.clock.now_ms())

    def stop(self, *, save: bool) -> None:
        """Stop consuming (what was not acknowledged stays in the session for the next holder) and close."""
        if save:
            try:
                self.save_routine()
            except (OSError, LeaseLost, OperationalError) as exc:
                log.error("could not save the learned routine of partition %d: %s", self.k, exc)
        self.consumer.stop()
        self.notifier.close()
        self.db.close()


class AlertsService:
    """The engine behind an MQTT subscription, with InfluxDB and MQTT sinks."""

    def __init__(self, cfg: AlertsSettings, clock: Clock | None = None, *, notifier: NotifierFactory) -> None:
        """notifier builds the notifier the service hosts on its store and clock (the top gives the one that
        delivers: notify.dispatch.ChannelNotifier, see shouwang/services.py)."""
        self.cfg = cfg
        self.acfg = cfg.alerts
        # the wall clock, always: what a message says about time is the event's time, never the engine's
        self.clock = clock or SystemClock()
        self.counters = ServiceCounters()
        self.stop_event = threading.Event()
        self.q: queue.Queue[tuple[Part, Delivery]] = queue.Queue()
        self.influx = InfluxClient(cfg.influx)
        self.metrics = AlertsMetrics()
        self.notifier_factory = notifier
        self.influx_sink: InfluxAlertSink | None = None
        if self.acfg.write_influx:
            self.influx_sink = InfluxAlertSink(self.influx, self._grid_tag_ok)
        self.routine_file = cfg.state_path / "alerts" / "routine.npz"
        self.engine_id = instance_id()
        self.parts: dict[int, Part] = {}
        self.book: LeaseBook | None = None
        self.snapshot: RegistrySnapshot | None = None  # the whole registry, loaded while standing by (PostgreSQL)
        self.places: dict[str, int] = {}  # place -> the partition answering for its deliveries
        self.reader: Database | None = None
        self._lock_file: IO[str] | None = None
        self.url = database_url(cfg)
        self.shared = is_postgresql(self.url)
        # NATS: what a dead holder pulled and did not acknowledge goes to the next after this (its lease's TTL)
        self.ack_wait_s = max(5.0, self.acfg.lease_ttl_s)
        if cfg.broker.kind == "nats":  # every partition's consumer, before anyone waits for a lease
            ensure_alerts_consumers(cfg, self.acfg.client_id, self.acfg.partitions, self.ack_wait_s)
        if not self.shared:
            if self.acfg.partitions > 1:
                raise ConfigError("alerts.partitions > 1 needs the PostgreSQL store (alerts.database_url)")
            self._lock_file = sqlite_lock(Path(make_url(self.url).database or ""))
            self.parts[0] = Part(self, 0, 1, None)
            self.ready = self.parts[0].consumer.ready  # set once the broker granted the subscription
        else:
            if self.acfg.lease_renew_s * 2 > self.acfg.lease_ttl_s:
                raise ConfigError("alerts.lease_renew_s must be at most half of alerts.lease_ttl_s")
            # brings the schema to head once, before any fenced part opens it; then only reads (the warm registry)
            self.reader = Database(self.url)
            self.book = LeaseBook(self.url, self.engine_id, ttl_s=self.acfg.lease_ttl_s)
            self.ready = threading.Event()  # set once a part of ours consumes

    # the engine, notifier and consumer of partition 0 (the only one with one partition): tests and benchmarks
    @property
    def engine(self) -> Engine:
        return self.parts[0].engine

    @property
    def notifier(self) -> ServiceNotifier:
        return self.parts[0].notifier

    @property
    def consumer(self) -> Consumer:
        return self.parts[0].consumer

    def _grid_tag_ok(self) -> bool:
        part = next(iter(self.parts.values()), None)
        if part is None:
            return True
        reg = part.engine.registry()
        return sum(1 for n in reg.nodes.values() if n.level.value == "grid") <= self.acfg.grid_tag_max

    # --- work -----------------------------------------------------------------------------

    def _handle(self, part: Part, msg: mqtt.MQTTMessage) -> None:
        self.counters.received += 1
        try:
            decoded = decode(msg.topic, msg.payload, now_ms=self.clock.now_ms())  # the contract's clock-skew bound
        except ContractError as exc:
            # ingest dead-letters it with the reason; here it is only counted
            self.counters.rejected += 1
            self.counters.rejected_by_code[exc.code] = self.counters.rejected_by_code.get(exc.code, 0) + 1
            self.metrics.messages.labels("rejected").inc()
            log.debug("ignored a message on %s: %s", log_topic(msg.topic), exc.code)
            return
        delay = 0.5
        while True:
            try:
                changes = part.engine.handle(decoded)
                break
            except OperationalError as exc:
                # the store is down: hold this message (unacknowledged) and retry; nothing is lost
                log.error("alert store unavailable (%s); retrying in %.1f s", exc.orig, delay)
                if self.stop_event.wait(delay):
                    raise
                delay = min(delay * 2, 30)
        self.counters.handled += 1
        self.counters.alerts_changed += len(changes)
        self.metrics.messages.labels("handled").inc()

    def _tick(self, part: Part) -> None:
        try:
            with self.metrics.tick.time():
                self.counters.alerts_changed += part.tick()
        except OperationalError as exc:
            log.error("alert store unavailable during the timer run (%s); next tick retries", exc.orig)

    def _lost(self, part: Part, why: object) -> None:
        """A part whose lease is gone: it stops at once and acknowledges nothing more."""
        self.counters.lease_lost += 1
        log.warning("engine %s lost partition %d of %d (%s): stopped acting on it", self.engine_id, part.k, part.n,
                    why)
        self.parts.pop(part.k, None)
        part.stop(save=False)
        if part.lease is not None and self.book is not None:
            self.book.release(part.lease)  # ours or not, nobody should wait for it on our account

    # --- leases and partitions (PostgreSQL) ----------------------------------------------------

    def _keep_leases(self) -> None:
        """Renew every lease we hold, from a thread of its own: a long rebuild must not let them lapse."""
        assert self.book is not None
        while not self.stop_event.wait(self.acfg.lease_renew_s):
            for name in self.book.renew():
                log.warning("engine %s: lease %s lost", self.engine_id, name)

    def _rebalance(self) -> None:
        """Take a free partition or give one up (alerts/partition.py), and stop parts whose lease lapsed."""
        assert self.book is not None
        n = self.acfg.partitions
        for part in list(self.parts.values()):
            if not part.valid():
                self._lost(part, "lease expired or taken over")
        member = partition.MEMBER_PREFIX + self.engine_id
        if member not in self.book.held and self.book.acquire(member) is None:
            return
        try:
            engines = len(self.book.live(partition.MEMBER_PREFIX))
            taken = {int(name.split("/p")[1].split("of")[0]) for name in self.book.live("alerts/p")
                     if name.endswith(f"of{n}")}
        except OperationalError as exc:
            log.warning("lease table unreadable (%s)", exc.orig)
            return
        take, give = partition.plan(n, set(self.parts), taken | set(self.parts), engines)
        if give is not None:
            part = self.parts.pop(give)
            log.info("engine %s gives partition %d of %d up (%d engines share %d partitions)", self.engine_id, give,
                     n, engines, n)
            part.stop(save=True)
            self.book.release(part.lease or "")
        if take is not None:
            name = partition.lease_name(take, n)
            lease = self.book.acquire(name)
            if lease is None:
                return
            t0 = time.monotonic()
            log.info("engine %s took partition %d of %d (lease %s token %d): rebuilding", self.engine_id, take, n,
                     name, lease.token)
            try:
                self._refresh_registry()  # the delta since the standby loaded it
            except OperationalError as exc:
                log.warning("registry unreadable (%s): partition %d starts on the one loaded before", exc.orig, take)
            try:
                part = Part(self, take, n, name)
                self.parts[take] = part
                part.start()
            except LeaseLost as exc:
                self.parts.pop(take, None)
                log.warning("partition %d of %d lost while starting: %s", take, n, exc)
                self.book.release(name)
                return
            log.info("engine %s active on partition %d of %d after %.2f s", self.engine_id, take, n,
                     time.monotonic() - t0)

    def _refresh_registry(self, force: bool = False) -> None:
        """Load the whole registry again if an import changed it (PostgreSQL: parts are built over it)."""
        assert self.reader is not None
        if not force and self.snapshot is not None:
            with self.reader.session() as s:
                if registry_revision(s) == self.snapshot.revision:
                    return
        self.snapshot = load_snapshot(self.reader)
        if self.acfg.partitions > 1:
            self.places = partition.place_partitions(self.snapshot, self.acfg.partitions)

    def _warm(self) -> None:
        """Load, before holding any lease, what taking a partition over would otherwise wait for."""
        t0 = time.monotonic()
        self._refresh_registry(force=True)
        assert self.reader is not None and self.snapshot is not None
        # the notifier's module and its channels' plugins load once per process; never started, it sends nothing
        self.notifier_factory(self.reader, self.clock).close()
        log.info("engine %s warm after %.2f s (registry revision %d, %d devices)", self.engine_id,
                 time.monotonic() - t0, self.snapshot.revision, len(self.snapshot.devices))

    def _role(self) -> dict[str, object]:
        n = self.acfg.partitions
        self.metrics.role(set(self.parts), n)
        held = ",".join(str(k) for k in sorted(self.parts)) or "-"
        return {"engine": self.engine_id, "role": "active" if self.parts else "standby",
                "partitions": f"{held} of {n}"}

    # --- the loop ------------------------------------------------------------------------------

    def run(self) -> None:
        """Rebuild state, connect, and process until stop()."""
        if self.acfg.metrics_port:
            self.metrics.serve(self.acfg.metrics_host, self.acfg.metrics_port)
        keeper: threading.Thread | None = None
        if self.book is None:
            self.parts[0].start()
        else:
            log.info("alerts engine %s starting with %d partition(s); standing by until it holds a lease",
                     self.engine_id, self.acfg.partitions)
            self._warm()
            keeper = threading.Thread(target=self._keep_leases, name="alerts-leases", daemon=True)
            keeper.start()
        next_tick = time.monotonic()
        next_balance = time.monotonic()
        next_save = self.clock.now_ms() + ROUTINE_SAVE_MS
        next_registry = time.monotonic() + REGISTRY_CHECK_S
        # beats from this loop (at least every tick): a hung or stopped engine stops beating (shouwang watchdog)
        self.heartbeat = Heartbeat(self.cfg.state_path, "alerts")
        try:
            while not self.stop_event.is_set():
                if self.book is not None and time.monotonic() >= next_balance:
                    self._rebalance()
                    # a standby tries the lease 4 times a second: it takes over within 0.25 s of the expiry
                    next_balance = time.monotonic() + (self.acfg.lease_renew_s if self.parts else
                                                       min(self.acfg.lease_renew_s, STANDBY_TRY_S))
                    if self.parts and all(p.consumer.ready.is_set() for p in self.parts.values()):
                        self.ready.set()
                if self.book is not None and time.monotonic() >= next_registry:
                    next_registry = time.monotonic() + REGISTRY_CHECK_S
                    try:
                        self._refresh_registry()  # stay warm: a takeover then loads no registry
                    except OperationalError as exc:
                        log.warning("registry unreadable (%s); next check retries", exc.orig)
                timeout = max(0.0, min(next_tick, next_balance if self.book else next_tick) - time.monotonic())
                try:
                    part, delivery = self.q.get(timeout=timeout)
                except queue.Empty:
                    part = delivery = None  # type: ignore[assignment]
                if delivery is not None and self.parts.get(part.k) is part:
                    if not part.valid():
                        self._lost(part, "lease expired")
                        continue
                    if not part.takes(delivery.message.topic):
                        part.consumer.ack([delivery])  # another partition's gateway's presence: its session has it
                        continue
                    try:
                        self._handle(part, delivery.message)
                    except LeaseLost as exc:
                        self._lost(part, exc)
                        continue
                    except OperationalError:
                        break  # stopping while the store is down: leave it unacknowledged
                    except Exception:  # a rule bug must not stop the stream: count it, keep the traceback
                        self.counters.internal_errors += 1
                        self.metrics.messages.labels("internal_error").inc()
                        log.exception("internal error on a message on %s", log_topic(delivery.message.topic))
                    # only if it arrived on this connection: an earlier one's messages are redelivered
                    part.consumer.ack([delivery])
                # (a message of a part stopped since is dropped unacknowledged: its next holder receives it)
                if time.monotonic() >= next_tick:
                    next_tick = time.monotonic() + self.acfg.tick_s
                    save = self.clock.now_ms() >= next_save
                    if save:
                        next_save = self.clock.now_ms() + ROUTINE_SAVE_MS
                    for part in list(self.parts.values()):
                        if not part.valid():
                            self._lost(part, "lease expired")
                            continue
                        try:
                            self._tick(part)
                            if save:
                                part.save_routine()
                        except LeaseLost as exc:
                            self._lost(part, exc)
                self.heartbeat.beat({"received": self.counters.received, "handled": self.counters.handled,
                                     "alerts_changed": self.counters.alerts_changed, "queued": self.q.qsize(),
                                     **self._role()})
        finally:
            self.heartbeat.stopped()
            self._shutdown()
            if keeper is not None:
                keeper.join(timeout=self.acfg.lease_renew_s + 2)

    def _shutdown(self) -> None:
        for part in list(self.parts.values()):
            part.stop(save=part.valid())
            if part.lease is not None and self.book is not None:
                self.book.release(part.lease)  # a clean stop: the standby takes over at once
        self.parts.clear()
        if self.influx_sink is not None:
            self.influx_sink.flush(5)
            self.influx_sink.close()
        self.influx.close()
        if self.book is not None:
            self.book.close()
        if self.reader is not None:
            self.reader.close()
        if self._lock_file is not None:
            self._lock_file.close()

    def stop(self) -> None:
        self.stop_event.set()
