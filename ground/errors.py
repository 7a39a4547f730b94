"""Shouwang's exception tree (the wire contract has its own, wire.ContractError).

    ShouwangError
      ConfigError          bad or unsafe configuration (names the key or file)
      ServiceError         a child service (mosquitto, influxd) would not start or answer
      AlreadyRunning       another `shouwang up` holds the state directory
      InfluxError          InfluxDB refused or failed a request
        InfluxUnavailable  connection error, timeout or 5xx: retry later
        InfluxRejected     4xx: the request itself is wrong (bad lines, auth)
"""

from __future__ import annotations


class ShouwangError(Exception):
    """Base of Shouwang's own errors."""


class ConfigError(ShouwangError):
    """Invalid or unsafe configuration."""


class ServiceError(ShouwangError):
    """A service could not be started or did not answer."""


class AlreadyRunning(ShouwangError):
    """Another `shouwang up` holds the state directory lock."""


class InfluxError(ShouwangError):
    """InfluxDB refused or failed a request."""

    def __init__(self, message: str, status: int | None = None, body: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.body = body


class InfluxUnavailable(InfluxError):
    """Transient: connection refused, timeout or 5xx; retrying may succeed."""


class InfluxRejected(InfluxError):
    """Permanent for this request: 4xx (bad line protocol, auth, missing database)."""
