"""The ingest worker: MQTT (plain persistent subscription, manual acks) -> InfluxDB.

One worker per broker: its session (client id, subscription, queue) is kept by Mosquitto across
ingest restarts and across broker restarts, so a PUBACK a gateway got means the message reaches
InfluxDB through any single fault (benchmarks/fault_suite.py). Not through two at once: Mosquitto
saves its queue to disk only every autosave_interval, so if it dies while ingest is also down, what
it acknowledged since its last save is lost (README, "Faults and attacks"). A shared subscription
would not survive a Mosquitto 2.0 restart at all, so there is none.

Threads: paho's network thread runs each message through the pipeline (ingest/pipeline.py: its
point line or a dead letter) and appends it to the pending batch; the main thread flushes batches
(size or time) and acknowledges each message only after InfluxDB accepted the batch holding it,
through the durable consumer (broker_config/consumer.py: manual acks of the current connection only).
While InfluxDB is down nothing is acknowledged, so the broker stops sending once `receive_maximum`
messages are unacknowledged and keeps the rest queued in our persistent session.
"""

from __future__ import annotations

import logging
import threading
import time

from paho.mqtt.subscribeoptions import SubscribeOptions

from broker_config import Account
from broker_config.consumer import Ackable, Consumer, Delivery
from ground.clock import Clock, SystemClock
from ground.errors import InfluxRejected, InfluxUnavailable
from ground.heartbeat import Heartbeat
from ingest.metrics import IngestMetrics
from ingest.pipeline import DeadLetter, DeadLetterStamps, Limits, Point, clears_retained, process
from ingest.settings import IngestSettings
from ingest.writer import BatchWriter, Entry, LineStore, Stopped
from storage.influx import InfluxClient
from wire import DEAD_LETTER_TOPIC, MAX_FUTURE_MS
from wire.topics import ALL_TOPICS, log_topic

log = logging.getLogger(__name__)


class IngestService:
    """The ingest worker; the clock (arrival times) and the line store (InfluxDB) can be injected."""

    subscription = ALL_TOPICS

    def __init__(self, cfg: IngestSettings, clock: Clock | None = None, store: LineStore | None = None) -> None:
        self.cfg = cfg
        self.icfg = cfg.ingest
        self.clock = clock or SystemClock()
        self.metrics = IngestMetrics()
        self.influx = store if store is not None else InfluxClient(cfg.influx)
        self.stop_event = threading.Event()
        self.writer = BatchWriter(self.influx, self.metrics, self.icfg.retry_max_s, self.stop_event)
        self.limits = Limits(max_future_ms=MAX_FUTURE_MS, max_age_ms=cfg.influx.retention_ms)
        self.stamps = DeadLetterStamps()
        self._cond = threading.Condition()
        self._pending: list[Entry] = []
        self._first_pending_at = 0.0
        self._last_stored_at_ms: int | None = None
        self.consumer = self._make_consumer()
        self.metrics.connected.set_function(lambda: 1.0 if self.consumer.connected else 0.0)
        self.metrics.subscribed.set_function(lambda: 1.0 if self.consumer.ready.is_set() else 0.0)

    def _make_consumer(self) -> Consumer:
        """The MQTT durable consumer; on a NATS cluster the JetStream one (ingest/native.py)."""
        if self.cfg.broker.kind == "nats":
            from ingest.native import jetstream_consumer  # imports the NATS client only where it is used

            return jetstream_consumer(self)  # type: ignore[return-value]
        # retainAsPublished: a device message a gateway left retained is seen as such and cleared;
        # noLocal: those clearing messages do not come back to us
        return Consumer(self.cfg, Account.INGEST, self.icfg.client_id, self.subscription,
                        on_message=self._on_message, session_expiry_s=self.icfg.session_expiry_s,
                        receive_maximum=self.icfg.receive_maximum, reconnect_max_s=self.icfg.reconnect_max_s,
                        options=SubscribeOptions(qos=1, noLocal=True, retainAsPublished=True))

    # --- MQTT (paho's network thread) -------------------------------------------------

    def _on_message(self, d: Delivery) -> None:
        msg = d.message
        received_ms = self.clock.now_ms()
        self.metrics.received.inc()
        topic = msg.topic
        if clears_retained(topic, msg.payload, msg.retain):
            self._clear_retained(topic)
        try:
            out: Point | DeadLetter = process(topic, msg.payload, received_ms, self.limits)
        except Exception as exc:  # a bug must not block the stream: record it as a dead letter
            self.metrics.internal_errors.inc()
            log.exception("internal error handling a message on %s", log_topic(topic))
            out = DeadLetter(topic, msg.payload, "internal", f"internal error: {type(exc).__name__}", received_ms)
        if isinstance(out, DeadLetter):
            entry = self._dead_letter(out, d)
        else:
            entry = Entry(out.line, d.mid, d.qos, d.epoch, topic, msg.payload, out.ts_ms)
        with self._cond:
            if not self._pending:
                self._first_pending_at = time.monotonic()
            self._pending.append(entry)
            n = len(self._pending)
            if n >= self.icfg.batch_size:
                self._cond.notify()
        self.metrics.pending.set(n)

    def _clear_retained(self, topic: str) -> None:
        """Only a gateway's presence may stay retained: the broker would otherwise keep every retained device
        message a gateway cares to send (memory) and hand them all to each new subscriber. The message itself
        is still handled (stored or dead-lettered) like any other."""
        self.metrics.retained_cleared.inc()
        log.warning("cleared a retained message on %s (only sw/v1/{gateway}/state may be retained)", log_topic(topic))
        self.consumer.publish(topic, b"", qos=1, retain=True)

    def _dead_letter(self, dl: DeadLetter, of: Ackable) -> Entry:
        """Record a rejected message: counter, log (ids only), DLQ topic; its entry carries the dead_letter point."""
        self.metrics.rejected.labels(dl.code).inc()
        # a client chooses the topic and the payload: log only contract ids and the code, never the payload or
        # the reason (which may quote a value); both are in the dead letter
        log.warning("rejected message on %s: %s", log_topic(dl.topic), dl.code)
        self.consumer.publish(DEAD_LETTER_TOPIC, dl.body(), qos=1)
        return Entry(dl.line(self.stamps.next(dl.received_ms)), of.mid, of.qos, of.epoch, dl.topic, dl.payload,
                     None, dead_letter=True)

    # --- batching and writing ---------------------------------------------------

    def _take_batch(self) -> list[Entry]:
        interval = self.icfg.flush_interval_ms / 1000
        idle_waits = 0
        with self._cond:
            while not self.stop_event.is_set():
                n = len(self._pending)
                if n >= self.icfg.batch_size:
                    break
                if n:
                    wait = self._first_pending_at + interval - time.monotonic()
                    if wait <= 0:
                        break
                elif idle_waits:  # nothing came for a whole interval: back to the loop (it beats), then wait again
                    break
                else:
                    wait = interval
                    idle_waits += 1
                self._cond.wait(wait)
            batch, self._pending = self._pending[: self.icfg.batch_size], self._pending[self.icfg.batch_size:]
            if self._pending:
                self._first_pending_at = time.monotonic()
            return batch

    def _flush(self, batch: list[Entry]) -> None:
        started = time.perf_counter()
        rejected = self.writer.write(batch)
        if rejected:
            now = self.clock.now_ms()
            retry = []
            for entry, reason in rejected:
                log.warning("InfluxDB rejected the point of a message on %s: %s", log_topic(entry.topic), reason)
                retry.append(self._dead_letter(DeadLetter(entry.topic, entry.payload, "influx", reason, now), entry))
            still = self.writer.write(retry)
            for entry, reason in still:  # our own dead-letter format refused: cannot happen short of a bug
                log.error("dead letter itself refused by InfluxDB, message on %s lost: %s", log_topic(entry.topic),
                          reason)
        elapsed = time.perf_counter() - started
        self.metrics.batch_latency.observe(elapsed)
        self.metrics.batch_size.observe(len(batch))
        self.metrics.written.inc(len(batch) - len(rejected))
        newest = max((e.ts_ms for e in batch if e.ts_ms is not None), default=None)
        if newest is not None:
            self.metrics.lag.set(max(0.0, (self.clock.now_ms() - newest) / 1000))
        self._ack(batch)

    def _ack(self, batch: list[Entry]) -> None:
        # acks of an earlier connection are skipped: the broker redelivers those messages; ts makes that idempotent
        acked, stale = self.consumer.ack(batch)
        self.metrics.acked.inc(acked)
        if stale:
            self.metrics.stale_acks.inc(stale)
        with self._cond:
            self.metrics.pending.set(len(self._pending))

    # --- lifecycle --------------------------------------------------------------

    def _prepare_database(self) -> None:
        delay = 0.5
        while not self.stop_event.is_set():
            try:
                self.influx.ensure_database()
                return
            except (InfluxUnavailable, InfluxRejected) as exc:
                log.warning("InfluxDB not ready (%s); retrying in %.1f s", exc, delay)
                self.stop_event.wait(delay)
                delay = min(delay * 2, self.icfg.retry_max_s)

    def run(self) -> None:
        """Run until stop() is called; flushes what it can before leaving."""
        self._prepare_database()
        if self.icfg.metrics_port:
            self.metrics.serve(self.icfg.metrics_host, self.icfg.metrics_port)
        self.consumer.start()
        log.info("ingest %s consuming %s from %s:%d into %s/%s", self.icfg.client_id, self.subscription,
                 self.consumer.host, self.consumer.port, self.cfg.influx.base_url, self.cfg.influx.database)
        # beats from this loop: a hung worker, or one blocked on a store that is down, stops beating
        heartbeat = Heartbeat(self.cfg.state_path, "ingest")
        try:
            while not self.stop_event.is_set():
                batch = self._take_batch()
                if batch:
                    self._flush(batch)
                    self._last_stored_at_ms = self.clock.now_ms()
                heartbeat.beat(self._progress())
        except Stopped:
            log.info("stopping with a batch unwritten; the broker keeps it for our session")
        finally:
            self._drain_on_stop()
            self.consumer.stop()
            self.influx.close()
            heartbeat.stopped()

    def _progress(self) -> dict[str, float | int | None]:
        """Counters for the beat file (`shouwang status`, the watchdog)."""
        with self._cond:
            pending = len(self._pending)
        m = self.metrics
        return {"received": int(m.value("ingest_messages_received_total")),
                "stored": int(m.value("ingest_points_written_total")), "pending": pending,
                "lag_s": m.value("ingest_consumer_lag_seconds"),
                "last_stored_at_ms": self._last_stored_at_ms, "connected": self.consumer.connected}

    def _drain_on_stop(self) -> None:
        """One last attempt (no retries) to write and ack what is pending."""
        with self._cond:
            batch, self._pending = self._pending, []
        if not batch:
            return
        try:
            self.influx.write("\n".join(e.line for e in batch).encode(), precision="ns")
        except (InfluxUnavailable, InfluxRejected) as exc:
            log.info("left %d messages unacknowledged for redelivery (%s)", len(batch), exc)
            return
        self._ack(batch)  # queued before DISCONNECT, so they go out first

    def stop(self) -> None:
        self.stop_event.set()
        with self._cond:
            self._cond.notify_all()
