"""Ingest counters, exported as Prometheus text."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server


class IngestMetrics:
    """Counters and gauges of one ingest worker, in their own registry."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.received = Counter("ingest_messages_received", "MQTT messages received", registry=r)
        self.written = Counter("ingest_points_written", "points accepted by InfluxDB", registry=r)
        self.rejected = Counter("ingest_messages_rejected", "messages dead-lettered, by reason code",
                                ["code"], registry=r)
        self.acked = Counter("ingest_messages_acked", "MQTT messages acknowledged after their write",
                             registry=r)
        self.retries = Counter("ingest_write_retries", "InfluxDB writes retried (down, 5xx, timeout)",
                               registry=r)
        self.stale_acks = Counter("ingest_stale_acks_skipped",
                                  "acks skipped because the connection changed (the broker redelivers)",
                                  registry=r)
        self.retained_cleared = Counter("ingest_retained_cleared", "retained device messages cleared at the broker "
                                        "(only a gateway's presence may stay retained)", registry=r)
        self.internal_errors = Counter("ingest_internal_errors", "unexpected errors handling a message",
                                       registry=r)
        self.batch_latency = Histogram("ingest_batch_write_seconds", "time to write one batch, retries included",
                                       buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
                                       registry=r)
        self.batch_size = Histogram("ingest_batch_points", "points per written batch",
                                    buckets=(1, 10, 100, 500, 1000, 2000, 5000, 10000, 20000), registry=r)
        self.pending = Gauge("ingest_pending_messages", "received, not yet written and acknowledged",
                             registry=r)
        self.lag = Gauge("ingest_consumer_lag_seconds",
                         "arrival time minus device ts of the newest message written", registry=r)
        self.connected = Gauge("ingest_mqtt_connected", "1 while connected to the broker", registry=r)
        self.subscribed = Gauge("ingest_subscribed", "1 once the broker granted our subscription", registry=r)

    def value(self, name: str) -> float:
        """The current value of one sample, e.g. 'ingest_messages_received_total' (0 before the first)."""
        return self.registry.get_sample_value(name) or 0.0

    def serve(self, host: str, port: int) -> None:
        """Serve /metrics on host:port in a daemon thread."""
        start_http_server(port, addr=host, registry=self.registry)
