"""Publishing as gateways: one paho MQTT v5 client per gateway, its own credentials, QoS 1.

(MQTT 3.1.1 with a persistent session for a broker that speaks only that, e.g. a NATS cluster; with several
broker addresses a gateway that loses its connection reconnects to the next: BrokerTarget.fallbacks.)

Every client announces itself with a retained birth on sw/v1/{gw}/state and leaves a
last will {"online": false} there. All clients are driven from one thread with select()
(no paho threads): publish() writes at once, PUBACKs are read while waiting for the
clock or when a gateway has `window` messages unacknowledged. That keeps the many
clients of a large community cheap and the send order exactly the stream's order.
A PUBACK with a failure reason code (e.g. not authorized) counts as failed; messages
still unacknowledged at close count as unacknowledged. A dropped connection is retried
with backoff; paho keeps and resends unacknowledged QoS 1 messages.
"""

from __future__ import annotations

import logging
import os
import select
import time
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from firmware_sim.errors import TransportError
from firmware_sim.stream import Control, Outgoing
from wire.models import encode_state
from wire.topics import state_topic

log = logging.getLogger(__name__)
#: MQTT v5 DISCONNECT reason 0x04: the broker publishes our last will, as after a lost link
DISCONNECT_WITH_WILL = 4


@dataclass(frozen=True, slots=True)
class BrokerTarget:
    """Where to connect, and how; `fallbacks` are further (host, port) of a cluster, tried in turn when the
    current one is lost; `mqtt311` for a broker that speaks only MQTT 3.1.1 (NATS)."""

    host: str
    port: int
    tls: bool = False
    ca_file: Path | None = None
    fallbacks: tuple[tuple[str, int], ...] = ()
    mqtt311: bool = False

    @property
    def addresses(self) -> list[tuple[str, int]]:
        return [(self.host, self.port), *self.fallbacks]

    @property
    def url(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


def load_credentials(broker_dir: Path, gateways: Iterable[str], provision: bool = False) -> dict[str, tuple[str, str]]:
    """Username and password of each gateway from <broker_dir>/gateways/{id}.toml; optionally create them."""
    from broker_config import add_gateway, gateway_credentials_path, reload_running_broker

    creds: dict[str, tuple[str, str]] = {}
    missing, created = [], []
    for gw in gateways:
        path = gateway_credentials_path(broker_dir, gw)
        if path.exists():
            try:
                data = tomllib.loads(path.read_text())
                creds[gw] = (str(data["username"]), str(data["password"]))
            except (OSError, tomllib.TOMLDecodeError, KeyError) as exc:
                raise TransportError(f"{path}: unreadable gateway credentials ({exc})") from None
        elif provision:
            _, password = add_gateway(broker_dir, gw)
            creds[gw] = (gw, password)
            created.append(gw)
        else:
            missing.append(gw)
    if missing:
        raise TransportError(
            f"no MQTT credentials for gateway(s) {', '.join(missing)} under {broker_dir / 'gateways'}; create them "
            f"with `shouwang broker add-gateway ID`, or pass --provision to create them for a local broker")
    if created:
        log.info("created credentials for %d gateway(s); broker reloaded: %s", len(created),
                 reload_running_broker(broker_dir))
    return creds


@dataclass(slots=True)
class LinkStats:
    sent: int = 0
    acked: int = 0
    failed: int = 0
    reconnects: int = 0
    refused: str = ""


class GatewayLink:
    """One gateway's MQTT client."""

    def __init__(self, gateway: str, username: str, password: str, target: BrokerTarget, client_id: str) -> None:
        self.gateway = gateway
        self.target = target
        self.stats = LinkStats()
        self.outstanding: set[int] = set()
        self.connected = False
        self.want_up = True
        self.retry_at = 0.0
        self.backoff = 1.0
        self.address = 0  # index into target.addresses
        if target.mqtt311:  # a persistent session: the broker keeps what it has not acknowledged to us
            c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311,
                            clean_session=False)
        else:
            c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        c.username_pw_set(username, password)
        c.will_set(state_topic(gateway), encode_state(False), qos=1, retain=True)
        if target.tls:
            c.tls_set(ca_certs=str(target.ca_file) if target.ca_file else None)
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_publish = self._on_publish
        self.client = c

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:  # noqa: ANN001
        if reason_code.is_failure:
            self.stats.refused = str(reason_code)
            log.error("broker refused gateway %s: %s", self.gateway, reason_code)
            return
        self.connected = True
        self.backoff = 1.0
        self.stats.refused = ""
        client.publish(state_topic(self.gateway), encode_state(True, ts=time.time_ns() // 1_000_000,
                                                               version="shouwang-sim"), qos=1, retain=True)

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:  # noqa: ANN001
        was = self.connected
        self.connected = False
        if was and self.want_up:
            log.warning("gateway %s lost its connection (%s); reconnecting", self.gateway, reason_code)

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:  # noqa: ANN001
        if mid in self.outstanding:
            self.outstanding.discard(mid)
            if reason_code.is_failure:
                self.stats.failed += 1
            else:
                self.stats.acked += 1

    def connect(self) -> None:
        try:
            self.client.connect(self.target.host, self.target.port, keepalive=30)
        except OSError as exc:
            raise TransportError(f"gateway {self.gateway}: cannot connect to {self.target.url}: {exc}") from None

    def try_reconnect(self, now: float) -> None:
        if now < self.retry_at:
            return
        wait = self.backoff
        self.retry_at = now + wait
        self.backoff = min(self.backoff * 2, 30.0)
        addresses = self.target.addresses
        if len(addresses) > 1:  # a cluster: the node we lost may be down, try the next one
            self.address = (self.address + 1) % len(addresses)
            # paho's host/port setters refuse while its closed socket is still referenced; it reconnects to these
            self.client._host, self.client._port = addresses[self.address]
        try:
            self.client.reconnect()
            self.stats.reconnects += 1
        except OSError as exc:
            log.warning("gateway %s: reconnect failed (%s); retrying in %.0f s", self.gateway, exc, wait)

    def go_down(self) -> None:
        """Drop the uplink so that the broker publishes our last will."""
        self.want_up = False
        sock = self.client.socket()
        if sock is not None and self.target.mqtt311:
            # MQTT 3.1.1 has no "disconnect with will": drop the link as a lost one would (paho's own close)
            self.client._sock_close()
        elif sock is not None:
            self.client.disconnect(reasoncode=ReasonCode(PacketTypes.DISCONNECT, identifier=DISCONNECT_WITH_WILL))
        self.connected = False

    def go_up(self, now: float) -> None:
        self.want_up = True
        self.retry_at = 0.0
        self.backoff = 1.0
        self.try_reconnect(now)

    def close(self) -> None:
        self.want_up = False
        sock = self.client.socket()
        if sock is not None:
            if self.connected:
                self.client.publish(state_topic(self.gateway), encode_state(False), qos=0, retain=True)
                self.client.disconnect()
            sock = self.client.socket()
            if sock is not None:
                sock.close()


@dataclass(slots=True)
class TransportStats:
    sent: int = 0
    acked: int = 0
    failed: int = 0
    unacked: int = 0
    reconnects: int = 0
    by_gateway: dict[str, dict[str, int]] = field(default_factory=dict)


class MqttTransport:
    """Publishes Outgoing items as their gateways; handles Control (outage) items."""

    def __init__(self, target: BrokerTarget, credentials: Mapping[str, tuple[str, str]], *, window: int = 20,
                 ordered: bool = False, client_prefix: str = "sim", monotonic: Callable[[], float] = time.monotonic
                 ) -> None:
        self.target = target
        self.credentials = dict(credentials)
        self.window = window
        self.ordered = ordered
        self.client_prefix = client_prefix
        self.links: dict[str, GatewayLink] = {}
        self._monotonic = monotonic
        self._last: GatewayLink | None = None
        self._next_misc = 0.0

    # --- connections ---------------------------------------------------------------

    def open(self, gateways: Iterable[str], timeout: float = 15.0) -> None:
        """Connect the given gateways and wait for every CONNACK; TransportError if any is refused."""
        new = [self._link(gw) for gw in gateways if gw not in self.links]
        for link in new:
            link.connect()
        deadline = self._monotonic() + timeout
        self.pump(deadline, until=lambda: all(l.connected or l.stats.refused for l in new))
        refused = [f"{l.gateway} ({l.stats.refused})" for l in new if l.stats.refused]
        late = [l.gateway for l in new if not l.connected and not l.stats.refused]
        if refused or late:
            self.close(0)
            what = "; ".join(filter(None, [f"refused: {', '.join(refused)}" if refused else "",
                                           f"no answer in {timeout:.0f} s: {', '.join(late)}" if late else ""]))
            raise TransportError(f"broker {self.target.url}: {what}")

    def _link(self, gw: str) -> GatewayLink:
        if gw not in self.credentials:
            raise TransportError(f"no MQTT credentials for gateway {gw}")
        user, password = self.credentials[gw]
        link = GatewayLink(gw, user, password, self.target, f"{self.client_prefix}-{gw}-{os.getpid()}")
        self.links[gw] = link
        return link

    # --- sending -------------------------------------------------------------------

    def send(self, msg: Outgoing) -> None:
        """Publish one message as its gateway (waits while the gateway's window is full)."""
        link = self.links.get(msg.gateway)
        if link is None:
            self.open([msg.gateway])
            link = self.links[msg.gateway]
        if self.ordered and self._last is not None and self._last is not link and self._last.outstanding:
            last = self._last
            self.pump(None, until=lambda: not last.outstanding, block=True)
        if len(link.outstanding) >= self.window:
            self.pump(None, until=lambda: len(link.outstanding) < self.window, block=True)
        info = link.client.publish(msg.topic, msg.payload, qos=msg.qos, retain=msg.retain)
        link.stats.sent += 1
        if msg.qos:
            link.outstanding.add(info.mid)
        elif info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS:
            link.stats.acked += 1  # QoS 0 has no acknowledgement; "sent" is all we know
        self._last = link

    def control(self, ctl: Control) -> None:
        """A gateway's uplink goes down (last will) or comes back (birth)."""
        link = self.links.get(ctl.gateway) or (self._link(ctl.gateway) if not ctl.online else None)
        if link is None:
            return
        if ctl.online:
            link.go_up(self._monotonic())
        else:
            # what was sent before the outage arrived before it: collect those acks first, or they
            # would be resent after the outage (QoS 1 duplicates that the schedule did not ask for)
            self.pump(self._monotonic() + 5.0, until=lambda: not link.outstanding)
            log.info("gateway %s: uplink down (outage)", ctl.gateway)
            link.go_down()

    def pump(self, deadline: float | None, until: Callable[[], bool] | None = None, block: bool = False) -> None:
        """Service every connection until the deadline (or `until()` holds); one pass when both are None."""
        while True:
            now = self._monotonic()
            if until is not None and until():
                return
            if now >= self._next_misc:
                self._misc(now)
            if deadline is None and not block:
                timeout = 0.0
            else:
                timeout = 0.5 if deadline is None else max(0.0, min(0.5, deadline - now))
            readers, writers = [], []
            for link in self.links.values():
                sock = link.client.socket()
                if sock is not None:
                    readers.append(link)
                    if link.client.want_write():
                        writers.append(link)
            if readers:
                r, w, _ = select.select([l.client.socket() for l in readers],
                                        [l.client.socket() for l in writers], [], timeout)
                if r or w:
                    ready_r, ready_w = set(map(id, r)), set(map(id, w))
                    for link in readers:
                        sock = link.client.socket()
                        if id(sock) in ready_r:
                            link.client.loop_read(100)
                        if link.client.socket() is not None and id(sock) in ready_w:
                            link.client.loop_write()
            elif timeout:
                time.sleep(min(timeout, 0.1))
            if (deadline is None and not block) or (deadline is not None and self._monotonic() >= deadline):
                return

    def _misc(self, now: float) -> None:
        self._next_misc = now + 1.0
        for link in self.links.values():
            if link.client.socket() is not None:
                link.client.loop_misc()  # keepalive pings, timeouts
            elif link.want_up and not link.stats.refused:
                link.try_reconnect(now)

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait for every outstanding PUBACK; False if some are still missing at the timeout."""
        self.pump(self._monotonic() + timeout, until=lambda: not any(l.outstanding for l in self.links.values()))
        return not any(l.outstanding for l in self.links.values())

    def close(self, timeout: float = 30.0) -> TransportStats:
        """Wait for acknowledgements, mark gateways offline, disconnect; return the counts."""
        if timeout:
            self.flush(timeout)
        stats = TransportStats()
        for gw, link in sorted(self.links.items()):
            s = link.stats
            unacked = len(link.outstanding)
            stats.sent += s.sent
            stats.acked += s.acked
            stats.failed += s.failed
            stats.unacked += unacked
            stats.reconnects += s.reconnects
            stats.by_gateway[gw] = {"sent": s.sent, "acked": s.acked, "failed": s.failed, "unacked": unacked}
            link.close()
        self.pump(None)
        return stats
