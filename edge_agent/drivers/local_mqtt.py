"""Local MQTT input: cameras and devices publishing to a gateway-local broker, mapped onto contract v1.

A device publishes to `<topic_prefix>/<local name>/<reading|event|status>` a JSON object: either
the data itself (`{"type": "person", "state": "start", "zone": "gate"}`) or `{"ts": ms, "data": {...}}`.
The local name is mapped by the config to a contract device id and kind; the agent adds gateway,
seq and (if missing) ts, validates with wire.encode and queues it. Anything unmapped or refused is
counted and logged by topic only.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edge_agent.clock import Clock
from edge_agent.config import LocalMqttDriver
from edge_agent.emit import Emitter
from edge_agent.stats import DriverStats
from wire.models import MAX_PAYLOAD_BYTES, Channel

log = logging.getLogger(__name__)
_CHANNELS = {c.value: c for c in Channel}


class LocalInputDriver:
    """A subscriber on the gateway-local broker."""

    def __init__(self, cfg: LocalMqttDriver, emitter: Emitter, clock: Clock, gateway: str) -> None:
        self.cfg = cfg
        self.id = cfg.id
        self.emitter = emitter
        self.clock = clock
        self.stats = DriverStats(cfg.id)
        self.connected = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{gateway}-{cfg.id}", protocol=mqtt.MQTTv5)
        if cfg.username:
            self.client.username_pw_set(cfg.username, cfg.password.get_secret_value() or None)
        self.client.reconnect_delay_set(1, 30)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:  # noqa: ANN001
        if reason_code.is_failure:
            log.error("driver %s: local broker refused the connection: %s", self.id, reason_code)
            self.stats.port_down = True
            return
        client.subscribe(f"{self.cfg.topic_prefix}/+/+", qos=1)
        self.stats.port_down = False
        self.connected.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:  # noqa: ANN001
        self.connected.clear()
        self.stats.port_down = True

    def _on_message(self, client, userdata, msg: mqtt.MQTTMessage) -> None:  # noqa: ANN001
        self.stats.count("polls")
        try:
            self.handle(msg.topic, msg.payload)
        except Exception as exc:  # a bug in mapping must not kill paho's thread: counted, logged, surfaced
            self.stats.error(exc)
            log.exception("driver %s: internal error handling a local message", self.id)

    def handle(self, topic: str, payload: bytes) -> bool:
        """Map one local message onto the contract and queue it; False (counted) if it cannot be."""
        rest = topic[len(self.cfg.topic_prefix) + 1:].split("/")
        local = self.cfg.devices.get(rest[0]) if len(rest) == 2 else None
        channel = _CHANNELS.get(rest[-1])
        if local is None or channel is None:
            self.stats.error("UnmappedTopic", "bad_values")
            # the topic is not logged: an unmapped local name is not a contract id and might be anything
            log.warning("driver %s: message on an unmapped local topic (counted)", self.id)
            return False
        body = self._parse(payload)
        if body is None:
            return False
        ts = body.get("ts") if isinstance(body.get("data"), dict) else None
        data = body["data"] if isinstance(body.get("data"), dict) else body
        if ts is not None and (not isinstance(ts, int) or isinstance(ts, bool)):
            self.stats.error("BadTimestamp", "bad_values")
            return False
        ok = self.emitter.emit(local.device, local.kind, channel, data, self.stats, ts_ms=ts)
        if ok:
            self.stats.count("ok")
        return ok

    def _parse(self, payload: bytes) -> dict[str, Any] | None:
        if len(payload) > MAX_PAYLOAD_BYTES:
            self.stats.error("TooLarge", "bad_frames")
            return None
        try:
            body = json.loads(payload.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            self.stats.error("BadJson", "bad_frames")
            return None
        if not isinstance(body, dict):
            self.stats.error("NotAnObject", "bad_frames")
            return None
        return body

    def run(self, stop: threading.Event) -> None:
        """Connect (paho reconnects by itself) and wait for stop."""
        from urllib.parse import urlsplit

        parts = urlsplit(self.cfg.url)
        self.stats.port_down = True
        self.client.connect_async(parts.hostname or "127.0.0.1", parts.port or 1883, keepalive=30)
        self.client.loop_start()
        try:
            while not stop.wait(1.0):
                self.stats.heartbeat = self.clock.monotonic()
        finally:
            self.client.disconnect()
            self.client.loop_stop()

    def close(self) -> None:
        sock = self.client.socket()
        if sock is not None:
            sock.close()
