"""Per-driver counters, read by the health reporter (no personal data: counts and error class names)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from fieldbus import (
    AbnormalResponse,
    ChecksumError,
    FieldbusError,
    FieldError,
    GarbageSkipped,
)
from wire import ContractError


def error_counter(exc: BaseException) -> str:
    """The status counter an input error is counted under."""
    if isinstance(exc, ChecksumError):
        return "checksum_errors"
    if isinstance(exc, GarbageSkipped):
        return "garbage"
    if isinstance(exc, AbnormalResponse):
        return "bad_values"
    if isinstance(exc, FieldError):
        return "bad_values"
    if isinstance(exc, FieldbusError):
        return "bad_frames"
    if isinstance(exc, ContractError):
        return "out_of_range"
    if isinstance(exc, TimeoutError):
        return "timeouts"
    return "errors"


@dataclass
class DriverStats:
    """Totals since the agent started; thread-safe increments."""

    driver: str
    counters: dict[str, int] = field(default_factory=dict)
    port_down: bool = False
    devices_down: set[str] = field(default_factory=set)
    restarts: int = 0
    last_error: str = ""
    heartbeat: float = 0.0  # monotonic time the driver last showed it is alive
    alive: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count(self, name: str, n: int = 1) -> None:
        """Add n to a counter."""
        with self._lock:
            self.counters[name] = self.counters.get(name, 0) + n

    def error(self, exc: BaseException | str, counter: str | None = None) -> None:
        """Count an input error under its class (checksum, garbage, timeout ...) and remember its name."""
        name = counter or (error_counter(exc) if isinstance(exc, BaseException) else "errors")
        with self._lock:
            self.counters[name] = self.counters.get(name, 0) + 1
            self.counters["errors"] = self.counters.get("errors", 0) + (name != "errors")
            self.last_error = type(exc).__name__ if isinstance(exc, BaseException) else exc

    def get(self, name: str) -> int:
        return self.counters.get(name, 0)

    def snapshot(self) -> dict[str, object]:
        """The gateway/status fields of this driver."""
        with self._lock:
            c = dict(self.counters)
            data: dict[str, object] = {k: c.get(k, 0) for k in (
                "polls", "ok", "errors", "timeouts", "checksum_errors", "bad_frames", "garbage", "bad_values",
                "out_of_range")}
            data.update(port_down=self.port_down, devices_down=len(self.devices_down), restarts=self.restarts)
            if self.last_error:
                data["last_error"] = self.last_error[:80]
            return data
