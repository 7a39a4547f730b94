"""`shouwang alerts`: the rules engine as a service on the MQTT stream.

paho's network thread only queues messages; one worker thread decodes them, runs the
engine and acknowledges each message after the store has committed what it caused
(broker_config/consumer.py: persistent session, manual acks of the current connection
only): a crash or a store outage loses no button press.
The same thread runs the engine's timers every `alerts.tick_s`.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as mqtt
from sqlalchemy.exc import OperationalError

from alerts.engine import Engine
from alerts.metrics import AlertsMetrics
from alerts.notifier import NotifierFactory
from alerts.rebuild import rebuild, save_routine
from alerts.settings import AlertsSettings
from alerts.sinks import InfluxAlertSink, MqttAlertSink
from broker_config import Account
from broker_config.consumer import Consumer, Delivery, log_says_subscribed
from ground.clock import Clock, SystemClock
from ground.heartbeat import Heartbeat
from storage.influx import InfluxClient
from storage.sql import Database
from wire import ContractError, decode
from wire.topics import ALL_TOPICS, log_topic

log = logging.getLogger(__name__)
ROUTINE_SAVE_MS = 3_600_000


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
    rejected_by_code: dict[str, int] = field(default_factory=dict)


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
        self.q: queue.Queue[Delivery] = queue.Queue()
        self.db = Database.from_config(cfg)
        self.influx = InfluxClient(cfg.influx)
        self.consumer = Consumer(cfg, Account.ALERTS, self.acfg.client_id, ALL_TOPICS, on_message=self.q.put,
                                 session_expiry_s=self.acfg.session_expiry_s)
        self.ready = self.consumer.ready  # set once the broker granted the subscription
        self.metrics = AlertsMetrics()
        sinks: list = [self.metrics]
        self.influx_sink: InfluxAlertSink | None = None
        if self.acfg.write_influx:
            self.influx_sink = InfluxAlertSink(self.influx, self._grid_tag_ok)
            sinks.append(self.influx_sink)
        if self.acfg.publish_mqtt:
            sinks.append(MqttAlertSink(self._publish))
        self.notifier = notifier(self.db, self.clock)
        self.engine = Engine(self.acfg, self.db, self.clock, notifier=self.notifier, sinks=sinks)
        self.notifier.bind_registry(self.engine.registry)
        self.notifier.observe_attempts(self.metrics.attempt)
        self.routine_file = cfg.state_path / "alerts" / "routine.npz"

    def _grid_tag_ok(self) -> bool:
        reg = self.engine.registry()
        return sum(1 for n in reg.nodes.values() if n.level.value == "grid") <= self.acfg.grid_tag_max

    # --- MQTT -------------------------------------------------------------------------

    def _publish(self, topic: str, payload: bytes, qos: int, retain: bool) -> None:
        self.consumer.publish(topic, payload, qos=qos, retain=retain)

    # --- work -----------------------------------------------------------------------------

    def _handle(self, msg: mqtt.MQTTMessage) -> None:
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
                changes = self.engine.handle(decoded)
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

    def _tick(self) -> None:
        try:
            with self.metrics.tick.time():
                self.counters.alerts_changed += len(self.engine.tick())
        except OperationalError as exc:
            log.error("alert store unavailable during the timer run (%s); next tick retries", exc.orig)

    def run(self) -> None:
        """Rebuild state, connect, and process until stop()."""
        rep = rebuild(self.engine, self.influx, self.routine_file)
        log.info("rebuilt: %s", rep)
        if self.acfg.metrics_port:
            self.metrics.serve(self.acfg.metrics_host, self.acfg.metrics_port)
        self.consumer.start()
        log.info("alerts engine %s consuming %s from %s:%d", self.acfg.client_id, ALL_TOPICS, self.consumer.host,
                 self.consumer.port)
        next_tick = time.monotonic()
        next_save = self.clock.now_ms() + ROUTINE_SAVE_MS
        # beats from this loop (at least every tick): a hung or stopped engine stops beating (shouwang watchdog)
        self.heartbeat = Heartbeat(self.cfg.state_path, "alerts")
        try:
            while not self.stop_event.is_set():
                timeout = max(0.0, next_tick - time.monotonic())
                try:
                    delivery: Delivery | None = self.q.get(timeout=timeout)
                except queue.Empty:
                    delivery = None
                if delivery is not None:
                    try:
                        self._handle(delivery.message)
                    except OperationalError:
                        break  # stopping while the store is down: leave it unacknowledged
                    except Exception:  # a rule bug must not stop the stream: count it, keep the traceback
                        self.counters.internal_errors += 1
                        self.metrics.messages.labels("internal_error").inc()
                        log.exception("internal error on a message on %s", log_topic(delivery.message.topic))
                    # only if it arrived on this connection: an earlier one's messages are redelivered
                    self.consumer.ack([delivery])
                if time.monotonic() >= next_tick:
                    next_tick = time.monotonic() + self.acfg.tick_s
                    self._tick()
                    if self.clock.now_ms() >= next_save:
                        next_save = self.clock.now_ms() + ROUTINE_SAVE_MS
                        save_routine(self.engine, self.routine_file)
                self.heartbeat.beat({"received": self.counters.received, "handled": self.counters.handled,
                                     "alerts_changed": self.counters.alerts_changed, "queued": self.q.qsize()})
        finally:
            self.heartbeat.stopped()
            self._shutdown()

    def _shutdown(self) -> None:
        try:
            save_routine(self.engine, self.routine_file)
        except OSError as exc:
            log.error("could not save the learned routine: %s", exc)
        self.consumer.stop()
        if self.influx_sink is not None:
            self.influx_sink.flush(5)
            self.influx_sink.close()
        self.influx.close()
        self.notifier.close()
        self.db.close()

    def stop(self) -> None:
        self.stop_event.set()
