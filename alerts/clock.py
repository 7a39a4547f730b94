"""Time sources: the engine never reads the wall clock itself, so tests and the simulator drive it."""

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
