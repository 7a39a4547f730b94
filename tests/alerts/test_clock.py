"""ReplayClock: the engine's time while simulated devices replay earlier hours of today."""

from __future__ import annotations

from alerts.clock import ManualClock, ReplayClock

HOUR = 3_600_000


def test_replay_runs_scaled_from_its_start_and_stops_at_the_wall_clock() -> None:
    wall = ManualClock(100 * HOUR)
    clock = ReplayClock(start_ms=90 * HOUR, speed=60, wall=wall)
    assert clock.now_ms() == 90 * HOUR
    wall.advance(60)  # one real minute = one replayed hour
    assert clock.now_ms() == 91 * HOUR
    wall.advance(20 * 60)  # the replay would be past the wall clock: capped to real time
    assert clock.now_ms() == wall.now_ms()


def test_a_restarted_engine_rejoins_the_replay_from_the_messages() -> None:
    wall = ManualClock(100 * HOUR)
    clock = ReplayClock(start_ms=90 * HOUR, speed=60, wall=wall)  # restarted while devices are at 95 h
    clock.observe(95 * HOUR)
    assert clock.now_ms() == 95 * HOUR
    clock.observe(94 * HOUR)  # an older, redelivered message does not move time back
    assert clock.now_ms() == 95 * HOUR
    clock.observe(120 * HOUR)  # a device clock ahead of real time cannot drag the engine past it
    assert clock.now_ms() == 100 * HOUR
