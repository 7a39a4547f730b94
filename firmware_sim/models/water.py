"""Water meter: a cumulative register in litres, read every `interval`, advancing in resolution steps.

The household's routine (routine.py) gives draws of water; incidents add or cut draws:
a fall stops every routine draw from its time on (and the label says when the last use
was, so the evaluation knows when the inactivity alert is due); a tap left running and a
slow leak add a constant flow. Readings carry the register floored to the resolution,
the instantaneous flow and, when the meter detects leaks, a leak flag set after an hour
of unbroken flow.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterator

from firmware_sim.labels import Label, Rule, Source
from firmware_sim.models.base import READING, STATUS, DeviceContext, Emit, first_tick
from firmware_sim.models.routine import Draw, away_trips, plan_day
from firmware_sim.scenario.community import HouseholdSpec
from firmware_sim.timeparse import DAY_MS, HOUR_MS

CONTINUOUS_FLOW_MS = 2 * HOUR_MS  # the design's continuous-flow rule
LEAK_FLAG_AFTER_MS = HOUR_MS


def _last_use_before(ctx: DeviceContext, hh: HouseholdSpec, t: int) -> int | None:
    cal = ctx.cal
    last = None
    day = cal.day_of(t)
    for d in (day - 1, day):
        for s, e, _ in plan_day(hh, ctx.seed, cal, d):
            if s < t:
                end = min(e, t)
                last = end if last is None else max(last, end)
    return last


def _incidents(ctx: DeviceContext, hh: HouseholdSpec, incidents: list) -> tuple[int | None, list[Draw], list]:
    """Fall time, extra draws and scripted away windows of the household; labels them."""
    cal = ctx.cal
    fall_at: int | None = None
    extra: list[Draw] = []
    away: list[tuple[int, int]] = []
    base = dict(household=hh.id, devices=(ctx.device,), gateway=ctx.gateway)
    for inc in incidents:
        t = cal.at(inc.day, inc.at)
        if inc.type == "fall":
            fall_at = t if fall_at is None else min(fall_at, t)
            last = _last_use_before(ctx, hh, t)
            window_ms = int(hh.inactivity_window_h * HOUR_MS)
            details = {"last_use_ms": last, "window_h": hh.inactivity_window_h,
                       "alert_due_ms": None if last is None else last + window_ms}
            if not hh.solitary_elderly:
                details["not_monitored"] = True  # the rule covers flagged households only
            ctx.labels.add(Label("fall", Source.SCRIPTED, t, Rule.WATER_INACTIVITY if hh.solitary_elderly else None,
                                 details=details, **base))
        elif inc.type in ("tap_left_running", "slow_leak"):
            end = t + inc.duration if inc.duration is not None else t + 400 * DAY_MS
            extra.append((t, end, inc.flow_lpm / 60_000))
            long_enough = end - t >= CONTINUOUS_FLOW_MS
            ctx.labels.add(Label(inc.type, Source.SCRIPTED, t, Rule.CONTINUOUS_FLOW if long_enough else None,
                                 end_ms=end if inc.duration is not None else None,
                                 details={"flow_lpm": inc.flow_lpm,
                                          "alert_due_ms": t + CONTINUOUS_FLOW_MS if long_enough else None},
                                 **base))
        elif inc.type == "away":
            away.append((t, t + inc.duration))
            ctx.labels.add(Label("away", Source.SCRIPTED, t, None, end_ms=t + inc.duration,
                                 details={"mode": "away"}, **base))
    extra.sort()
    return fall_at, extra, away


def _routine(ctx: DeviceContext, hh: HouseholdSpec, fall_at: int | None,
             away: list[tuple[int, int]]) -> Iterator[Draw]:
    cal = ctx.cal
    day = cal.day_of(cal.start_ms) - 1
    while not cal.ended(cal.midnight(day)):
        for a, b in away_trips(hh, ctx.seed, cal, day):
            if cal.midnight(day) <= a < cal.midnight(day + 1):
                ctx.labels.add(Label("away", Source.ROUTINE, a, None, devices=(ctx.device,), household=hh.id,
                                     gateway=ctx.gateway, end_ms=b, details={"mode": "away"}))
        for d in plan_day(hh, ctx.seed, cal, day):
            s = d[0]
            if fall_at is not None and s >= fall_at:
                return
            if away and any(a <= s < b for a, b in away):
                continue
            if fall_at is not None and d[1] > fall_at:
                d = (s, fall_at, d[2])
            yield d
        day += 1


def water_meter(ctx: DeviceContext, hh: HouseholdSpec, incidents: list) -> Iterator[Emit]:
    """Readings and daily status of one household's meter."""
    meter = hh.meter
    assert meter is not None
    cal = ctx.cal
    rng = ctx.rng("meter")
    interval, status_interval = meter.interval, meter.status_interval
    t = first_tick(cal.start_ms, interval, rng.randrange(interval))
    t_status = first_tick(cal.start_ms, status_interval, rng.randrange(status_interval))
    done = float(rng.randint(5_000, 400_000))
    battery0 = rng.uniform(3.45, 3.62)
    res = meter.resolution_l
    leak_detect = meter.leak_detect
    fall_at, extra, away = _incidents(ctx, hh, incidents)
    draws = heapq.merge(_routine(ctx, hh, fall_at, away), extra)
    nxt = next(draws, None)
    active: list[Draw] = []
    flowing_since: int | None = None
    order, seq = ctx.order, 0
    while True:
        if t_status < t:
            if cal.ended(t_status):
                return
            days = (t_status - cal.start_ms) / DAY_MS
            seq += 1
            yield (t_status, order, seq, STATUS, {"battery_v": round(battery0 - 0.0002 * days, 3),
                                                  "rssi_dbm": float(rng.randint(-105, -75)), "heartbeat": True})
            t_status += status_interval
            continue
        if cal.ended(t):
            return
        while nxt is not None and nxt[0] <= t:
            active.append(nxt)
            nxt = next(draws, None)
        partial = flow = 0.0
        if active:
            keep = []
            for d in active:
                s, e, r = d
                if e <= t:
                    done += (e - s) * r
                else:
                    partial += (t - s) * r
                    flow += r
                    keep.append(d)
            active = keep
        register = round(math.floor((done + partial) / res + 1e-9) * res, 3)
        seq += 1
        if leak_detect:
            if flow > 0:
                if flowing_since is None:
                    flowing_since = t
            else:
                flowing_since = None
            leak = flowing_since is not None and t - flowing_since >= LEAK_FLAG_AFTER_MS
            yield (t, order, seq, READING, {"total_l": register, "flow_lpm": round(flow * 60_000, 2),
                                            "leak_flag": leak})
        else:
            yield (t, order, seq, READING, {"total_l": register, "flow_lpm": round(flow * 60_000, 2)})
        t += interval
