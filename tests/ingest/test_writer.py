"""The batch writer's retries and bisection through the in-memory LineStore (against a real influxd, with the
whole service: tests/ingest/test_service.py)."""

from __future__ import annotations

import threading

import pytest

from ground.errors import InfluxRejected, InfluxUnavailable
from ingest.metrics import IngestMetrics
from ingest.writer import BatchWriter, Entry, MemoryLineStore, Stopped

T0 = 1_795_450_000_000


class RecordingStop(threading.Event):
    """A stop event whose waits return at once and are recorded (the backoff delays)."""

    def __init__(self) -> None:
        super().__init__()
        self.waits: list[float] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(timeout)
        return self.is_set()


def entry(i: int, field: str = "total_l=1.0", device: str = "wm-1") -> Entry:
    line = f"water_meter,device={device},gateway=gw-a {field},seq={i}i {(T0 + i) * 10**6}"
    return Entry(line, mid=i + 1, qos=1, epoch=1, topic=f"sw/v1/gw-a/{device}/reading", payload=b"{}", ts_ms=T0 + i)


def writer(store: MemoryLineStore, retry_max_s: float = 30.0) -> tuple[BatchWriter, RecordingStop, IngestMetrics]:
    stop, metrics = RecordingStop(), IngestMetrics()
    return BatchWriter(store, metrics, retry_max_s, stop), stop, metrics


def retries(metrics: IngestMetrics) -> float:
    return metrics.registry.get_sample_value("ingest_write_retries_total")


def test_a_good_batch_is_one_write() -> None:
    store = MemoryLineStore()
    w, stop, metrics = writer(store)
    batch = [entry(i) for i in range(50)]
    assert w.write(batch) == []
    assert store.writes == [50]
    assert store.lines == [e.line for e in batch]
    assert retries(metrics) == 0 and stop.waits == []


def test_influx_down_retries_the_same_batch_with_capped_backoff() -> None:
    store = MemoryLineStore()
    store.failures = [InfluxUnavailable("down")] * 6 + [InfluxUnavailable("503", 503, "busy")]
    w, stop, metrics = writer(store, retry_max_s=2.0)
    batch = [entry(i) for i in range(10)]
    assert w.write(batch) == []
    assert store.writes == [10] * 8  # seven failures, then the same ten lines once more
    assert stop.waits == pytest.approx([0.2, 0.4, 0.8, 1.6, 2.0, 2.0, 2.0])
    assert retries(metrics) == 7
    assert store.lines == [e.line for e in batch]


@pytest.mark.parametrize("status", [401, 403])
def test_refused_credentials_are_retried_not_dropped(status: int) -> None:
    store = MemoryLineStore()
    store.failures = [InfluxRejected("auth", status, "unauthorized")] * 2
    w, _, metrics = writer(store)
    assert w.write([entry(1)]) == []
    assert len(store.lines) == 1 and retries(metrics) == 2


def test_a_missing_database_is_created_and_the_write_retried() -> None:
    store = MemoryLineStore()
    store.failures = [InfluxRejected("no db", 404, '{"error":"database not found: \\"shouwang\\""}')]
    w, _, _ = writer(store)
    assert w.write([entry(1), entry(2)]) == []
    assert store.databases_created == 1 and len(store.lines) == 2


def test_a_partial_write_is_bisected_down_to_the_offending_points() -> None:
    store = MemoryLineStore()
    store.write(b'water_meter,device=poison,gateway=gw-a flow_lpm="oops" 1')  # flow_lpm is now a string field
    w, _, metrics = writer(store)
    batch = [entry(i, "total_l=1.0" if i % 5 else "total_l=1.0,flow_lpm=2.0") for i in range(20)]
    rejected = w.write(batch)
    assert [e for e, _ in rejected] == [batch[0], batch[5], batch[10], batch[15]]
    assert all("field type conflict" in reason and reason.startswith("InfluxDB refused the point: ")
               for _, reason in rejected)
    stored = set(store.lines)
    assert all((e.line in stored) == (i % 5 != 0) for i, e in enumerate(batch))
    assert retries(metrics) == 0  # a refusal is not retried as it is: it is split


def test_a_batch_too_large_is_split_and_all_of_it_written() -> None:
    store = MemoryLineStore()
    store.failures = [InfluxRejected("too large", 413, "request entity too large")]
    w, _, _ = writer(store)
    batch = [entry(i) for i in range(8)]
    assert w.write(batch) == []
    assert store.writes == [8, 4, 4]
    assert sorted(store.lines) == sorted(e.line for e in batch)


def test_rewriting_accepted_points_does_not_duplicate_them() -> None:
    store = MemoryLineStore()
    w, _, _ = writer(store)
    batch = [entry(i) for i in range(4)]
    w.write(batch)
    w.write(batch)  # a redelivery after a reconnect
    assert len(store.points) == 4


def test_stop_while_retrying_raises_stopped_and_writes_nothing() -> None:
    store = MemoryLineStore()
    store.failures = [InfluxUnavailable("down")] * 3
    w, stop, _ = writer(store)
    stop.set()
    with pytest.raises(Stopped):
        w.write([entry(1)])
    assert store.lines == [] and stop.waits == [0.2]
