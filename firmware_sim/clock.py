"""Virtual clocks: when is a simulated instant due on the wall clock?

    ScaledClock(start, speed=1)      real time: a message is sent when its time comes
    ScaledClock(start, speed=600)    ten simulated minutes per wall second
    ScaledClock(..., cap_to_real=True)  never ahead of the real epoch time (catch up, then run live)
    FastClock()                      as fast as possible (offline evaluation, benchmarks)

The runner asks `deadline(sim_ms)` for each message and lets the transport service its
sockets until then. Wall time sources are injectable, so tests run without sleeping. A scheduler
clock is a clock of the project (ground/clock.py: now_ms) that also schedules.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from ground import clock as ground_clock

_epoch_ms = ground_clock.SystemClock().now_ms


class Clock(ground_clock.Clock, Protocol):
    """Maps simulated epoch milliseconds to monotonic wall deadlines; now_ms() is the simulated time due now."""

    def start(self) -> None:
        """Anchor the clock: the first simulated instant is due now."""

    def deadline(self, sim_ms: int) -> float | None:
        """Monotonic wall time at which sim_ms is due; None when it is due at once."""


class FastClock:
    """As fast as possible: everything is due at once; now is the latest instant asked for."""

    def __init__(self, start_ms: int = 0) -> None:
        self._now = start_ms

    def start(self) -> None:
        pass

    def now_ms(self) -> int:
        return self._now

    def deadline(self, sim_ms: int) -> float | None:
        self._now = max(self._now, sim_ms)
        return None


class ScaledClock:
    """Simulated time runs `speed` times faster than the wall clock from `start_ms`."""

    def __init__(self, start_ms: int, speed: float = 1.0, *, cap_to_real: bool = False,
                 monotonic: Callable[[], float] = time.monotonic, epoch_ms: Callable[[], int] = _epoch_ms) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.start_ms = start_ms
        self.speed = speed
        self.cap_to_real = cap_to_real
        self._monotonic = monotonic
        self._epoch_ms = epoch_ms
        self._t0: float | None = None

    def start(self) -> None:
        self._t0 = self._monotonic()

    def _anchor(self) -> float:
        if self._t0 is None:
            self.start()
        return self._t0  # type: ignore[return-value]

    def now_ms(self) -> int:
        t0 = self._anchor()
        now = self.start_ms + int((self._monotonic() - t0) * 1000 * self.speed)
        return min(now, self._epoch_ms()) if self.cap_to_real else now

    def deadline(self, sim_ms: int) -> float | None:
        t0 = self._anchor()
        due = t0 + (sim_ms - self.start_ms) / (1000 * self.speed)
        if self.cap_to_real:
            mono = self._monotonic()
            due = max(due, mono + (sim_ms - self._epoch_ms()) / 1000)
        return due
