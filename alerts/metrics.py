"""The alerts engine's counters, exported as Prometheus text on `alerts.metrics_port` (0 = not served).

No personal data and no ids: rules, actions and outcomes only.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from alerts.lifecycle import AlertChange


class AlertsMetrics:
    """Counters of one engine, in their own registry; also a sink of the engine's alert changes."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.changes = Counter("alerts_changes", "alert changes by action (opened, escalated, auto_cleared, ...) "
                               "and rule", ["action", "rule"], registry=r)
        self.messages = Counter("alerts_messages", "device messages by result (handled, rejected, internal_error)",
                                ["result"], registry=r)
        self.tick = Histogram("alerts_tick_seconds", "time of one timer run (inactivity, silence, escalation)",
                              buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10), registry=r)
        self.attempts = Counter("alerts_notification_attempts", "sends to a contact's channel, by result (ok, failed)",
                                ["result"], registry=r)
        self.active = Gauge("alerts_engine_active", "1 while this engine acts on at least one partition, 0 while it "
                            "stands by", registry=r)
        self.partitions = Gauge("alerts_partitions", "partitions of the stream (alerts.partitions)", registry=r)
        self.held = Gauge("alerts_partition_held", "1 for each partition this engine holds the lease of and acts on, "
                          "0 for the others", ["partition"], registry=r)

    def role(self, held: set[int], n: int) -> None:
        """The engine's role now: which of the n partitions it holds (none: standing by)."""
        self.active.set(1 if held else 0)
        self.partitions.set(n)
        for k in range(n):
            self.held.labels(str(k)).set(1 if k in held else 0)

    def emit(self, change: AlertChange) -> None:
        """Sink protocol (alerts/sinks.py): count every change."""
        self.changes.labels(change.action, str(change.alert.rule)).inc()

    def attempt(self, ok: bool) -> None:
        self.attempts.labels("ok" if ok else "failed").inc()

    def value(self, name: str, **labels: str) -> float:
        return self.registry.get_sample_value(name, labels or None) or 0.0

    def serve(self, host: str, port: int) -> None:
        """Serve /metrics on host:port in a daemon thread."""
        start_http_server(port, addr=host, registry=self.registry)
