"""The one clock protocol (now_ms) and the clocks every part builds on it."""

from __future__ import annotations

import time

from edge_agent.clock import SystemClock as AgentClock
from firmware_sim.clock import FastClock, ScaledClock
from ground.clock import Clock, ManualClock, SystemClock


def test_manual_clock_moves_only_forward_and_only_when_told() -> None:
    clock = ManualClock(1_000)
    assert clock.now_ms() == 1_000
    assert clock.advance(1.5) == 2_500
    clock.set(2_000)  # never backwards
    assert clock.now_ms() == 2_500
    clock.set(9_000)
    assert clock.now_ms() == 9_000


def test_system_clock_is_the_epoch_in_ms() -> None:
    before = time.time_ns() // 1_000_000
    now = SystemClock().now_ms()
    assert before <= now <= time.time_ns() // 1_000_000


def test_each_parts_clock_is_a_project_clock() -> None:
    t = 1_795_450_000_000
    wall = ManualClock(t)
    steered: list[Clock] = [FastClock(t),
                            ScaledClock(t, 1.0, monotonic=lambda: 5.0, epoch_ms=wall.now_ms)]
    assert [c.now_ms() for c in steered] == [t, t]
    real: list[Clock] = [SystemClock(), AgentClock()]
    assert all(abs(c.now_ms() - time.time_ns() // 1_000_000) < 1000 for c in real)
    assert AgentClock().monotonic() <= time.monotonic()
