"""How a service consumes the broker: subscribe on every connect, and for durable consumers manual acks by epoch.

    Subscriber   connect, subscribe on every connect (a broker that lost our session needs the
                 subscription again), reconnect with service_client's backoff, `ready` once the broker
                 granted the subscription (and the log line "subscribed to <filter>" says so).
                 Messages are acknowledged by paho on arrival: for live views (console/stream.py).
    Consumer     a Subscriber whose messages matter (ingest, the alerts engine): a persistent session
                 (clean_start=False, session expiry), so the broker keeps the subscription and queues what
                 arrives while we are away, and manual acks: a message is acknowledged only after the
                 durable write it causes, and only on the connection it arrived on.

Why epochs: each successful connection starts a new epoch and every message is stamped with the epoch it
arrived in. After a reconnect the broker redelivers every message we had not acknowledged; an ack kept from
the old connection is not sent on the new one (if the session was lost its packet id may name another
message now). The redelivered message is written again, which the services make harmless (the point time
is the device's ts; the engine's store is idempotent per message), and then acknowledged.

    consumer = Consumer(cfg, Account.INGEST, "svc_ingest", "sw/v1/#", on_message=handle,
                        session_expiry_s=7 * 86400, receive_maximum=20000)
    consumer.start()                  # handle(delivery) runs in paho's network thread
    ...                               # write what the deliveries carry durably, then
    acked, stale = consumer.ack(deliveries)
    consumer.stop()
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from broker_config.accounts import Account
from broker_config.client import service_client, service_endpoints
from broker_config.settings import BrokerSettings

log = logging.getLogger(__name__)
KEEPALIVE_S = 30


@dataclass(frozen=True, slots=True)
class Delivery:
    """A received message and the epoch (connection) it arrived in."""

    message: mqtt.MQTTMessage
    epoch: int

    @property
    def mid(self) -> int:
        return self.message.mid

    @property
    def qos(self) -> int:
        return self.message.qos


class Ackable(Protocol):
    """What ack() needs of a delivery: its packet id, QoS and epoch (Delivery, ingest's Entry)."""

    @property
    def mid(self) -> int: ...

    @property
    def qos(self) -> int: ...

    @property
    def epoch(self) -> int: ...


def subscribed_line(subscription: str) -> str:
    """The log line a Subscriber writes once the broker granted `subscription`."""
    return f"subscribed to {subscription}"


def log_says_subscribed(log_file: Path, subscription: str) -> Callable[[], bool]:
    """Readiness of a child service: its log, from now on, says the subscription was granted."""
    line = subscribed_line(subscription).encode()
    try:
        offset = log_file.stat().st_size
    except OSError:
        offset = 0

    def ready() -> bool:
        try:
            with open(log_file, "rb") as fh:
                fh.seek(offset)
                return line in fh.read()
        except OSError:
            return False

    return ready


class Subscriber:
    """A service's MQTT subscription that outlives reconnects; paho acknowledges messages on arrival."""

    manual_ack = False

    def __init__(self, cfg: BrokerSettings, account: Account, client_id: str, subscription: str, *,
                 on_message: Callable[[Delivery], None], options: SubscribeOptions | None = None,
                 reconnect_max_s: float = 30.0) -> None:
        self.client_id = client_id
        self.subscription = subscription
        self.options = options or SubscribeOptions(qos=1)
        self._endpoints = service_endpoints(cfg)
        self._endpoint = 0
        self.host, self.port, _ = self._endpoints[0]
        self.v5 = cfg.broker.mqtt_protocol_v5
        self.ready = threading.Event()
        self._handle = on_message
        self._lock = threading.Lock()
        self._epoch = 0
        self._connected = False
        self._stopping = False
        c = self.client = service_client(cfg, account, client_id, manual_ack=self.manual_ack,
                                         reconnect_max_s=reconnect_max_s, persistent=self.manual_ack)
        c.on_connect = self._on_connect
        c.on_subscribe = self._on_subscribe
        c.on_disconnect = self._on_disconnect
        c.on_connect_fail = self._next_endpoint
        c.on_message = self._on_message

    @property
    def connected(self) -> bool:
        """True while the broker has accepted our connection."""
        return self._connected

    @property
    def epoch(self) -> int:
        """How many connections the broker has accepted so far (the current connection's number)."""
        return self._epoch

    # --- paho callbacks (network thread) ------------------------------------------------------

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:  # noqa: ANN001
        if reason_code.is_failure:
            log.error("broker refused the connection of %s: %s", self.client_id, reason_code)
            self._connected = False
            return
        with self._lock:  # waits for an ack() in progress: its acks belong to the old epoch
            self._epoch += 1
        self._connected = True
        log.info("%s connected to broker %s:%d (session present: %s)", self.client_id, self.host, self.port,
                 flags.session_present)
        self.subscribe_topics([self.subscription])

    def subscribe_topics(self, topics: list[str]) -> None:
        """Subscribe to topics with our options: MQTT v5 SubscribeOptions, or on MQTT 3.1.1 (a NATS cluster)
        only their QoS (3.1.1 has no noLocal or retainAsPublished; paho wants (topic, qos) there)."""
        if self.v5:
            self.client.subscribe([(t, self.options) for t in topics])
        else:
            self.client.subscribe([(t, self.options.QoS) for t in topics])

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:  # noqa: ANN001
        refused = [rc for rc in reason_codes if rc.is_failure]
        if refused:
            log.error("subscription to %s refused by the broker: %s", self.subscription, refused[0])
            return
        log.info("%s", subscribed_line(self.subscription))  # parents wait for this line (log_says_subscribed)
        self.ready.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:  # noqa: ANN001
        self._connected = False
        if not self._stopping:
            log.warning("%s disconnected from broker: %s; reconnecting", self.client_id, reason_code)
            self._next_endpoint()

    def _next_endpoint(self, *_: object) -> None:
        """With several broker addresses (a cluster), the next reconnect goes to the next one."""
        if len(self._endpoints) < 2:
            return
        self._endpoint = (self._endpoint + 1) % len(self._endpoints)
        self.host, self.port, _ = self._endpoints[self._endpoint]
        # paho reconnects to client._host/_port; its host/port setters refuse while the socket is still being closed
        self.client._host, self.client._port = self.host, self.port

    def _on_message(self, client, userdata, msg: mqtt.MQTTMessage) -> None:  # noqa: ANN001
        # the epoch changes only in _on_connect, which runs in this same thread: it is the current one
        self._handle(Delivery(msg, self._epoch))

    # --- use ------------------------------------------------------------------------------------

    def _connect_args(self) -> dict:
        return {}

    def start(self) -> None:
        """Connect in the background (paho's network thread); reconnects until stop()."""
        self.client.connect_async(self.host, self.port, keepalive=KEEPALIVE_S, **self._connect_args())
        self.client.loop_start()

    def publish(self, topic: str, payload: bytes | str, qos: int = 1, retain: bool = False) -> None:
        """Publish on our connection (queued by paho while disconnected, for QoS > 0)."""
        self.client.publish(topic, payload, qos=qos, retain=retain)

    def stop(self) -> None:
        """Disconnect (what is queued, acks included, goes out first) and end the network thread."""
        self._stopping = True
        self.client.disconnect()
        self.client.loop_stop()
        # paho 2.x leaves loop_start()'s wake-up socket pair (and a refused connection's socket) open until the
        # client is garbage-collected; ours sits in a reference cycle (its callbacks are our methods), collected
        # whenever, with a ResourceWarning for each socket. Nothing uses them once the network thread has ended.
        self.client._reset_sockets()  # noqa: SLF001


class Consumer(Subscriber):
    """A durable consumer: persistent session, manual acks after the durable write, current epoch only."""

    manual_ack = True

    def __init__(self, cfg: BrokerSettings, account: Account, client_id: str, subscription: str, *,
                 on_message: Callable[[Delivery], None], session_expiry_s: int, receive_maximum: int | None = None,
                 options: SubscribeOptions | None = None, reconnect_max_s: float = 30.0) -> None:
        super().__init__(cfg, account, client_id, subscription, on_message=on_message, options=options,
                         reconnect_max_s=reconnect_max_s)
        self.session_expiry_s = session_expiry_s
        self.receive_maximum = receive_maximum

    def _connect_args(self) -> dict:
        if not self.v5:
            return {}  # MQTT 3.1.1: clean_session=False was set on the client; the broker keeps the session
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self.session_expiry_s
        if self.receive_maximum is not None:
            # unacknowledged QoS 1 messages the broker may send us; the rest stays queued in our session
            props.ReceiveMaximum = self.receive_maximum
        return {"clean_start": False, "properties": props}

    def ack(self, deliveries: Iterable[Ackable]) -> tuple[int, int]:
        """Acknowledge each QoS 1/2 delivery of the current epoch; returns (acked, stale: left for redelivery)."""
        acked = stale = 0
        with self._lock:  # no reconnect can start a new epoch while we ack
            epoch = self._epoch
            for d in deliveries:
                if d.qos == 0:
                    continue
                if d.epoch != epoch:
                    stale += 1
                    continue
                self.client.ack(d.mid, d.qos)
                acked += 1
        return acked, stale
