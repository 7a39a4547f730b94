"""Traffic the evaluation did not generate: a record file or JSONL of contract messages, read line by line.

Two formats, told apart by the first line (either may be gzip-compressed):
    record file  `sim record` / `sim run --out` output (firmware_sim/recordfile.py): a header line
                 {"shouwang_record": 1, ...}, then {"t_ms": ..., "topic": ..., "payload": "..."} per message;
                 t_ms (capture time) is when the engine saw the message
    JSONL        one contract message a line: {"topic": "sw/v1/gw/dev/reading", "payload": {...}} (payload
                 an object or its JSON text), optionally "t_ms"; without it, the payload's ts is the time
Every line is validated as ingest validates it (wire.decode). A bad line - not JSON, no topic, a payload the
contract refuses - is reported with its line number and reason and skipped; nothing good is lost.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ground.errors import ShouwangError
from wire.errors import ContractError
from wire.models import Message, StateMessage, decode

HEADER_KEY = "shouwang_record"  # firmware_sim/recordfile.py


class TrafficFileError(ShouwangError):
    """The traffic file as a whole cannot be read."""


@dataclass(frozen=True, slots=True)
class LineError:
    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


@dataclass(frozen=True, slots=True)
class Item:
    line: int
    at_ms: int | None  # when the engine saw it (None: the payload's ts)
    msg: Message | StateMessage


@dataclass
class TrafficFile:
    """Iterate for the valid messages; `errors` lists the lines skipped (filled while iterating)."""

    path: Path
    format: str = ""
    lines: int = 0
    errors: list[LineError] = field(default_factory=list)

    def _open(self):
        try:
            with open(self.path, "rb") as fh:
                magic = fh.read(2)
        except OSError as exc:
            raise TrafficFileError(f"{self.path}: cannot open: {exc.strerror}") from None
        return gzip.open(self.path, "rb") if magic == b"\x1f\x8b" else open(self.path, "rb")

    def __iter__(self) -> Iterator[Item]:
        with self._open() as fh:
            lineno = 0
            try:
                for lineno, raw in enumerate(fh, 1):
                    self.lines = lineno
                    if not raw.strip():
                        continue
                    if lineno == 1:
                        head = _json(raw)
                        if isinstance(head, dict) and HEADER_KEY in head:
                            if head[HEADER_KEY] != 1:
                                raise TrafficFileError(f"{self.path}:1: record format {head[HEADER_KEY]!r} "
                                                       "is not supported (1 is)")
                            self.format = "record"
                            continue
                        self.format = "jsonl"
                    try:
                        yield self._item(lineno, raw)
                    except (ValueError, ContractError) as exc:
                        self.errors.append(LineError(lineno, str(exc)))
            except (EOFError, OSError) as exc:  # a gzip file cut short: keep what came before
                self.errors.append(LineError(lineno + 1, f"file ends abruptly ({exc}); read up to here"))
        if self.lines == 0:
            raise TrafficFileError(f"{self.path}: empty file")

    def _item(self, lineno: int, raw: bytes) -> Item:
        obj = _json(raw)
        if obj is None:
            raise ValueError("not JSON")
        if not isinstance(obj, dict):
            raise ValueError("not a JSON object")  # noqa: TRY004 - a reason for the line, like the others
        topic = obj.get("topic")
        if not isinstance(topic, str) or not topic:
            raise ValueError("topic: expected a non-empty string")
        t = obj.get("t_ms")
        if t is not None and (not isinstance(t, int) or isinstance(t, bool)):
            raise ValueError("t_ms: expected integer milliseconds")
        p = obj.get("payload")
        if isinstance(p, dict):
            payload = json.dumps(p, separators=(",", ":"), ensure_ascii=False).encode()
        elif isinstance(p, str):
            payload = p.encode("utf-8")
        elif isinstance(obj.get("payload_b64"), str):
            try:
                payload = base64.b64decode(obj["payload_b64"], validate=True)
            except (binascii.Error, ValueError):
                raise ValueError("payload_b64: not valid base64") from None
        else:
            raise ValueError("payload: expected a JSON object, its text, or payload_b64")  # noqa: TRY004
        return Item(lineno, t, decode(topic, payload))


def _json(raw: bytes) -> object | None:
    try:
        return json.loads(raw)
    except ValueError:
        return None


def foreign_error(line: int, msg: Message, registered: str) -> LineError:
    """A message for a registered device from another gateway: the engine takes it as an unregistered device's
    (Engine.own_gateway); a backtest reports and skips it, as it does an unknown device."""
    return LineError(line, f"device {msg.device!r} is registered on gateway {registered!r}, the message came from "
                           f"{msg.gateway!r}; skipped")
