"""Water: inactivity of flagged households (vectorised over all of them) and continuous flow.

Zero use means the register advanced less than one meter step since the last use.
A household is alarmed when any of these holds (the first one that does is reported):
- window: time awake since the last use exceeds its window (6-8 h); the registry's sleep
  hours do not count, so normal sleep never alarms and a fall at night is caught within the
  window plus the rest of the sleep period. This alone is the cold-start rule;
- learned: once 7+ days of routine are known, the gap exceeds what is normal for this
  household at this time of day (weekday/weekend) - usually much sooner than the window;
- cap: the gap exceeds the hard cap whatever the sleep hours say.
Away mode (registry `away_until`) suppresses. Each inactivity is one episode (named by
the time of the last use): raised once, cleared when water is used again.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

import numpy as np

from alerts.rules.base import BaseRule, RuleContext
from alerts.rules.routine import SLOT_MIN, SLOTS, Routine
from alerts.types import Action, Clear, Raise, Rule, Severity
from registry.model import RegistrySnapshot
from wire.models import Channel, Kind, Message

log = logging.getLogger(__name__)
DAY_MS = 86_400_000
MIN_MS = 60_000
DEFAULT_STEP_L = 1.0
REASONS = ("window", "learned", "cap")


@dataclass(slots=True)
class MeterState:
    household: int  # row in the household arrays, -1 if the household is not monitored
    place: str
    base_total: float | None = None  # register at the last detected use
    last_total: float | None = None
    last_ts: int = 0
    flow_since: int | None = None
    flow_alerted: bool = False


def _sleep_parts(start: int, end: int) -> tuple[int, int, int, int]:
    """A daily sleep range as up to two [a, b) minute intervals within one day."""
    if start == end:
        return 0, 0, 0, 0
    if start < end:
        return start, end, 0, 0
    return 0, end, start, 1440


class WaterRule(BaseRule):
    def __init__(self, ctx: RuleContext, start_ms: int) -> None:
        super().__init__(ctx)
        self.start_ms = start_ms
        self.codes: list[str] = []
        self.hindex: dict[str, int] = {}
        self.meters: dict[str, MeterState] = {}
        self.last_use = np.zeros(0, dtype=np.int64)
        self.alerted = np.zeros(0, dtype=np.int64)  # last_use value we alerted for (-1 = none)
        self.routine = Routine(0)
        self.away_until_ms = np.zeros(0, dtype=np.int64)
        self.pending = np.zeros((0, SLOTS), dtype=np.float32)  # today's gaps per slot, learned at day's end
        self.alerted_today = np.zeros(0, dtype=bool)
        self._pending_daytype: int | None = None
        self._now = start_ms  # latest time seen (message or tick), for registry changes
        self._last_slot: int | None = None
        self.registry_changed(ctx.registry())

    # --- registry -------------------------------------------------------------------

    def registry_changed(self, reg: RegistrySnapshot) -> None:
        """Re-index monitored households (flagged, with a water meter), keeping their state."""
        metered = {d.place for d in reg.devices.values() if d.kind == "water_meter"}
        codes = sorted(c for c, h in reg.households.items() if h.flags and c in metered)
        n = len(codes)
        order = np.array([self.hindex.get(c, -1) for c in codes], dtype=np.int64)
        have = order >= 0
        last_use = np.full(n, self.start_ms, dtype=np.int64)
        alerted = np.full(n, -1, dtype=np.int64)
        last_use[have], alerted[have] = self.last_use[order[have]], self.alerted[order[have]]
        was_away = np.zeros(n, dtype=bool)
        was_away[have] = self.away_until_ms[order[have]] > self._now
        self.routine = self.routine.take(order)
        pending = np.full((n, SLOTS), np.nan, dtype=np.float32)
        alerted_today = np.zeros(n, dtype=bool)
        pending[have], alerted_today[have] = self.pending[order[have]], self.alerted_today[order[have]]
        self.pending, self.alerted_today = pending, alerted_today
        self.codes, self.hindex = codes, {c: i for i, c in enumerate(codes)}
        self.last_use, self.alerted = last_use, alerted
        hh = [reg.households[c] for c in codes]
        parts = np.array([_sleep_parts(*h.sleep) for h in hh], dtype=np.int64).reshape(n, 4)
        self.sa1, self.sb1, self.sa2, self.sb2 = (parts[:, k] for k in range(4))
        self.sleep_len = (self.sb1 - self.sa1) + (self.sb2 - self.sa2)
        self.window_ms = np.array([h.window_h * 3_600_000 for h in hh], dtype=np.int64)
        self.away_until_ms = np.array([self._away_end(h.away_until) for h in hh], dtype=np.int64)
        # away mode switched off early (the resident is back): the inactivity clock starts now,
        # not at the last use before the trip
        back = was_away & (self.away_until_ms <= self._now)
        self.last_use[back] = np.maximum(self.last_use[back], self._now)
        meters = {}
        for d in reg.devices.values():
            if d.kind != "water_meter":
                continue
            old = self.meters.get(d.id)
            m = old or MeterState(-1, d.place)
            m.household, m.place = self.hindex.get(d.place, -1), d.place
            meters[d.id] = m
        self.meters = meters
        self.step = {d.id: d.step_l or DEFAULT_STEP_L for d in reg.devices.values() if d.kind == "water_meter"}
        self.interval = {d.id: (d.interval_s or self.cfg.default_interval_s) * 1000 for d in reg.devices.values()}

    def _away_end(self, day: dt.date | None) -> int:
        if day is None:
            return 0
        end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), self.ctx.tz)
        return int(end.timestamp() * 1000)

    # --- messages -------------------------------------------------------------------

    def on_message(self, msg: Message, now: int) -> list[Action]:
        if msg.kind is not Kind.WATER_METER or msg.channel is not Channel.READING:
            return []
        m = self.meters.get(msg.device)
        self._now = max(self._now, now)
        if m is None:
            return []
        return self.reading(msg.device, m, msg.ts, float(msg.data["total_l"]), msg.data.get("flow_lpm"),
                            msg.data.get("leak_flag"))

    def reading(self, device: str, m: MeterState, ts: int, total: float, flow_lpm: float | None = None,
                leak_flag: bool | None = None) -> list[Action]:
        """One register reading of a meter (also used to rebuild state after a restart)."""
        out: list[Action] = []
        if m.last_total is not None and ts <= m.last_ts:
            return out  # late or repeated: the register has moved on
        step = self.step.get(device, DEFAULT_STEP_L)
        if m.base_total is None or total < m.base_total:  # first reading, or meter replaced/reset
            m.base_total = total
        elif total - m.base_total >= step:
            m.base_total = total
            # the use happened after the previous reading: date it there (an interval early at worst,
            # never late), unless readings had a gap
            interval = self.interval.get(device, self.cfg.default_interval_s * 1000)
            used_at = m.last_ts if m.last_total is not None and ts - m.last_ts <= 2 * interval else ts
            out += self._used(m, used_at, ts)
        out += self._flow(device, m, ts, total, flow_lpm, leak_flag)
        m.last_total, m.last_ts = total, ts
        return out

    def _used(self, m: MeterState, used_at: int, now: int) -> list[Action]:
        h = m.household
        if h < 0 or used_at <= self.last_use[h]:
            return []
        was_alerted = self.alerted[h] == self.last_use[h]
        self.last_use[h] = used_at
        if was_alerted:
            return [Clear(Rule.WATER_INACTIVITY, self.codes[h], "water_used", now)]
        return []

    def _flow(self, device: str, m: MeterState, ts: int, total: float, flow_lpm: float | None,
              leak_flag: bool | None) -> list[Action]:
        """Unbroken flow: every reading shows the register advancing and (if reported) water flowing
        at that instant; a meter's own leak flag (set after an hour of unbroken flow) also counts."""
        interval = self.interval.get(device, self.cfg.default_interval_s * 1000)
        advancing = m.last_total is not None and total > m.last_total and ts - m.last_ts <= 2 * interval
        flowing = (advancing and (flow_lpm is None or flow_lpm > 0)) or bool(leak_flag)
        if flowing:
            if m.flow_since is None:
                m.flow_since = m.last_ts if advancing else ts
            if not m.flow_alerted and ts - m.flow_since >= self.cfg.flow_continuous_h * 3_600_000:
                m.flow_alerted = True
                hours = (ts - m.flow_since) / 3_600_000
                return [Raise.of(Rule.WATER_FLOW, m.place, Severity.MAJOR, m.place, f"flow-{m.flow_since}", ts,
                                 reason="leak_flag" if leak_flag else "continuous", device=device,
                                 since=m.flow_since, hours=round(hours, 2), limit_h=self.cfg.flow_continuous_h,
                                 leak_flag=bool(leak_flag))]
            return []
        out: list[Action] = []
        if m.flow_alerted:
            out.append(Clear(Rule.WATER_FLOW, m.place, "flow_stopped", ts))
        m.flow_since, m.flow_alerted = None, False
        return out

    def sleep_minutes_between(self, start_ms: np.ndarray, end_ms: int) -> np.ndarray:
        """Minutes of each household's sleep hours that fall between start and end."""
        off = self.ctx.utc_offset_ms(end_ms)
        return self._sleep_upto(end_ms + off) - self._sleep_upto(start_ms + off)

    def _sleep_upto(self, local_ms: np.ndarray | int) -> np.ndarray:
        minutes = np.asarray(local_ms, dtype=np.int64) // MIN_MS
        day, m = np.divmod(minutes, 1440)
        inside = np.clip(m - self.sa1, 0, self.sb1 - self.sa1) + np.clip(m - self.sa2, 0, self.sb2 - self.sa2)
        return day * self.sleep_len + inside

    def evaluate(self, now: int) -> tuple[np.ndarray, np.ndarray]:
        """Households due for an alert now and the reason index of each (vectorised over all)."""
        # back from away mode: the clock restarts when it ends (the resident returns that day)
        since = np.maximum(self.last_use, self.away_until_ms)
        elapsed = now - since
        awake = elapsed - self.sleep_minutes_between(since, now) * MIN_MS
        learned_thr = self._threshold(*self._slot(now))
        # the learned rule speaks only while the household is awake: at night the window rule, which
        # does not count the sleep hours, decides (night-time gaps are too irregular to learn well)
        off = self.ctx.utc_offset_ms(now)
        minute = (now + off) // MIN_MS % 1440
        asleep = ((minute >= self.sa1) & (minute < self.sb1)) | ((minute >= self.sa2) & (minute < self.sb2))
        window = awake > self.window_ms
        learned = (elapsed > learned_thr * MIN_MS) & ~asleep
        cap = elapsed > int(self.cfg.inactivity_hard_cap_h * 3_600_000)
        due = (window | learned | cap) & (self.alerted != self.last_use) & (now >= self.away_until_ms)
        idx = np.flatnonzero(due)
        reason = np.where(window[idx], 0, np.where(learned[idx], 1, 2))
        return idx, reason

    def learn(self, now: int) -> None:
        """At each half-hour boundary, note every household's current gap; fold a day's notes into the
        routine when the day is over, and only for households that had no inactivity alert that day,
        so an emergency in progress never teaches the model that such gaps are normal."""
        slot_abs = (now + self.ctx.utc_offset_ms(now)) // (SLOT_MIN * MIN_MS)
        if self._last_slot == slot_abs:
            return
        first = self._last_slot is None
        self._last_slot = slot_abs
        if first:
            return  # we may be mid-slot: start with the next boundary
        daytype, slot = self._slot(now)
        if slot == 0 or self._pending_daytype is None:
            self._commit_day()
            self._pending_daytype = daytype
        ok = (self.alerted != self.last_use) & (now >= self.away_until_ms)
        rows = np.flatnonzero(ok)
        self.pending[rows, slot] = (now - self.last_use[rows]) / MIN_MS

    def _commit_day(self) -> None:
        if self._pending_daytype is not None:
            self.routine.learn_day(~self.alerted_today, self._pending_daytype, self.pending)
        self.pending[:] = np.nan
        self.alerted_today[:] = False

    def _slot(self, now: int) -> tuple[int, int]:
        local = dt.datetime.fromtimestamp(now / 1000, self.ctx.tz)
        return (1 if local.weekday() >= 5 else 0), (local.hour * 60 + local.minute) // SLOT_MIN % SLOTS

    def _threshold(self, daytype: int, slot: int) -> np.ndarray:
        c = self.cfg
        return self.routine.threshold_min(daytype, slot, c.routine_factor, c.routine_margin_min,
                                          c.routine_floor_h * 60, c.routine_min_days)

    def tick(self, now: int) -> list[Action]:
        self._now = max(self._now, now)
        idx, reason = self.evaluate(now)
        out: list[Action] = []
        reg = self.ctx.registry()
        learned_thr = self._threshold(*self._slot(now)) if (reason == 1).any() else None
        for i, why in zip(idx.tolist(), reason.tolist(), strict=True):
            code = self.codes[i]
            since = int(self.last_use[i])
            self.alerted[i] = since
            self.alerted_today[i] = True
            hours = (now - since) / 3_600_000
            window_h = reg.households[code].window_h if code in reg.households else 0
            # the facts behind the reason: the window (awake hours), the learned usual gap, or the hard cap
            limit = {"threshold_h": round(float(learned_thr[i]) / 60, 2)} if learned_thr is not None and why == 1 \
                else {"cap_h": self.cfg.inactivity_hard_cap_h} if why == 2 else {}
            out.append(Raise.of(Rule.WATER_INACTIVITY, code, Severity.MAJOR, code, f"since-{since}", now,
                                reason=REASONS[why], hours=round(hours, 2), window_h=window_h, since=since, **limit))
        self.learn(now)
        return out

    def restore_last_use(self, household: str, ts: int) -> None:
        """Set a household's last use (rebuild after a restart, before live messages)."""
        i = self.hindex.get(household)
        if i is not None:
            self.last_use[i] = ts
