"""Where a stream goes: a broker (as gateways), a record file, or memory (tests, evaluation).

    Sink protocol: send(Outgoing), control(Control), wait_until(monotonic deadline), poll(), close() -> dict
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Protocol

from firmware_sim.mqtt import MqttTransport
from firmware_sim.recordfile import Record, RecordWriter
from firmware_sim.stream import Control, Outgoing


class Sink(Protocol):
    def send(self, msg: Outgoing) -> None:
        """Deliver one message now."""

    def control(self, ctl: Control) -> None:
        """A gateway's uplink goes down or comes back."""

    def wait_until(self, deadline: float) -> None:
        """Keep connections alive until the monotonic deadline."""

    def poll(self) -> None:
        """Service connections without waiting."""

    def close(self) -> dict[str, Any]:
        """Finish (wait for acknowledgements, flush files); the delivery counts."""


class MqttSink:
    """Publishes to a broker through an MqttTransport."""

    def __init__(self, transport: MqttTransport, ack_timeout: float = 10.0) -> None:
        self.transport = transport
        self.ack_timeout = ack_timeout

    def send(self, msg: Outgoing) -> None:
        self.transport.send(msg)

    def control(self, ctl: Control) -> None:
        self.transport.control(ctl)

    def wait_until(self, deadline: float) -> None:
        self.transport.pump(deadline)

    def poll(self) -> None:
        self.transport.pump(None)

    def close(self) -> dict[str, Any]:
        return asdict(self.transport.close(self.ack_timeout))


class FileSink:
    """Writes the stream as a record file (t_ms = simulated send time); no broker needed."""

    def __init__(self, path: Path, source: str, **meta: Any) -> None:
        self.writer = RecordWriter(path, source, **meta)

    def send(self, msg: Outgoing) -> None:
        self.writer.write(Record(msg.at_ms, msg.topic, msg.payload, msg.qos, msg.retain))

    def control(self, ctl: Control) -> None:
        from firmware_sim.generate import control_to_state

        self.send(control_to_state(ctl))

    def wait_until(self, deadline: float) -> None:
        time.sleep(max(0.0, deadline - time.monotonic()))

    def poll(self) -> None:
        pass

    def close(self) -> dict[str, Any]:
        self.writer.close()
        return {"written": self.writer.count, "file": str(self.writer.path)}


class MemorySink:
    """Keeps everything in a list (tests and in-process evaluation)."""

    def __init__(self) -> None:
        self.items: list[Outgoing | Control] = []

    def send(self, msg: Outgoing) -> None:
        self.items.append(msg)

    def control(self, ctl: Control) -> None:
        self.items.append(ctl)

    def wait_until(self, deadline: float) -> None:
        time.sleep(max(0.0, deadline - time.monotonic()))

    def poll(self) -> None:
        pass

    def close(self) -> dict[str, Any]:
        return {"kept": len(self.items)}
