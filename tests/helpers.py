"""Helpers for tests against the real services: gateway publishers, service subscribers, polling."""

from __future__ import annotations

import re
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from shouwang.config import Config
from shouwang.procs import ChildProcess, free_port_pair  # noqa: F401 (re-exported for tests)



def wait_for(pred: Callable[[], Any], timeout: float = 20.0, interval: float = 0.1, what: str = "condition") -> Any:
    """Poll pred until it returns something truthy; fail with `what` after timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what} (last value {last!r})")


class MqttPeer:
    """A paho MQTT v5 client that records PUBACK/CONNACK reason codes and received messages."""

    def __init__(self, port: int, username: str | None, password: str | None, client_id: str = "",
                 **kw: Any) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5, **kw)
        if username is not None:
            self.client.username_pw_set(username, password)
        self.port = port
        self.connack: mqtt.ReasonCode | None = None
        self.connected = threading.Event()
        self.refused = threading.Event()
        self.pubacks: dict[int, mqtt.ReasonCode] = {}
        self.messages: list[mqtt.MQTTMessage] = []
        self.suback: list[mqtt.ReasonCode] | None = None
        self.disconnects: list[mqtt.ReasonCode] = []
        self._lock = threading.Lock()
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_publish = self._on_publish
        self.client.on_message = self._on_message

    def _on_connect(self, client, userdata, flags, rc, props) -> None:  # noqa: ANN001
        self.connack = rc
        (self.refused if rc.is_failure else self.connected).set()

    def _on_disconnect(self, client, userdata, flags, rc, props) -> None:  # noqa: ANN001
        with self._lock:
            self.disconnects.append(rc)

    def _on_subscribe(self, client, userdata, mid, rcs, props) -> None:  # noqa: ANN001
        self.suback = list(rcs)

    def _on_publish(self, client, userdata, mid, rc, props) -> None:  # noqa: ANN001
        with self._lock:
            self.pubacks[mid] = rc

    def _on_message(self, client, userdata, msg) -> None:  # noqa: ANN001
        with self._lock:
            self.messages.append(msg)

    def start(self, timeout: float = 10.0) -> MqttPeer:
        self.client.connect("127.0.0.1", self.port, keepalive=30)
        self.client.loop_start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not (self.connected.is_set() or self.refused.is_set()):
            time.sleep(0.02)
        return self

    def publish(self, topic: str, payload: bytes | str, qos: int = 1, retain: bool = False) -> int:
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        return info.mid

    def wait_acked(self, mids: list[int], timeout: float = 20.0) -> dict[int, mqtt.ReasonCode]:
        wait_for(lambda: all(m in self.pubacks for m in mids), timeout, what=f"PUBACK of {len(mids)} messages")
        return {m: self.pubacks[m] for m in mids}

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
        # a refused connection leaves its socket to us, and loop_start()'s wake-up socket pair stays open until
        # the client is garbage-collected (whenever: it is in a cycle with us), each with a ResourceWarning
        self.client._reset_sockets()  # noqa: SLF001


class IngestProcess:
    """`shouwang ingest` as a real child process, with its Prometheus counters."""

    def __init__(self, cfg: Config, config_file: Path, env: dict[str, str] | None = None, name: str = "ingest"):
        import os

        self.cfg = cfg
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("SHOUWANG_")}
        full_env.update(env or {})
        self.port = int(full_env.get("SHOUWANG_INGEST__METRICS_PORT", cfg.ingest.metrics_port))
        self.child = ChildProcess(name, [sys.executable, "-m", "shouwang", "--config", str(config_file), "ingest"],
                                  cfg.state_path / "logs" / f"{name}.log", ready=self._connected, env=full_env)

    def metrics(self) -> dict[str, float]:
        try:
            text = httpx.get(f"http://127.0.0.1:{self.port}/metrics", timeout=2).text
        except httpx.HTTPError:
            return {}
        out = {}
        for line in text.splitlines():
            m = re.match(r"^([a-z_]+(?:\{[^}]*\})?) ([0-9.e+-]+)$", line)
            if m:
                out[m.group(1)] = float(m.group(2))
        return out

    def _connected(self) -> bool:
        return self.metrics().get("ingest_subscribed") == 1.0

    def start(self) -> IngestProcess:
        self.child.start(timeout=30)
        return self

    def stop(self) -> None:
        self.child.stop()

    def kill(self) -> None:
        self.child.kill()
