"""Time sources of the engine: it never reads the wall clock itself, so tests and the evaluation drive it.

Clock, SystemClock and ManualClock are the one clock of the project (ground/clock.py), named here for
the engine's modules. A running engine judges live traffic by the wall clock only: a message's own
time is data (when the event happened), never a reason to move the engine's clock, so a gateway, a
replay or a backfilled history cannot make timers jump (docs/alerts.md, "Time").
"""

from __future__ import annotations

from ground.clock import Clock, ManualClock, SystemClock

__all__ = ["Clock", "ManualClock", "SystemClock"]
