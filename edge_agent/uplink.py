"""MQTT uplink: drains the outbox to the central broker at QoS 1, deleting each row after its PUBACK.

- persistent session (clean_start=False, session expiry), fixed client id = gateway id; MQTT 3.1.1
  (`mqtt.protocol`, clean_session=False) for a broker that speaks only that, e.g. a NATS cluster;
- several broker addresses (`mqtt.url` then `mqtt.fallback_urls`): a lost connection or a failed
  attempt moves the next attempt to the next address, and paho resends every unacknowledged message there;
- birth `{"online": true, ...}` and last will `{"online": false}` on sw/v1/{gateway}/state, retained;
- reconnect backoff from reconnect_min_s doubling up to reconnect_max_s (<= 30 s), done by paho;
- at most `window` publishes wait for a PUBACK at any time (paho's message ids are 16 bit);
- events are taken first; readings and status are paced at `drain_rate`/s so that after an
  outage live events overtake the backlog instead of queueing behind it.

Messages handed to paho stay in its session across reconnects and are resent by it; after a
restart of the agent everything still in the outbox is sent again (duplicates are absorbed by
the contract's ts idempotency).
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections import deque

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge_agent.clock import Clock
from edge_agent.config import AgentConfig
from edge_agent.errors import OutboxError
from edge_agent.outbox import Outbox, Priority, Row
from wire.models import encode_state
from wire.topics import state_topic

log = logging.getLogger(__name__)

VERSION = "0.1.0"


class Uplink:
    """One paho client and the thread that feeds it from the outbox."""

    def __init__(self, cfg: AgentConfig, outbox: Outbox, clock: Clock, started: float) -> None:
        self.cfg = cfg
        self.m = cfg.mqtt
        self.outbox = outbox
        self.clock = clock
        self.started = started
        self.connected = threading.Event()
        self.sent = 0                # PUBACKed and deleted
        self.refused = 0             # PUBACK with a failure reason code (e.g. ACL): deleted, counted
        self.connects = 0
        self._cond = threading.Condition()
        self._acks: deque[tuple[int, bool]] = deque()
        self._inflight: dict[int, int] = {}     # paho mid -> outbox row id
        self._after_event = 0
        self._after_other = 0
        self._event_waiting = False
        self._more = True           # the outbox may hold rows not yet handed to paho
        self._tokens = 0.0
        self._last_refill = clock.monotonic()
        self._birth_mid: int | None = None
        self._closing = False
        self._addresses = self.m.addresses
        self._address = 0
        self.client = self._make_client()
        outbox.listeners.append(self._appended)

    # ------------------------------------------------------------------ paho

    def _make_client(self) -> mqtt.Client:
        if self.m.protocol == "3.1.1":
            c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.cfg.client_id, protocol=mqtt.MQTTv311,
                            clean_session=False)
        else:
            c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.cfg.client_id, protocol=mqtt.MQTTv5)
        c.username_pw_set(self.cfg.username, self.m.password_value() or None)
        if self.m.tls:
            c.tls_set(ca_certs=str(self.m.ca_file) if self.m.ca_file else None,
                      certfile=str(self.m.cert_file) if self.m.cert_file else None,
                      keyfile=str(self.m.key_file) if self.m.key_file else None,
                      cert_reqs=ssl.CERT_REQUIRED, tls_version=ssl.PROTOCOL_TLS_CLIENT)
        c.will_set(state_topic(self.cfg.gateway), encode_state(False), qos=1, retain=True)
        c.reconnect_delay_set(self.m.reconnect_min_s, self.m.reconnect_max_s)
        c.max_inflight_messages_set(self.m.max_inflight)
        c.max_queued_messages_set(0)  # our own window bounds what paho holds
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_connect_fail = self._next_address
        c.on_publish = self._on_publish
        return c

    def _next_address(self, *_: object) -> None:
        """With several broker addresses, the next attempt goes to the next one (the node we lost may be down)."""
        if len(self._addresses) < 2:
            return
        self._address = (self._address + 1) % len(self._addresses)
        # paho reconnects to _host/_port; its setters refuse while the closed socket is still referenced
        self.client._host, self.client._port = self._addresses[self._address]

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:  # noqa: ANN001
        if reason_code.is_failure:
            # refused (bad password, not authorized): paho retries with backoff; nothing is marked connected
            log.error("broker refused the connection: %s", reason_code)
            return
        self.connects += 1
        log.info("connected to %s:%d as %s (session present: %s)", *self._addresses[self._address],
                 self.cfg.client_id, flags.session_present)
        birth = encode_state(True, ts=self.clock.now_ms(), version=VERSION,
                             uptime_s=round(self.clock.monotonic() - self.started, 1))
        self._birth_mid = client.publish(state_topic(self.cfg.gateway), birth, qos=1, retain=True).mid
        with self._cond:
            self.connected.set()
            self._cond.notify_all()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:  # noqa: ANN001
        if self.connected.is_set() and not self._closing:
            log.warning("disconnected from the broker (%s); %d messages wait for PUBACK", reason_code,
                        len(self._inflight))
        self.connected.clear()
        if not self._closing:
            self._next_address()

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:  # noqa: ANN001
        with self._cond:
            self._acks.append((mid, bool(reason_code.is_failure)))
            self._cond.notify_all()

    def _appended(self, prio: int) -> None:
        with self._cond:
            self._more = True
            if prio == Priority.EVENT:
                self._event_waiting = True
            self._cond.notify_all()

    # ------------------------------------------------------------------ the sending thread

    def run(self, stop: threading.Event) -> None:
        """Connect and drain the outbox until stop is set."""
        host, port = self._addresses[0]
        if self.m.protocol == "3.1.1":  # the session was asked for with clean_session=False; it has no expiry
            self.client.connect_async(host, port, keepalive=self.m.keepalive_s)
        else:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = self.m.session_expiry_s
            self.client.connect_async(host, port, keepalive=self.m.keepalive_s, clean_start=False, properties=props)
        self.client.loop_start()
        try:
            while not stop.is_set():
                try:
                    self._settle_acks()
                    sent = self._fill() if self.connected.is_set() else 0
                except OutboxError as exc:  # disk full or I/O error: keep the session, try again shortly
                    log.error("outbox: %s; retrying in 1 s", exc)
                    stop.wait(1.0)
                    continue
                with self._cond:
                    if not self._acks and not self._event_waiting:
                        # appends, acks and connects wake us; while pacing a backlog, tokens refill in 2 ms
                        paced = self.connected.is_set() and self._more and len(self._inflight) < self.m.window
                        self._cond.wait(0.002 if sent or paced else 1.0)
        finally:
            self._settle_acks()

    def _settle_acks(self) -> None:
        with self._cond:
            acks = list(self._acks)
            self._acks.clear()
        ids = []
        for mid, failed in acks:
            row = self._inflight.pop(mid, None)
            if row is None:
                continue  # the birth message, or an ack for a message of a previous run
            if failed:
                self.refused += 1
                log.error("broker refused a message (PUBACK failure); dropped, check the ACL and gateway id")
            ids.append(row)
        if ids:
            self.outbox.delete(ids)
            self.sent += len(ids)

    def _fill(self) -> int:
        room = self.m.window - len(self._inflight)
        if room <= 0 or not self._more:
            return 0
        now = self.clock.monotonic()
        self._tokens = min(self._tokens + (now - self._last_refill) * self.m.drain_rate,
                           max(1.0, self.m.drain_rate * 0.05))
        self._last_refill = now
        with self._cond:
            self._event_waiting = False
        others = min(room, int(self._tokens))
        self._more = False  # set again by an append from here on
        events, rest = self.outbox.fetch(self._after_event, self._after_other, room, others)
        if len(events) == room or len(rest) == others:
            self._more = True  # a fetch limit was reached: there may be more
        n = 0
        for row in events:
            self._publish(row)
            self._after_event = row.id
            n += 1
        for row in rest[: max(0, room - n)]:
            self._publish(row)
            self._after_other = row.id
            self._tokens -= 1
            n += 1
        return n

    def _publish(self, row: Row) -> None:
        info = self.client.publish(row.topic, row.payload, qos=1)
        self._inflight[info.mid] = row.id

    @property
    def inflight(self) -> int:
        return len(self._inflight)

    def close(self, timeout: float = 3.0) -> None:
        """Say we go offline (retained), wait briefly for the last PUBACKs, disconnect."""
        self._closing = True
        if self.connected.is_set():
            info = self.client.publish(state_topic(self.cfg.gateway), encode_state(False, ts=self.clock.now_ms()),
                                       qos=1, retain=True)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and not info.is_published():
                time.sleep(0.02)
            self._settle_acks()
        self.client.disconnect()
        self.client.loop_stop()
