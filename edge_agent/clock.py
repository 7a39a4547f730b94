"""The time source, injectable so tests and the simulator can steer it."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """Wall time for message timestamps, monotonic time for intervals."""

    def time_ms(self) -> int: ...

    def monotonic(self) -> float: ...


class SystemClock:
    """The real clocks."""

    def time_ms(self) -> int:
        """Milliseconds since the Unix epoch, UTC."""
        return time.time_ns() // 1_000_000

    def monotonic(self) -> float:
        """Seconds on a clock that never jumps."""
        return time.monotonic()
