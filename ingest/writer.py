"""Write batches to InfluxDB: retry what may succeed later, isolate what never will.

- InfluxDB down, timeout, 5xx, or auth refused -> back off (capped) and retry the same
  batch; nothing is acknowledged meanwhile, so nothing can be lost.
- 404 database not found -> create it, retry.
- 400 (bad or conflicting lines; partial write) / 413 -> split the batch in halves and
  write each (rewriting accepted points is harmless: same series and time), down to the
  single offending lines, which are returned for dead-lettering.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from ground.errors import InfluxRejected, InfluxUnavailable
from ingest.metrics import IngestMetrics
from storage.influx import InfluxClient

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


class BatchWriter:
    """Writes entries' lines; returns the entries InfluxDB refused with the reason."""

    def __init__(self, influx: InfluxClient, metrics: IngestMetrics, retry_max_s: float,
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
