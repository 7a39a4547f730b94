"""Record live MQTT traffic to a record file, as the recorder's service account (reads sw/v1/#)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.subscribeoptions import SubscribeOptions

from firmware_sim.errors import TransportError
from firmware_sim.mqtt import BrokerTarget
from firmware_sim.recordfile import Record, RecordWriter


@dataclass(frozen=True, slots=True)
class RecordResult:
    messages: int
    seconds: float
    path: Path


def record_traffic(client: mqtt.Client, target: BrokerTarget, out: Path, *, topic: str = "sw/v1/#",
                   duration_s: float | None = None, max_messages: int | None = None,
                   stop: threading.Event | None = None, on_ready=None) -> RecordResult:  # noqa: ANN001
    """Subscribe with `client` (built, not connected: a service account that may read `topic`) and write every
    message to `out` until the duration, count or stop event ends it."""
    stop = stop or threading.Event()
    subscribed = threading.Event()
    refused: list[str] = []
    writer = RecordWriter(out, target.url, filter=topic)
    lock = threading.Lock()

    def on_connect(client, userdata, flags, rc, props) -> None:  # noqa: ANN001
        if rc.is_failure:
            refused.append(str(rc))
            stop.set()
            return
        client.subscribe(topic, options=SubscribeOptions(qos=1))

    def on_subscribe(client, userdata, mid, rcs, props) -> None:  # noqa: ANN001
        if any(rc.is_failure for rc in rcs):
            refused.append(f"subscription to {topic} refused: {rcs[0]}")
            stop.set()
            return
        subscribed.set()

    def on_message(client, userdata, msg: mqtt.MQTTMessage) -> None:  # noqa: ANN001
        with lock:
            if max_messages is not None and writer.count >= max_messages:
                return
            writer.write(Record(time.time_ns() // 1_000_000, msg.topic, msg.payload, msg.qos, bool(msg.retain)))
            if max_messages is not None and writer.count >= max_messages:
                stop.set()

    client.on_connect, client.on_subscribe, client.on_message = on_connect, on_subscribe, on_message
    t0 = time.monotonic()
    try:
        try:
            client.connect(target.host, target.port, keepalive=30)
        except OSError as exc:
            raise TransportError(f"cannot connect to {target.url}: {exc}") from None
        client.loop_start()
        deadline = time.monotonic() + 15
        while not subscribed.is_set() and not stop.is_set() and time.monotonic() < deadline:
            time.sleep(0.02)
        if refused:
            raise TransportError(f"broker {target.url} refused the recorder: {refused[0]}")
        if not subscribed.is_set():
            raise TransportError(f"broker {target.url}: no subscription acknowledgement in 15 s")
        if on_ready is not None:
            on_ready()
        end = None if duration_s is None else time.monotonic() + duration_s
        while not stop.is_set():
            remaining = None if end is None else end - time.monotonic()
            if remaining is not None and remaining <= 0:
                break
            stop.wait(0.2 if remaining is None else min(0.2, remaining))
    finally:
        client.disconnect()
        client.loop_stop()
        sock = client.socket()
        if sock is not None:
            sock.close()
        with lock:
            writer.close()
    return RecordResult(writer.count, time.monotonic() - t0, out)
