"""River gauge: stage above the station datum, with typhoon flood waves and sensor faults.

level(t) = base + a small daily swing + the highest flood-wave excess at t, plus noise.
A wave (a `typhoon` incident) rises along a half cosine over `rise`, holds its peak for
`hold` and recedes exponentially (time constant recession/3, so ~5 % of the excess is
left after `recession`). Options: Gaussian noise, single-sample spikes, random dropped
samples; incidents: a stuck sensor (repeats one value) and a dropout window. Above the
warning level a station may report faster (`interval_above_warning`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

from firmware_sim.labels import Label, Rule, Source
from firmware_sim.models.base import READING, STATUS, DeviceContext, Emit, first_tick
from firmware_sim.scenario.schema import RiverGauge
from firmware_sim.timeparse import DAY_MS


@dataclass(frozen=True, slots=True)
class Wave:
    """A flood wave: start, rise, hold, recession (ms) and height above base (m)."""

    start: int
    rise: int
    hold: int
    recession: int
    height: float

    def excess(self, t: int) -> float:
        x = t - self.start
        if x <= 0:
            return 0.0
        if x < self.rise:
            return self.height * (1 - math.cos(math.pi * x / self.rise)) / 2
        x -= self.rise
        if x < self.hold:
            return self.height
        return self.height * math.exp(-3 * (x - self.hold) / self.recession)

    def crossing(self, above_base: float) -> tuple[int | None, int | None]:
        """(rising through, falling back below) a level given as height above base; None if never."""
        if above_base >= self.height or self.height <= 0:
            return None, None
        if above_base <= 0:
            return self.start, None
        up = self.start + int(self.rise * math.acos(1 - 2 * above_base / self.height) / math.pi)
        down = self.start + self.rise + self.hold + int(-self.recession / 3 * math.log(above_base / self.height))
        return up, down


def _labels(ctx: DeviceContext, g: RiverGauge, incidents: list) -> tuple[list[Wave], list, list]:
    cal = ctx.cal
    waves, stuck, dropouts = [], [], []
    base = dict(devices=(ctx.device,), gateway=ctx.gateway)
    for inc in incidents:
        t = cal.at(inc.day, inc.at)
        if inc.type == "typhoon":
            w = Wave(t, inc.rise, inc.hold, inc.recession, inc.peak_m - g.base_level_m)
            waves.append(w)
            warn_up, warn_down = w.crossing(g.warning_level_m - g.base_level_m)
            guar_up, guar_down = w.crossing(g.guaranteed_level_m - g.base_level_m)
            details = {"base_level_m": g.base_level_m, "peak_m": inc.peak_m, "peak_at_ms": t + inc.rise,
                       "warning_level_m": g.warning_level_m, "guaranteed_level_m": g.guaranteed_level_m,
                       "warning_cross_ms": warn_up, "below_warning_ms": warn_down,
                       "guaranteed_cross_ms": guar_up, "below_guaranteed_ms": guar_down}
            end = t + inc.rise + inc.hold + inc.recession
            ctx.labels.add(Label("typhoon", Source.SCRIPTED, t, Rule.RIVER_WARNING if warn_up else None, end_ms=end,
                                 details={**details, "alert_due_ms": warn_up}, **base))
            if guar_up:
                ctx.labels.add(Label("typhoon", Source.SCRIPTED, t, Rule.RIVER_GUARANTEED, end_ms=end,
                                     details={**details, "alert_due_ms": guar_up}, **base))
        elif inc.type == "stuck_sensor":
            stuck.append((t, t + inc.duration))
            ctx.labels.add(Label("stuck_sensor", Source.SCRIPTED, t, Rule.SENSOR_STUCK, end_ms=t + inc.duration,
                                 **base))
        elif inc.type == "gauge_dropout":
            dropouts.append((t, t + inc.duration))
            ctx.labels.add(Label("gauge_dropout", Source.SCRIPTED, t, Rule.DEVICE_SILENT, end_ms=t + inc.duration,
                                 details={"readings_missing": True, "duration_ms": inc.duration}, **base))
    return waves, stuck, dropouts


def river_gauge(ctx: DeviceContext, g: RiverGauge, incidents: list) -> Iterator[Emit]:
    """Readings and hourly status of one river gauge."""
    cal = ctx.cal
    rng0 = ctx.rng("gauge")
    t = first_tick(cal.start_ms, g.interval, rng0.randrange(g.interval))
    t_status = first_tick(cal.start_ms, g.status_interval, rng0.randrange(g.status_interval))
    swing_phase = rng0.uniform(0, 2 * math.pi)
    waves, stuck, dropouts = _labels(ctx, g, incidents)
    order, seq = ctx.order, 0
    day, next_midnight, rng = cal.day_of(t) - 1, 0, rng0
    stuck_value: dict | None = None
    warn, mount = g.warning_level_m, g.mount_height_m
    while True:
        if t_status < t:
            if cal.ended(t_status):
                return
            solar = 12.6 + 0.5 * math.sin(2 * math.pi * ((t_status % DAY_MS) / DAY_MS - 0.25))
            seq += 1
            yield (t_status, order, seq, STATUS, {"battery_v": round(solar, 2), "rssi_dbm": -71.0, "heartbeat": True})
            t_status += g.status_interval
            continue
        if cal.ended(t):
            return
        if t >= next_midnight:  # a fresh noise stream per day keeps days independent
            day = cal.day_of(t)
            next_midnight = cal.midnight(day + 1)
            rng = ctx.rng("noise", day)
        true = g.base_level_m + g.daily_amplitude_m * math.sin(2 * math.pi * (t % DAY_MS) / DAY_MS + swing_phase)
        if waves:
            true += max(w.excess(t) for w in waves)
        noise, r_spike, r_drop = rng.gauss(0, g.noise_m), rng.random(), rng.random()
        step = g.interval_above_warning if g.interval_above_warning and true >= warn else g.interval
        in_stuck = stuck and any(a <= t < b for a, b in stuck)
        if not in_stuck:
            stuck_value = None
        if in_stuck and stuck_value is not None:
            data = stuck_value
        elif r_drop < g.dropout_prob or (dropouts and any(a <= t < b for a, b in dropouts)):
            t += step
            continue
        else:
            level = true + noise
            if r_spike < g.spike_prob:
                level += rng.uniform(0.5, 2.0) * (1 if rng.random() < 0.6 else -1)
                ctx.labels.add(Label("spike", Source.ROUTINE, t, None, devices=(ctx.device,), gateway=ctx.gateway,
                                     details={"level_m": round(level, 3), "true_level_m": round(true, 3)}))
            data = {"level_m": round(level, 3)}
            if mount is not None:
                data["raw_distance_m"] = round(max(0.0, mount - level), 3)
            if in_stuck:
                stuck_value = data
        seq += 1
        yield (t, order, seq, READING, data)
        t += step
