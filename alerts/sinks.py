"""Where alert changes go besides the store: InfluxDB measurement `alert` and MQTT sw/alerts/v1/...

Topics (the service account may write sw/alerts/#):
    sw/alerts/v1/event          every change, QoS 1, not retained
    sw/alerts/v1/active/{id}    retained current state of an active alert; emptied when it ends
Payloads and tags carry codes and ids only, never names, addresses or phone numbers.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from alerts.lifecycle import AlertChange
from ground.errors import InfluxRejected, InfluxUnavailable
from storage.escape import string_field, tag_value
from storage.influx import InfluxClient
from storage.measurements import ALERT

log = logging.getLogger(__name__)
ALERT_ROOT = "sw/alerts/v1"
EVENT_TOPIC = f"{ALERT_ROOT}/event"


class Sink(Protocol):
    """Receives every alert change, the engine's and people's (InfluxDB points, MQTT events)."""

    def emit(self, change: AlertChange) -> None: ...


def active_topic(alert_id: int) -> str:
    return f"{ALERT_ROOT}/active/{int(alert_id)}"


def change_payload(change: AlertChange) -> dict[str, Any]:
    """The public (personal-data-free) view of a change."""
    a = change.alert
    return {"v": 1, "id": a.id, "action": change.action, "at": change.at, "rule": a.rule.value,
            "severity": a.severity.value, "state": a.state.value, "subject": a.subject, "place": a.place,
            "grid": a.grid, "opened_at": a.opened_at, "summary": a.summary, "merged": a.merged_count,
            "step": a.escalation_step, "outcome": a.outcome.value if a.outcome else None,
            "actor_channel": change.channel}


def alert_line(change: AlertChange, with_grid: bool) -> str:
    """Line protocol of one change; the sub-millisecond ns carry the alert id so two never merge."""
    a = change.alert
    tags = f"{ALERT},action={tag_value(change.action)},rule={a.rule.value},severity={a.severity.value}"
    if with_grid and a.grid:
        tags += f",grid={tag_value(a.grid)}"
    fields = [f"id={a.id}i", f"state={string_field(a.state.value)}", f"subject={string_field(a.subject)}",
              f"merged={a.merged_count}i", f"step={a.escalation_step}i"]
    if a.time_to_acknowledge_s is not None:
        fields.append(f"tta_s={a.time_to_acknowledge_s!r}")
    if a.time_to_resolve_s is not None:
        fields.append(f"ttr_s={a.time_to_resolve_s!r}")
    return f"{tags} {','.join(fields)} {change.at * 1_000_000 + a.id % 1_000_000}"


class InfluxAlertSink:
    """Writes alert changes to InfluxDB from a background thread (a slow InfluxDB never delays an alert)."""

    def __init__(self, influx: InfluxClient, with_grid: Callable[[], bool], max_queue: int = 100_000) -> None:
        self.influx = influx
        self.with_grid = with_grid
        self.q: queue.Queue[str | None] = queue.Queue(max_queue)
        self.written = 0
        self.dropped = 0
        self._pending = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="alert-influx", daemon=True)
        self._thread.start()

    def emit(self, change: AlertChange) -> None:
        try:
            with self._lock:
                self._pending += 1
            self.q.put_nowait(alert_line(change, self.with_grid()))
        except queue.Full:
            with self._lock:
                self._pending -= 1
            self.dropped += 1  # the store keeps the alert; only the dashboard point is lost
            log.error("alert point queue full; dropped the InfluxDB point of alert %d", change.alert.id)

    def _run(self) -> None:
        delay = 0.2
        while True:
            line = self.q.get()
            if line is None:
                return
            batch = [line]
            while len(batch) < 1000:
                try:
                    nxt = self.q.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._stop.set()
                    break
                batch.append(nxt)
            while True:
                try:
                    self.influx.write("\n".join(batch).encode(), precision="ns")
                    self.written += len(batch)
                    self._done(len(batch))
                    delay = 0.2
                    break
                except InfluxUnavailable as exc:
                    if self._stop.is_set():
                        log.warning("stopping with %d alert points unwritten: %s", len(batch), exc)
                        return
                    log.warning("InfluxDB unavailable for alert points (%s); retrying in %.1f s", exc, delay)
                    self._stop.wait(delay)
                    delay = min(delay * 2, 30)
                except InfluxRejected as exc:
                    if exc.status == 404:
                        try:
                            self.influx.ensure_database()
                            continue
                        except (InfluxUnavailable, InfluxRejected):
                            pass
                    self.dropped += len(batch)
                    self._done(len(batch))
                    log.error("InfluxDB refused %d alert points: %s", len(batch), exc)
                    break
            if self._stop.is_set():
                return

    def _done(self, n: int) -> None:
        with self._lock:
            self._pending -= n

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every queued point was written or dropped (tests, shutdown)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if self._pending == 0:
                    return True
            time.sleep(0.02)
        return False

    def close(self, timeout: float = 5.0) -> None:
        self.q.put(None)
        self._thread.join(timeout)


class MqttAlertSink:
    """Publishes changes for the console and other subscribers through a connected paho client."""

    def __init__(self, publish: Callable[[str, bytes, int, bool], Any]) -> None:
        self.publish = publish

    def emit(self, change: AlertChange) -> None:
        body = json.dumps(change_payload(change), separators=(",", ":"), ensure_ascii=False).encode()
        self.publish(EVENT_TOPIC, body, 1, False)
        topic = active_topic(change.alert.id)
        self.publish(topic, body if change.alert.active else b"", 1, True)
