"""Write batches to InfluxDB: retry what may succeed later, isolate what never will.

- InfluxDB down, timeout, 5xx, or auth refused -> back off (capped) and retry the same
  batch; nothing is acknowledged meanwhile, so nothing can be lost.
- 404 database not found -> create it, retry.
- 400 (bad or conflicting lines; partial write) / 413 -> split the batch in halves and
  write each (rewriting accepted points is harmless: same series and time), down to the
  single offending lines, which are returned for dead-lettering.

The writer sees InfluxDB through a small seam, LineStore: InfluxClient in service, MemoryLineStore
(in memory, scriptable failures, InfluxDB's field-type conflicts) in unit tests.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from ground.errors import InfluxError, InfluxRejected, InfluxUnavailable
from ingest.metrics import IngestMetrics

log = logging.getLogger(__name__)


class Stopped(Exception):
    """The worker was asked to stop while a write was still being retried."""


@dataclass(slots=True)
class Entry:
    """One received MQTT message waiting for its point to be written."""

    line: str
    mid: int
    qos: int
    epoch: int
    topic: str
    payload: bytes
    ts_ms: int | None
    dead_letter: bool = False


class LineStore(Protocol):
    """Where batches of line protocol go (storage.influx.InfluxClient, MemoryLineStore)."""

    def write(self, body: bytes, precision: str = "ns") -> None:
        """Write lines; raises InfluxUnavailable (retry later) or InfluxRejected (4xx)."""

    def ensure_database(self) -> None:
        """Create the database (idempotent)."""

    def close(self) -> None: ...


_FIELD = re.compile(r'([^,=]+)=("(?:[^"\\]|\\.)*"|[^,]*)')


def _field_type(value: str) -> str:
    if value.startswith('"'):
        return "string"
    if value in ("t", "T", "true", "True", "TRUE", "f", "F", "false", "False", "FALSE"):
        return "boolean"
    return "integer" if value.endswith("i") else "float"


class MemoryLineStore:
    """A LineStore in memory, for tests: keeps points as InfluxDB would, fails as it is told to.

    - points: (series, time) -> line; writing the same series and time again overwrites, as InfluxDB merges.
    - failures: errors the next writes raise, one per write (InfluxUnavailable for down, 5xx or a timeout;
      InfluxRejected(..., 404) for a missing database, 401 for bad credentials).
    - a field's type is fixed by its first write per measurement; a line that conflicts (or does not parse) is
      dropped, the rest of the write is kept and the write answers 400 "partial write", like InfluxDB 1.x.
    """

    def __init__(self) -> None:
        self.points: dict[tuple[str, str], str] = {}
        self.failures: list[InfluxError] = []
        self.writes: list[int] = []  # lines per write attempt, failed ones included
        self.databases_created = 0
        self.closed = False
        self._types: dict[tuple[str, str], str] = {}

    def write(self, body: bytes, precision: str = "ns") -> None:
        lines = body.decode().split("\n")
        self.writes.append(len(lines))
        if self.failures:
            raise self.failures.pop(0)
        conflicts = [reason for line in lines if (reason := self._store(line))]
        if conflicts:
            text = json.dumps({"error": f"partial write: {conflicts[0]} dropped={len(conflicts)}"})
            raise InfluxRejected(f"InfluxDB /write answered 400: {text[:300]}", 400, text)

    def _store(self, line: str) -> str | None:
        try:
            series, rest = line.split(" ", 1)
            fields, ts = rest.rsplit(" ", 1)
        except ValueError:
            return f"unable to parse '{line[:100]}'"
        measurement = series.split(",", 1)[0]
        parsed = [(key, _field_type(value)) for key, value in _FIELD.findall(fields)]
        for key, kind in parsed:
            known = self._types.get((measurement, key), kind)
            if known != kind:
                return (f'field type conflict: input field "{key}" on measurement "{measurement}" is type {kind}, '
                        f"already exists as type {known}")
        for key, kind in parsed:
            self._types[(measurement, key)] = kind
        self.points[(series, ts)] = line
        return None

    def ensure_database(self) -> None:
        self.databases_created += 1

    def close(self) -> None:
        self.closed = True

    @property
    def lines(self) -> list[str]:
        """The stored points' lines, in the order first written."""
        return list(self.points.values())


class BatchWriter:
    """Writes entries' lines; returns the entries InfluxDB refused with the reason."""

    def __init__(self, influx: LineStore, metrics: IngestMetrics, retry_max_s: float,
                 stop: threading.Event) -> None:
        self.influx = influx
        self.metrics = metrics
        self.retry_max_s = retry_max_s
        self.stop = stop

    def write(self, entries: Sequence[Entry]) -> list[tuple[Entry, str]]:
        """Write all lines, bisecting around rejected ones; raises Stopped if asked to stop."""
        rejected: list[tuple[Entry, str]] = []
        chunks = [list(entries)]
        while chunks:
            chunk = chunks.pop()
            try:
                self._write_retrying(chunk)
            except InfluxRejected as exc:
                if len(chunk) == 1:
                    rejected.append((chunk[0], f"InfluxDB refused the point: {exc.body[:300]}"))
                else:
                    half = len(chunk) // 2
                    chunks += [chunk[half:], chunk[:half]]
        return rejected

    def _write_retrying(self, chunk: Sequence[Entry]) -> None:
        body = "\n".join(e.line for e in chunk).encode()
        delay = 0.2
        while True:
            try:
                self.influx.write(body, precision="ns")
                return
            except InfluxUnavailable as exc:
                log.warning("InfluxDB unavailable (%s); retrying %d points in %.1f s", exc, len(chunk), delay)
            except InfluxRejected as exc:
                if exc.status == 404:
                    log.warning("database missing; creating it")
                    try:
                        self.influx.ensure_database()
                    except (InfluxUnavailable, InfluxRejected) as exc2:
                        log.error("cannot create database: %s", exc2)
                elif exc.status in (401, 403):
                    log.error("InfluxDB refused our credentials (%s); check influx.username/password/token, "
                              "retrying in %.1f s", exc.status, delay)
                else:
                    raise
            self.metrics.retries.inc()
            if self.stop.wait(delay):
                raise Stopped()
            delay = min(delay * 2, self.retry_max_s)
