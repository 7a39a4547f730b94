"""The pure ingest pipeline: one MQTT message in, a point line or a dead letter out. No MQTT, no network.

    process(topic, payload, received_ms, limits)  -> Point | DeadLetter
    DeadLetter(topic, payload, code, reason, received_ms)  also for a message refused later (InfluxDB, a bug)
    clears_retained(topic, payload, retain)      must this retained message be cleared at the broker?
    DeadLetterStamps                             unique arrival times for dead_letter points

The service (ingest/service.py) feeds it what the broker delivers, publishes each dead letter's body to
the dead-letter topic and writes the lines in batches.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass

from ingest.lineproto import dead_letter_line, message_line, payload_text, state_line
from wire import ContractError, decode
from wire.models import Message
from wire.topics import is_gateway_state_topic

_MS_TO_NS = 1_000_000


@dataclass(frozen=True, slots=True)
class Limits:
    """How far from its arrival a message's ts may be: ahead (clock skew) and behind (retention)."""

    max_future_ms: int
    max_age_ms: int | None = None


@dataclass(frozen=True, slots=True)
class Point:
    """A valid message as one line of line protocol; ts_ms is the device time (None: a last will)."""

    line: str
    ts_ms: int | None


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A rejected message with its reason code (contract codes, `influx`, `internal`) and text."""

    topic: str
    payload: bytes
    code: str
    reason: str
    received_ms: int

    def body(self) -> str:
        """The JSON published to the dead-letter topic: topic, code, reason, payload as text or base64."""
        text, encoding = payload_text(self.payload)
        return json.dumps({"topic": self.topic, "code": self.code, "reason": self.reason,
                           "received_ms": self.received_ms, "size": len(self.payload), "payload": text,
                           "encoding": encoding})

    def line(self, t_ns: int) -> str:
        """The dead_letter point, stamped t_ns (unique: see DeadLetterStamps)."""
        return dead_letter_line(self.code, self.reason, self.topic, self.payload, t_ns)


def process(topic: str, payload: bytes, received_ms: int, limits: Limits) -> Point | DeadLetter:
    """Validate a message against the contract and turn it into its point, or into a dead letter saying why not."""
    try:
        decoded = decode(topic, payload, now_ms=received_ms, max_future_ms=limits.max_future_ms,
                         max_age_ms=limits.max_age_ms)
    except ContractError as exc:
        return DeadLetter(topic, payload, exc.code, exc.reason, received_ms)
    if isinstance(decoded, Message):
        return Point(message_line(decoded), decoded.ts)
    return Point(state_line(decoded, received_ms), decoded.ts)


def clears_retained(topic: str, payload: bytes, retain: bool) -> bool:
    """Only a gateway's presence may stay retained; any other retained message is cleared as it arrives."""
    return retain and bool(payload) and not is_gateway_state_topic(topic)


class DeadLetterStamps:
    """Arrival times in ns for dead_letter points, strictly increasing so two dead letters never merge."""

    def __init__(self) -> None:
        self._last_ns = 0
        self._lock = threading.Lock()

    def next(self, received_ms: int) -> int:
        with self._lock:
            self._last_ns = max(received_ms * _MS_TO_NS, self._last_ns + 1)
            return self._last_ns
