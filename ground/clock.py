"""The one clock protocol: wall time in milliseconds since the Unix epoch, UTC, from an injectable source.

    Clock         the protocol: now_ms()
    SystemClock   the real wall clock
    ManualClock   moves only when told to (scripted tests, full-speed evaluation)

Parts extend the protocol where they need more: the edge agent's clock adds monotonic() for intervals
(edge_agent/clock.py), the simulator's scheduler clocks add start() and deadline() (firmware_sim/clock.py);
a running alerts engine uses the SystemClock only. Standard library only: the edge agent imports it.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    """Milliseconds since the Unix epoch, UTC."""

    def now_ms(self) -> int: ...


class SystemClock:
    """The real wall clock."""

    def now_ms(self) -> int:
        """Milliseconds since the Unix epoch, UTC."""
        return time.time_ns() // 1_000_000


class ManualClock:
    """A clock that moves only when told to (scripted tests, full-speed evaluation)."""

    def __init__(self, start_ms: int) -> None:
        self._now = int(start_ms)
        self._lock = threading.Lock()

    def now_ms(self) -> int:
        with self._lock:
            return self._now

    def set(self, ms: int) -> None:
        """Move to an absolute time; never backwards."""
        with self._lock:
            self._now = max(self._now, int(ms))

    def advance(self, seconds: float) -> int:
        """Move forward by seconds; returns the new time."""
        with self._lock:
            self._now += int(seconds * 1000)
            return self._now
