"""Time sources of the engine: it never reads the wall clock itself, so tests and the simulator drive it.

Clock, SystemClock and ManualClock are the one clock of the project (ground/clock.py), named here too
for the engine's modules; ReplayClock is the engine's own.
"""

from __future__ import annotations

import threading

from ground.clock import Clock, ManualClock, SystemClock

__all__ = ["Clock", "ManualClock", "ReplayClock", "SystemClock"]


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
