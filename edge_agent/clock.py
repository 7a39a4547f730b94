"""The agent's time source, injectable so tests and the simulator can steer it: the project's one wall
clock (ground/clock.py: now_ms for message timestamps) plus monotonic time for intervals."""

from __future__ import annotations

import time
from typing import Protocol

from ground import clock as ground_clock


class Clock(ground_clock.Clock, Protocol):
    """Wall time for message timestamps (now_ms), monotonic time for intervals."""

    def monotonic(self) -> float: ...


class SystemClock(ground_clock.SystemClock):
    """The real clocks."""

    def monotonic(self) -> float:
        """Seconds on a clock that never jumps."""
        return time.monotonic()
