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


class ReplayClock:
    """Time for an engine fed by devices that replay earlier hours (the demo catching up with today).

    It runs `speed` times faster than the wall clock from `start_ms` (anchored when created), never
    behind the newest message time seen (so a restarted engine rejoins the replay at once) and never
    ahead of the wall clock (so it becomes the real clock once the replay has caught up).
    """

    def __init__(self, start_ms: int, speed: float, wall: Clock | None = None) -> None:
        self.wall = wall or SystemClock()
        self.start_ms = int(start_ms)
        self.speed = float(speed)
        self._anchor = self.wall.now_ms()
        self._seen = self.start_ms
        self._lock = threading.Lock()

    def observe(self, ts_ms: int) -> None:
        """A message stamped ts_ms arrived: the replay has reached at least that time."""
        with self._lock:
            self._seen = max(self._seen, int(ts_ms))

    def now_ms(self) -> int:
        wall = self.wall.now_ms()
        scaled = self.start_ms + int((wall - self._anchor) * self.speed)
        with self._lock:
            return min(wall, max(scaled, self._seen))
