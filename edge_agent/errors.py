"""The edge agent's errors (configuration errors are ground.errors.ConfigError).

    AgentError           something the agent cannot go on with
      OutboxError        the SQLite outbox failed (disk full, corrupt file)
      PortUnavailable    a serial port is missing or cannot be opened (USB unplugged): retried
"""

from __future__ import annotations

from ground.errors import ShouwangError


class AgentError(ShouwangError):
    """Base of the edge agent's own errors."""


class OutboxError(AgentError):
    """The durable outbox could not store or read messages."""


class PortUnavailable(AgentError):
    """A serial port is missing or cannot be opened; the driver retries."""
