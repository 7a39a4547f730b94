"""A service's durable consumer on a NATS cluster (`broker.kind = "nats"`): a JetStream pull consumer.

The same surface as broker_config.consumer.Consumer (start, ready, connected, epoch, ack, publish, stop), so
ingest runs on either broker. What it reads: the stream in which NATS stores every QoS 1 MQTT message before
it sends the PUBACK (`$MQTT_msgs`, replicated to 3 nodes), filtered to the gateways' topics, through one
durable pull consumer (`ingest`) that every worker shares: JetStream hands each message to one of them, and
keeps it (interest retention) until a worker acknowledges it after the durable write. A worker that dies
leaves its unacknowledged messages to be redelivered, after `ack_wait`, to the others.

    consumer = JetStreamConsumer(cfg, Account.INGEST, on_message=handle, max_pending=20000)
    consumer.start()                  # handle(delivery) runs in the consumer's own thread (asyncio)
    ...                               # write what the deliveries carry durably, then
    acked, stale = consumer.ack(deliveries)
    consumer.stop()

The durable consumer must exist before gateways publish: with interest retention a message that no consumer
wants is not kept. `ensure_ingest_consumer` creates it (the cluster's set-up, and every worker at start).
MQTT 3.1.1 on NATS 2.9 carries no retain flag into the stream, so a delivery's `retain` is always False.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

import nats
from nats.errors import Error as NatsError
from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from broker_config.accounts import Account
from broker_config.client import service_credentials
from broker_config.consumer import Ackable, Delivery, subscribed_line
from broker_config.nats import INGEST_CONSUMER, INGEST_FILTER, MQTT_STREAM, mqtt_subject, topic_of
from broker_config.settings import BrokerSettings
from ground.errors import ServiceError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class StreamMessage:
    """What a service reads of a message from the stream (the fields of paho's MQTTMessage it uses)."""

    topic: str
    payload: bytes
    mid: int
    qos: int = 1
    retain: bool = False


def ingest_consumer_config(max_pending: int, ack_wait_s: float, durable: str = INGEST_CONSUMER,
                           filter_subject: str = INGEST_FILTER) -> ConsumerConfig:
    return ConsumerConfig(durable_name=durable, filter_subject=filter_subject, ack_policy=AckPolicy.EXPLICIT,
                          deliver_policy=DeliverPolicy.ALL, ack_wait=ack_wait_s, max_ack_pending=max_pending,
                          max_deliver=-1)


async def _ensure_consumer(js, max_pending: int, ack_wait_s: float, durable: str = INGEST_CONSUMER,
                           filter_subject: str = INGEST_FILTER) -> None:
    try:
        await js.consumer_info(MQTT_STREAM, durable)
        return
    except NotFoundError:
        pass
    await js.add_consumer(MQTT_STREAM, ingest_consumer_config(max_pending, ack_wait_s, durable, filter_subject))
    log.info("created the durable consumer %s on %s", durable, MQTT_STREAM)


def _mqtt_streams_init(cfg: BrokerSettings, account: Account) -> None:
    """NATS creates its MQTT streams at the first MQTT connection of the account: make one (clean session)."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    u = urlsplit(cfg.broker.gateway_urls()[0])
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{account}_init", protocol=mqtt.MQTTv311,
                    clean_session=True)
    c.username_pw_set(*service_credentials(cfg, account))
    try:
        c.connect(u.hostname or "127.0.0.1", u.port or 1883, keepalive=10)
        c.loop_start()
        for _ in range(200):
            if c.is_connected():
                break
            threading.Event().wait(0.05)
        c.disconnect()
        c.loop_stop()
    except OSError as exc:
        log.warning("MQTT connection to create the MQTT streams failed: %s", exc)
    finally:
        c._reset_sockets()


async def _connect(cfg: BrokerSettings, account: Account, **kw):
    user, password = service_credentials(cfg, account)
    return await nats.connect(servers=cfg.broker.native_urls(), user=user, password=password,
                              allow_reconnect=True, max_reconnect_attempts=-1, reconnect_time_wait=0.5,
                              connect_timeout=2, **kw)


def ensure_ingest_consumer(cfg: BrokerSettings, *, max_pending: int = 20000, ack_wait_s: float = 60.0,
                           timeout_s: float = 60.0, account: Account = Account.INGEST,
                           durables: tuple[str, ...] = (INGEST_CONSUMER,), filter_subject: str = INGEST_FILTER) -> None:
    """Create the MQTT streams (if no MQTT client came yet) and ingest's durable consumer (or, with `durables`,
    those of another account, e.g. the alerts engine's partitions); idempotent."""

    async def run() -> None:
        nc = await _connect(cfg, account)
        try:
            js = nc.jetstream(timeout=5)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout_s
            while True:
                try:
                    await js.stream_info(MQTT_STREAM)
                    break
                except NotFoundError:
                    await loop.run_in_executor(None, _mqtt_streams_init, cfg, account)
                except NatsError as exc:
                    log.info("JetStream not ready yet (%s)", exc)
                if loop.time() > deadline:
                    raise ServiceError(f"the MQTT stream {MQTT_STREAM} did not appear in {timeout_s:.0f} s")
                await asyncio.sleep(0.5)
            for durable in durables:
                await _ensure_consumer(js, max_pending, ack_wait_s, durable, filter_subject)
        finally:
            await nc.close()

    asyncio.run(run())


class JetStreamConsumer:
    """Pull messages from the shared durable consumer; acknowledge each after its durable write."""

    def __init__(self, cfg: BrokerSettings, account: Account, *, on_message: Callable[[Delivery], None],
                 max_pending: int = 20000, fetch_batch: int = 500, ack_wait_s: float = 60.0,
                 durable: str = INGEST_CONSUMER, filter_subject: str = INGEST_FILTER,
                 subscription: str | None = None) -> None:
        self.cfg = cfg
        self.account = account
        self.durable, self.filter_subject = durable, filter_subject
        self.client_id = durable  # what a service's log lines name it by (no MQTT client id: no MQTT session)
        self.subscription = subscription or f"{MQTT_STREAM} > {durable}"
        first = urlsplit(cfg.broker.native_urls()[0])
        self.host, self.port = first.hostname or "127.0.0.1", first.port or 4222  # for the log line of ingest
        self.ready = threading.Event()
        self._handle = on_message
        self.max_pending = max_pending
        self.fetch_batch = fetch_batch
        self.ack_wait_s = ack_wait_s
        self._ids = itertools.count(1)
        self._inflight: dict[int, object] = {}  # mid -> nats Msg, until acknowledged
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._nc = None
        self._epoch = 0

    @property
    def connected(self) -> bool:
        """Connected and pulling: False once the consumer's thread has ended (a bug in a handler ends it, with
        its traceback in the log), so ingest's `connected` gauge and heartbeat show it."""
        nc = self._nc
        return bool(nc is not None and nc.is_connected and self._thread is not None and self._thread.is_alive())

    @property
    def epoch(self) -> int:
        return self._epoch

    # --- the consumer's thread (asyncio) ------------------------------------------------------

    async def _main(self) -> None:
        async def reconnected() -> None:
            self._epoch += 1
            log.info("%s reconnected to %s", self.account, self._nc.connected_url.netloc if self._nc else "?")

        async def disconnected() -> None:
            if not self._stopping.is_set():
                log.warning("%s disconnected from the NATS cluster; reconnecting", self.account)

        async def error(exc: Exception) -> None:
            log.warning("NATS: %s", exc)

        while not self._stopping.is_set():
            try:
                self._nc = await _connect(self.cfg, self.account, reconnected_cb=reconnected,
                                          disconnected_cb=disconnected, error_cb=error)
                break
            except (NatsError, OSError) as exc:
                log.warning("cannot reach the NATS cluster (%s); retrying", exc)
                await asyncio.sleep(1.0)
        if self._nc is None:
            return
        self._epoch = 1
        js = self._nc.jetstream(timeout=5)
        psub = None
        while not self._stopping.is_set() and psub is None:
            try:
                await _ensure_consumer(js, self.max_pending, self.ack_wait_s, self.durable, self.filter_subject)
                psub = await js.pull_subscribe_bind(self.durable, MQTT_STREAM)
            except NotFoundError:
                await asyncio.get_running_loop().run_in_executor(None, _mqtt_streams_init, self.cfg, self.account)
            except NatsError as exc:
                log.warning("durable consumer %s not ready (%s); retrying", self.durable, exc)
                await asyncio.sleep(1.0)
        if psub is None:
            return
        log.info("%s", subscribed_line(self.subscription))
        self.ready.set()
        while not self._stopping.is_set():
            with self._lock:
                room = self.max_pending - len(self._inflight)
            if room <= 0:
                await asyncio.sleep(0.01)
                continue
            try:
                msgs = await psub.fetch(min(room, self.fetch_batch), timeout=1.0)
            except (TimeoutError, NatsTimeout):
                continue
            except NatsError as exc:
                if not self._stopping.is_set():
                    log.warning("fetch from %s failed (%s); retrying", self.durable, exc)
                    await asyncio.sleep(0.5)
                continue
            epoch = self._epoch
            for m in msgs:
                mid = next(self._ids)
                with self._lock:
                    self._inflight[mid] = m
                self._handle(Delivery(StreamMessage(topic_of(m.subject), m.data, mid), epoch))  # type: ignore[arg-type]
        await self._nc.close()

    async def _send_acks(self, msgs: list) -> None:
        for m in msgs:
            try:
                await m.ack()
            except NatsError as exc:  # not sent: JetStream redelivers it after ack_wait; the write is idempotent
                log.warning("ack not sent (%s); the message will be redelivered", exc)
        if self._nc is not None and self._nc.is_connected:
            await self._nc.flush(timeout=5)

    # --- use ----------------------------------------------------------------------------------

    def start(self) -> None:
        """Connect and pull in the background until stop()."""
        self._loop = asyncio.new_event_loop()

        def run() -> None:
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(self._main())  # type: ignore[union-attr]

        self._thread = threading.Thread(target=run, name="jetstream-consumer", daemon=True)
        self._thread.start()

    def ack(self, deliveries: Iterable[Ackable]) -> tuple[int, int]:
        """Acknowledge each delivery (JetStream acks hold across reconnects); returns (acked, 0)."""
        msgs = []
        with self._lock:
            for d in deliveries:
                m = self._inflight.pop(d.mid, None)
                if m is not None:
                    msgs.append(m)
        if msgs and self._loop is not None:
            fut = asyncio.run_coroutine_threadsafe(self._send_acks(msgs), self._loop)
            try:
                fut.result(timeout=10)
            except Exception as exc:  # noqa: BLE001 (a lost ack only means a redelivery)
                log.warning("acks not confirmed sent (%s); unacknowledged messages are redelivered", exc)
        return len(msgs), 0

    def publish(self, topic: str, payload: bytes | str, qos: int = 1, retain: bool = False) -> None:
        """Publish on NATS (dead letters); MQTT subscribers get it at QoS 0."""
        if self._loop is None or self._nc is None:
            return
        data = payload.encode() if isinstance(payload, str) else payload
        nc = self._nc
        asyncio.run_coroutine_threadsafe(nc.publish(mqtt_subject(topic), data), self._loop)

    def stop(self) -> None:
        """Stop pulling; what is unacknowledged is redelivered to another worker after ack_wait."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            if self._thread.is_alive():
                log.warning("the consumer's thread did not end in 10 s")
                return
        if self._loop is not None and not self._loop.is_closed():
            self._loop.close()
