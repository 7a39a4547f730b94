"""The record file: MQTT traffic as gzip-compressed JSON lines (format in docs/simulator.md).

    line 1   {"shouwang_record": 1, "created_ms": ..., "source": "mqtt://127.0.0.1:18830", "filter": "sw/v1/#"}
    then     {"t_ms": 1717200000123, "topic": "sw/v1/gw-1/wm-0001/reading", "qos": 1, "retain": false,
              "payload": "{\"v\":1,...}"}
             a payload that is not UTF-8 is stored as "payload_b64" instead of "payload".

`t_ms` is when the message was captured (epoch ms); `sim run --out` writes the same
format with t_ms = simulated send time, so generated traffic replays like a recording.
The writer flushes a gzip sync point every second, so a recorder killed hard leaves a
file readable up to its last second. The reader skips a bad line with a warning
(file:line: reason), and a file cut short ends the replay at the last whole line.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import json
import logging
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from firmware_sim.errors import RecordFormatError

log = logging.getLogger(__name__)
FORMAT_VERSION = 1
HEADER_KEY = "shouwang_record"


@dataclass(frozen=True, slots=True)
class Record:
    """One captured message."""

    t_ms: int
    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = False


def record_line(rec: Record) -> bytes:
    """The JSON line of a record."""
    obj: dict[str, Any] = {"t_ms": rec.t_ms, "topic": rec.topic, "qos": rec.qos, "retain": rec.retain}
    try:
        obj["payload"] = rec.payload.decode("utf-8")
    except UnicodeDecodeError:
        obj["payload_b64"] = base64.b64encode(rec.payload).decode("ascii")
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"


class RecordWriter:
    """Writes a record file; use as a context manager."""

    def __init__(self, path: Path, source: str, **meta: Any) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh: BinaryIO = gzip.open(self.path, "wb", compresslevel=5)  # type: ignore[assignment]
        self.count = 0
        self._last_flush = time.monotonic()
        header = {HEADER_KEY: FORMAT_VERSION, "created_ms": time.time_ns() // 1_000_000, "source": source, **meta}
        self._fh.write(json.dumps(header, ensure_ascii=False, separators=(",", ":")).encode() + b"\n")

    def write(self, rec: Record) -> None:
        """Append one record."""
        self._fh.write(record_line(rec))
        self.count += 1
        now = time.monotonic()
        if now - self._last_flush >= 1.0:
            self._fh.flush()  # a gzip sync point: readable up to here if we are killed
            self._last_flush = now

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()

    def __enter__(self) -> RecordWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(slots=True)
class RecordReader:
    """Reads a record file: header, then records; bad lines are skipped and listed."""

    path: Path
    header: dict[str, Any] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    truncated: bool = False
    count: int = 0

    def __iter__(self) -> Iterator[Record]:
        try:
            fh = gzip.open(self.path, "rb")
        except OSError as exc:
            raise RecordFormatError(f"{self.path}: cannot open: {exc}") from None
        with fh:
            lineno = 0
            try:
                for lineno, raw in enumerate(fh, 1):
                    if lineno == 1:
                        self.header = self._header(raw)
                        continue
                    if not raw.strip():
                        continue
                    if not raw.endswith(b"\n"):
                        self.truncated = True  # the last line was cut off mid-write
                        log.warning("%s:%d: incomplete last line ignored", self.path, lineno)
                        break
                    try:
                        rec = self._record(raw)
                    except ValueError as exc:
                        self.skipped.append(f"{self.path}:{lineno}: {exc}")
                        log.warning("%s:%d: skipped: %s", self.path, lineno, exc)
                        continue
                    self.count += 1
                    yield rec
            except gzip.BadGzipFile as exc:
                if lineno == 0:
                    raise RecordFormatError(f"{self.path}: not a gzip file ({exc})") from None
                self.truncated = True
                log.warning("%s: corrupt after line %d (%s); stopped there", self.path, lineno, exc)
            except (EOFError, zlib.error) as exc:
                if lineno == 0:
                    raise RecordFormatError(f"{self.path}: empty or unreadable gzip data ({exc})") from None
                self.truncated = True
                log.warning("%s: file ends abruptly after line %d (recorder killed?); replaying what is there",
                            self.path, lineno)
            if lineno == 0:
                raise RecordFormatError(f"{self.path}: empty file, not a Shouwang recording")

    def _header(self, raw: bytes) -> dict[str, Any]:
        try:
            obj = json.loads(raw)
        except ValueError:
            obj = None
        if not isinstance(obj, dict) or obj.get(HEADER_KEY) != FORMAT_VERSION:
            raise RecordFormatError(f"{self.path}:1: not a Shouwang recording (expected a header line "
                                    f"{{\"{HEADER_KEY}\": {FORMAT_VERSION}, ...}})")
        return obj

    @staticmethod
    def _record(raw: bytes) -> Record:
        try:
            obj = json.loads(raw)
        except ValueError as exc:
            raise ValueError(f"not JSON ({str(exc)[:80]})") from None
        if not isinstance(obj, dict):
            raise ValueError("not a JSON object")
        t, topic, qos, retain = obj.get("t_ms"), obj.get("topic"), obj.get("qos", 1), obj.get("retain", False)
        if not isinstance(t, int) or isinstance(t, bool):
            raise ValueError("t_ms: expected integer milliseconds")
        if not isinstance(topic, str) or not topic:
            raise ValueError("topic: expected a non-empty string")
        if qos not in (0, 1, 2) or not isinstance(retain, bool):
            raise ValueError("qos must be 0, 1 or 2 and retain a boolean")
        if "payload" in obj and isinstance(obj["payload"], str):
            payload = obj["payload"].encode("utf-8")
        elif "payload_b64" in obj and isinstance(obj["payload_b64"], str):
            try:
                payload = base64.b64decode(obj["payload_b64"], validate=True)
            except (binascii.Error, ValueError):
                raise ValueError("payload_b64: not valid base64") from None
        else:
            raise ValueError("needs a string payload or payload_b64")
        return Record(t, topic, payload, qos, retain)
