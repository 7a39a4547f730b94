"""Line protocol for validated contract messages (measurements and tags: ../shared/DESIGN.md, InfluxDB layout).

Tags are contract ids (already validated: no characters to escape); field keys come
from the contract models. Only string field values need escaping. Numbers are always
written as floats so a meter that once sends 12 and once 12.5 never causes a field
type conflict; `seq` is an integer field. Time is the message's `ts` in ms, written
at ns precision so that dead letters (stamped at arrival) can be made unique.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from storage.escape import string_field
from storage.measurements import DEAD_LETTER, DEVICE_STATUS, GATEWAY_STATE
from wire.models import Channel, Message, StateMessage

_MS_TO_NS = 1_000_000


def _fields(data: Mapping[str, Any]) -> list[str]:
    out = []
    for key, value in data.items():
        if isinstance(value, bool):
            out.append(f"{key}={'true' if value else 'false'}")
        elif isinstance(value, (int, float)):
            out.append(f"{key}={float(value)!r}")
        else:
            out.append(f"{key}={string_field(str(value))}")
    return out


def message_line(msg: Message) -> str:
    """One point: measurement per kind (device_status for status), tags gateway/device."""
    if msg.channel is Channel.STATUS:
        head = f"{DEVICE_STATUS},device={msg.device},gateway={msg.gateway},kind={msg.kind.value}"
    else:
        head = f"{msg.kind.value},device={msg.device},gateway={msg.gateway}"
    fields = _fields(msg.data)
    fields.append(f"seq={msg.seq}i")
    return f"{head} {','.join(fields)} {msg.ts * _MS_TO_NS}"


def state_line(msg: StateMessage, received_ms: int) -> str:
    """Gateway presence; the last will carries no ts, so arrival time stands in."""
    ts = msg.ts if msg.ts is not None else received_ms
    data = {k: v for k, v in msg.data.items() if k != "ts"}
    return f"{GATEWAY_STATE},gateway={msg.gateway} {','.join(_fields(data))} {ts * _MS_TO_NS}"


def _printable(text: str, limit: int) -> str:
    return "".join(ch if ch.isprintable() else "?" for ch in text[:limit])


def payload_text(payload: bytes, limit: int = 16 * 1024) -> tuple[str, str]:
    """(text, encoding) of a payload for a dead letter: UTF-8 if it is, else base64."""
    clipped = payload[:limit]
    try:
        return clipped.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return base64.b64encode(clipped).decode(), "base64"


def dead_letter_line(code: str, reason: str, topic: str, payload: bytes, t_ns: int) -> str:
    """A rejected message, kept in InfluxDB with its reason (tag: code; time: arrival, unique)."""
    text, encoding = payload_text(payload)
    fields = [
        f"topic={string_field(_printable(topic, 256))}",
        f"reason={string_field(_printable(reason, 500))}",
        f"payload={string_field(text.replace(chr(10), ' ').replace(chr(13), ' '))}",
        f"encoding={string_field(encoding)}",
        f"size={len(payload)}i",
    ]
    return f"{DEAD_LETTER},code={code} {','.join(fields)} {t_ns}"
