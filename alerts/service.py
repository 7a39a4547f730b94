"""`shouwang alerts`: the rules engine as a service on the MQTT stream.

paho's network thread only queues messages; one worker thread decodes them, runs the
engine and acknowledges each message after the store has committed what it caused
(manual acks, persistent session): a crash or a store outage loses no button press.
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
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions
from sqlalchemy.exc import OperationalError

from alerts.clock import Clock, ReplayClock, SystemClock
from alerts.engine import Engine
from alerts.rebuild import rebuild, save_routine
from alerts.settings import AlertsSettings
from alerts.sinks import InfluxAlertSink, MqttAlertSink
from broker_config import Account, service_client, service_endpoint
from storage.influx import InfluxClient
from storage.sql import Database
from wire import ContractError, Message, decode
from wire.topics import ALL_TOPICS, log_topic

log = logging.getLogger(__name__)
ROUTINE_SAVE_MS = 3_600_000
SUBSCRIBED_LINE = b"subscribed to sw/v1/#"


def subscribed_check(log_file: Path) -> Callable[[], bool]:
    """Readiness of an `alerts` child: its log, from now on, says the subscription was granted."""
    try:
        offset = log_file.stat().st_size
    except OSError:
        offset = 0

    def ready() -> bool:
        try:
            with open(log_file, "rb") as fh:
                fh.seek(offset)
                return SUBSCRIBED_LINE in fh.read()
        except OSError:
            return False

    return ready


@dataclass
class ServiceCounters:
    received: int = 0
    handled: int = 0
    rejected: int = 0
    internal_errors: int = 0
    alerts_changed: int = 0
    connected: bool = False
    rejected_by_code: dict[str, int] = field(default_factory=dict)


class AlertsService:
    """The engine behind an MQTT subscription, with InfluxDB and MQTT sinks."""

    def __init__(self, cfg: AlertsSettings, clock: Clock | None = None) -> None:
        self.cfg = cfg
        self.acfg = cfg.alerts
        if clock is None and cfg.alerts.replay_start_ms is not None:
            clock = ReplayClock(cfg.alerts.replay_start_ms, cfg.alerts.replay_speed)
        self.clock = clock or SystemClock()
        self.counters = ServiceCounters()
        self.stop_event = threading.Event()
        self.ready = threading.Event()
        self.q: queue.Queue[tuple[int, mqtt.MQTTMessage]] = queue.Queue()
        self.db = Database.from_config(cfg)
        self.influx = InfluxClient(cfg.influx)
        self.client = self._make_client()
        sinks = []
        self.influx_sink: InfluxAlertSink | None = None
        if self.acfg.write_influx:
            self.influx_sink = InfluxAlertSink(self.influx, self._grid_tag_ok)
            sinks.append(self.influx_sink)
        if self.acfg.publish_mqtt:
            sinks.append(MqttAlertSink(self._publish))
        from notify.dispatch import ChannelNotifier  # push delivery through Apprise (docs/console.md)

        self.notifier = ChannelNotifier(self.db, cfg, self.clock)
        self.engine = Engine(self.acfg, self.db, self.clock, notifier=self.notifier, sinks=sinks)
        self.notifier.bind_registry(self.engine.registry)
        self.routine_file = cfg.state_path / "alerts" / "routine.npz"
        self._epoch = 0

    def _grid_tag_ok(self) -> bool:
        reg = self.engine.registry()
        return sum(1 for n in reg.nodes.values() if n.level.value == "grid") <= self.acfg.grid_tag_max

    # --- MQTT -------------------------------------------------------------------------

    def _make_client(self) -> mqtt.Client:
        c = service_client(self.cfg, Account.ALERTS, self.acfg.client_id, manual_ack=True)
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_message = self._on_message
        c.on_subscribe = self._on_subscribe
        return c

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:  # noqa: ANN001
        if any(rc.is_failure for rc in reason_codes):
            log.error("subscription to %s refused by the broker: %s", ALL_TOPICS, reason_codes)
            return
        log.info("subscribed to %s", ALL_TOPICS)  # SUBSCRIBED_LINE: `shouwang up` waits for it
        self.ready.set()

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:  # noqa: ANN001
        if reason_code.is_failure:
            log.error("broker refused the connection: %s", reason_code)
            return
        self._epoch += 1
        self.counters.connected = True
        log.info("connected to broker (session present: %s)", flags.session_present)
        client.subscribe(ALL_TOPICS, options=SubscribeOptions(qos=1))

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:  # noqa: ANN001
        self.counters.connected = False
        if not self.stop_event.is_set():
            log.warning("disconnected from broker: %s; reconnecting", reason_code)

    def _on_message(self, client, userdata, msg: mqtt.MQTTMessage) -> None:  # noqa: ANN001
        self.q.put((self._epoch, msg))

    def _publish(self, topic: str, payload: bytes, qos: int, retain: bool) -> None:
        self.client.publish(topic, payload, qos=qos, retain=retain)

    # --- work -----------------------------------------------------------------------------

    def _handle(self, msg: mqtt.MQTTMessage) -> None:
        self.counters.received += 1
        # clock skew is judged against real time: during a replay the engine's clock is behind it, and a
        # gateway's birth carries the real time of its connection
        replay = self.clock if isinstance(self.clock, ReplayClock) else None
        try:
            decoded = decode(msg.topic, msg.payload, now_ms=(replay.wall if replay else self.clock).now_ms(),
                             max_future_ms=self.cfg.ingest.max_future_skew_s * 1000)
        except ContractError as exc:
            # ingest dead-letters it with the reason; here it is only counted
            self.counters.rejected += 1
            self.counters.rejected_by_code[exc.code] = self.counters.rejected_by_code.get(exc.code, 0) + 1
            log.debug("ignored a message on %s: %s", log_topic(msg.topic), exc.code)
            return
        if replay is not None and isinstance(decoded, Message):
            replay.observe(decoded.ts)  # device time moves the replay; a birth's connection time must not
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

    def _ack(self, epoch: int, msg: mqtt.MQTTMessage) -> None:
        # a message from before a reconnect is redelivered by the broker; acking it would be wrong
        if msg.qos > 0 and epoch == self._epoch:
            self.client.ack(msg.mid, msg.qos)

    def _tick(self) -> None:
        try:
            self.counters.alerts_changed += len(self.engine.tick())
        except OperationalError as exc:
            log.error("alert store unavailable during the timer run (%s); next tick retries", exc.orig)

    def run(self) -> None:
        """Rebuild state, connect, and process until stop()."""
        rep = rebuild(self.engine, self.influx, self.routine_file)
        log.info("rebuilt: %s", rep)
        host, port, _ = service_endpoint(self.cfg)
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self.acfg.session_expiry_s
        self.client.connect_async(host, port, keepalive=30, clean_start=False, properties=props)
        self.client.loop_start()
        log.info("alerts engine %s consuming %s from %s:%d", self.acfg.client_id, ALL_TOPICS, host, port)
        next_tick = time.monotonic()
        next_save = self.clock.now_ms() + ROUTINE_SAVE_MS
        try:
            while not self.stop_event.is_set():
                timeout = max(0.0, next_tick - time.monotonic())
                try:
                    epoch, msg = self.q.get(timeout=timeout)
                except queue.Empty:
                    msg = None
                if msg is not None:
                    try:
                        self._handle(msg)
                    except OperationalError:
                        break  # stopping while the store is down: leave it unacknowledged
                    except Exception:  # a rule bug must not stop the stream: count it, keep the traceback
                        self.counters.internal_errors += 1
                        log.exception("internal error on a message on %s", log_topic(msg.topic))
                    self._ack(epoch, msg)
                if time.monotonic() >= next_tick:
                    next_tick = time.monotonic() + self.acfg.tick_s
                    self._tick()
                    if self.clock.now_ms() >= next_save:
                        next_save = self.clock.now_ms() + ROUTINE_SAVE_MS
                        save_routine(self.engine, self.routine_file)
        finally:
            self._shutdown()

    def _shutdown(self) -> None:
        try:
            save_routine(self.engine, self.routine_file)
        except OSError as exc:
            log.error("could not save the learned routine: %s", exc)
        self.client.disconnect()
        self.client.loop_stop()
        if self.influx_sink is not None:
            self.influx_sink.flush(5)
            self.influx_sink.close()
        self.influx.close()
        self.notifier.close()
        self.db.close()

    def stop(self) -> None:
        self.stop_event.set()
