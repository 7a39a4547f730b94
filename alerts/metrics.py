"""The alerts engine's counters, exported as Prometheus text on `alerts.metrics_port` (0 = not served).

No personal data and no ids: rules, actions and outcomes only.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server

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
