"""River level: filter the gauge, stage against the warning/guaranteed lines, rate of rise, forecast.

Filtering, in order:
- a sample that moves more than `river_spike_m` (plus what a fast flood could do in the
  elapsed time) from the last accepted level is held as a suspect; it is accepted only if
  the next sample agrees with it (a real step), otherwise dropped (a single-sample spike);
- gaps (dropouts) simply leave the last accepted level in place; the silence rule reports them;
- an unchanged value for `river_stuck_h` raises a sensor (maintenance) alert.
Stages go up at once and come down only after the level stayed below the line minus
`river_hysteresis_m` for `river_clear_hold_min` (no flapping). The rate of rise is the
Theil-Sen slope (median of pairwise slopes: robust to outliers) over the last window.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from alerts.rules.base import BaseRule, RuleContext
from alerts.types import Action, Clear, Raise, Rule, Severity
from registry.model import StationInfo
from wire.models import Channel, Kind, Message

log = logging.getLogger(__name__)
MAX_FLOOD_RATE_M_PER_H = 2.0  # faster than any river here rises: beyond it a jump needs confirmation
STAGE_SEVERITY = {1: Severity.MAJOR, 2: Severity.CRITICAL}
STAGE_LINES = {1: "warning", 2: "guaranteed"}  # the line a stage is above (facts' `line`)


@dataclass
class StationState:
    samples: deque[tuple[int, float]] = field(default_factory=lambda: deque(maxlen=2000))
    suspect: tuple[int, float] | None = None
    stage: int = 0
    episode: str = ""
    below_since: int | None = None
    rising: bool = False
    rise_episode: str = ""
    rise_quiet_since: int | None = None
    last_raw: float | None = None
    unchanged_since: int | None = None
    unchanged_count: int = 0
    stuck: bool = False
    spikes: int = 0


def theil_sen(ts_ms: np.ndarray, levels: np.ndarray) -> float:
    """Median pairwise slope in metres per hour."""
    n = len(ts_ms)
    if n < 2:
        return 0.0
    i, j = np.triu_indices(n, k=1)
    dt = (ts_ms[j] - ts_ms[i]) / 3_600_000
    ok = dt > 0
    if not ok.any():
        return 0.0
    return float(np.median((levels[j] - levels[i])[ok] / dt[ok]))


class RiverRule(BaseRule):
    def __init__(self, ctx: RuleContext) -> None:
        super().__init__(ctx)
        self.state: dict[str, StationState] = {}

    @staticmethod
    def new_state() -> StationState:
        return StationState()

    def station_of(self, device: str) -> StationInfo | None:
        reg = self.ctx.registry()
        dev = reg.devices.get(device)
        return reg.stations.get(dev.place) if dev else None

    def on_message(self, msg: Message, now: int) -> list[Action]:
        if msg.kind is not Kind.RIVER_GAUGE or msg.channel is not Channel.READING:
            return []
        st = self.station_of(msg.device)
        if st is None:
            return []
        return self.sample(st, msg.ts, float(msg.data["level_m"]))

    def sample(self, st: StationInfo, ts: int, level: float) -> list[Action]:
        """Feed one gauge reading of a station (also used to rebuild state after a restart)."""
        s = self.state.setdefault(st.code, StationState())
        out = self._stuck(st, s, ts, level)
        accepted = self._filter(s, ts, level)
        for t, v in accepted:
            s.samples.append((t, v))
        if accepted:
            horizon = ts - int(max(self.cfg.river_rate_window_min, self.cfg.river_clear_hold_min) * 60_000) * 2
            while s.samples and s.samples[0][0] < horizon:
                s.samples.popleft()
            out += self._evaluate(st, s, accepted[-1][0], accepted[-1][1])
        return out

    def _filter(self, s: StationState, ts: int, level: float) -> list[tuple[int, float]]:
        if not s.samples:
            return [(ts, level)]
        last_t, last_v = s.samples[-1]
        if ts <= last_t:
            return []  # late or repeated reading: the series already moved on
        allow = self.cfg.river_spike_m + MAX_FLOOD_RATE_M_PER_H * (ts - last_t) / 3_600_000
        if s.suspect is not None:
            sus_t, sus_v = s.suspect
            s.suspect = None
            if abs(level - sus_v) <= self.cfg.river_spike_m:
                return [(sus_t, sus_v), (ts, level)]  # two samples agree: a real step
            s.spikes += 1
            log.info("river gauge: dropped a single-sample spike (%.2f m against %.2f m)", sus_v, last_v)
        if abs(level - last_v) > allow:
            s.suspect = (ts, level)
            return []
        return [(ts, level)]

    def _stuck(self, st: StationInfo, s: StationState, ts: int, level: float) -> list[Action]:
        if s.last_raw is None or abs(level - s.last_raw) > 0.0005:
            s.last_raw, s.unchanged_since, s.unchanged_count = level, ts, 1
            if s.stuck:
                s.stuck = False
                return [Clear(Rule.RIVER_SENSOR, st.code, "gauge_changes", ts)]
            return []
        s.unchanged_count += 1
        # a real river never repeats a reading to the millimetre for long; a frozen radar does
        if not s.stuck and s.unchanged_since is not None and s.unchanged_count >= self.cfg.river_stuck_samples \
                and ts - s.unchanged_since >= self.cfg.river_stuck_min * 60_000:
            s.stuck = True
            return [Raise.of(Rule.RIVER_SENSOR, st.code, Severity.MAINTENANCE, st.code, f"stuck-{s.unchanged_since}",
                             ts, reason="stuck", level_m=round(level, 3), since=s.unchanged_since,
                             minutes=round((ts - s.unchanged_since) / 60_000, 1), samples=s.unchanged_count)]
        return []

    def fit(self, s: StationState, now: int) -> tuple[float, float] | None:
        """Robust (Theil-Sen) rate of rise in m/h and the fitted level now; None without enough samples."""
        since = now - int(self.cfg.river_rate_window_min * 60_000)
        pts = [(t, v) for t, v in s.samples if t >= since]
        if len(pts) < 4 or pts[-1][0] - pts[0][0] < self.cfg.river_rate_window_min * 60_000 / 3:
            return None
        arr = np.asarray(pts, dtype=np.float64)
        slope = theil_sen(arr[:, 0], arr[:, 1])
        level_now = float(np.median(arr[:, 1] - slope * (arr[:, 0] - now) / 3_600_000))
        return slope, level_now

    def _evaluate(self, st: StationInfo, s: StationState, ts: int, level: float) -> list[Action]:
        out: list[Action] = []
        lines = (st.warning_m, st.guaranteed_m)
        fit = self.fit(s, ts)
        rate = fit[0] if fit else None
        # the fitted level sees through noise: a rising river is staged when the fit crosses the
        # line (or two readings in a row do), not a reading late because noise dipped it
        fitted = fit[1] if fit else level
        prev = s.samples[-2][1] if len(s.samples) >= 2 else level
        target = next((ln for ln in lines if level < ln), None)
        eta_min = (target - level) / rate * 60 if target is not None and rate and rate > 0 else None
        details = {"level_m": round(level, 3), "rate_m_per_h": None if rate is None else round(rate, 3),
                   "forecast_min": None if eta_min is None else round(eta_min, 1),
                   "warning_m": st.warning_m, "guaranteed_m": st.guaranteed_m}
        stage_now = sum(fitted >= ln or (level >= ln and prev >= ln) for ln in lines)
        if stage_now > s.stage:
            if s.stage == 0:
                s.episode = f"flood-{ts}"
            s.stage, s.below_since = stage_now, None
            line = STAGE_LINES[stage_now]
            out.append(Raise.of(Rule.RIVER_LEVEL, st.code, STAGE_SEVERITY[stage_now], st.code, s.episode, ts,
                                reason=f"above_{line}", line=line, line_m=lines[stage_now - 1], stage=stage_now,
                                **details))
        elif s.stage > 0:
            clear_line = lines[s.stage - 1] - self.cfg.river_hysteresis_m
            if level < clear_line:
                if s.below_since is None:
                    s.below_since = ts
                elif ts - s.below_since >= self.cfg.river_clear_hold_min * 60_000:
                    s.stage, s.below_since = sum(level >= ln for ln in lines), None
                    if s.stage == 0:
                        out.append(Clear(Rule.RIVER_LEVEL, st.code, "level_below", ts))
            else:
                s.below_since = None
        out += self._rise(st, s, ts, level, rate, eta_min, details)
        return out

    def _rise(self, st: StationInfo, s: StationState, ts: int, level: float, rate: float | None,
              eta_min: float | None, details: dict) -> list[Action]:
        if rate is None:
            return []
        lead = self.cfg.river_forecast_lead_min
        fast = rate >= st.rise_m_per_h
        soon = eta_min is not None and eta_min <= lead and rate >= st.rise_m_per_h / 4
        if (fast or soon) and s.stage < 2:
            s.rise_quiet_since = None
            if not s.rising:
                s.rising, s.rise_episode = True, f"rise-{ts}"
                nxt = next((k for k, ln in ((1, st.warning_m), (2, st.guaranteed_m)) if level < ln), None)
                return [Raise.of(Rule.RIVER_RISE, st.code, Severity.WARNING, st.code, s.rise_episode, ts,
                                 reason="fast" if fast else "forecast", limit_m_per_h=st.rise_m_per_h,
                                 next_line=STAGE_LINES[nxt] if nxt else None,
                                 next_line_m=(st.warning_m, st.guaranteed_m)[nxt - 1] if nxt else None, **details)]
            return []
        if s.rising and rate < st.rise_m_per_h / 2 and not soon:
            if s.rise_quiet_since is None:
                s.rise_quiet_since = ts
            elif ts - s.rise_quiet_since >= self.cfg.river_clear_hold_min * 60_000:
                s.rising, s.rise_quiet_since = False, None
                return [Clear(Rule.RIVER_RISE, st.code, "rise_slowed", ts)]
        elif s.rising:
            s.rise_quiet_since = None
        return []
