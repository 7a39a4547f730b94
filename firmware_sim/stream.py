"""What flows from generators and recordings through the fault layer to a transport.

    Outgoing   one MQTT message to send at `at_ms` (simulated or recorded time)
    Control    a gateway's uplink goes down or comes back (outage windows)
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from wire.models import SCHEMA_VERSION

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message for a gateway to publish."""

    at_ms: int
    topic: str
    payload: bytes
    gateway: str
    qos: int = 1
    retain: bool = False


@dataclass(frozen=True, slots=True)
class Control:
    """A gateway's uplink goes down (online=False: its last will fires) or comes back."""

    at_ms: int
    gateway: str
    online: bool


Item = Outgoing | Control


def fast_payload(kind: str, ts: int, seq: int, data: dict) -> bytes:
    """Contract v1 payload bytes without pydantic; byte-identical to wire.encode for valid data."""
    return b'{"v":%d,"kind":"%s","ts":%d,"seq":%d,"data":%s}' % (
        SCHEMA_VERSION, kind.encode(), ts, seq, _dumps(data).encode())
