"""Water: inactivity of flagged households (vectorised over all of them) and continuous flow.

Zero use means the register advanced less than one meter step since the last use.
A household is alarmed when any of these holds (the first one that does is reported):
- window: until its routine is learned (cold start), time awake since the last use exceeds its
  window (6-8 h); the registry's sleep hours do not count, so normal sleep never alarms and a fall
  at night is caught within the window plus the rest of the sleep period;
- learned: once `routine_min_days` clean days are known, time awake since the last use exceeds
  the household's own limit (routine.py: the silence its own tail of silences runs past
  `routine_false_per_month` times a month, or - for a silence begun on a weekday and at an hour
  at which one began in three of the last four weeks - that silence x `routine_factor` +
  `routine_margin_min` if longer), clipped into the bounds staff
  set: never below `routine_floor_h` (6 h), never above the household's window - or the maximum
  staff approved for it (registry `max_window_h`, else `inactivity_max_h`). What is learned
  tightens a regular resident's limit and relaxes an irregular or low-use one's, and a recurring
  outing relaxes its weekday and hour only. A household that uses water in the evening before its bedtime
  on nearly every day (`routine_evening_share`, 98 % over about two months, once
  `routine_evening_min_days` = 60 clean days are known) and was silent through that whole evening did not
  go to bed as usual: from its bedtime the sleep hours count as awake;
- cap: the gap exceeds the hard cap whatever the sleep hours say.
Away mode (registry `away_until`) suppresses. Each inactivity is one episode (named by
the time of the last use): raised once, cleared when water is used again. When people close the alert while
the silence goes on (the family says she is fine), the clock restarts at the close (`rearm`, from the
engine): a silence that goes on is raised again as a new episode.
Learning never takes in a possible emergency: a silence is learned only when it ends in a use
(an alert cleared by use was a false alarm), never one longer than the hard cap or begun in away
mode; a day counts towards `routine_min_days` only without an open alert or away mode.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

import numpy as np

from alerts.rules.base import BaseRule, RuleContext
from alerts.rules.routine import Routine
from alerts.types import Action, Clear, Raise, Rule, Severity
from registry.model import RegistrySnapshot
from wire.models import Channel, Kind, Message

log = logging.getLogger(__name__)
DAY_MS = 86_400_000
MIN_MS = 60_000
DEFAULT_STEP_L = 1.0
EVENING_MIN = 180  # the evening before the registry's bedtime
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
        self.limit_ms = np.zeros(0, dtype=np.int64)  # awake-hours limit of the current silence
        self.learned_now = np.zeros(0, dtype=bool)
        self.wall_from = np.zeros(0, dtype=np.int64)  # from then the sleep hours count too (no evening use)
        self.away_today = np.zeros(0, dtype=bool)
        self._day: int | None = None  # local day number, for the routine's daily step
        self._now = start_ms  # latest time seen (message or tick), for registry changes
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
        away_today = np.zeros(n, dtype=bool)
        away_today[have] = self.away_today[order[have]]
        self.away_today = away_today
        self.limit_ms, self.learned_now = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=bool)
        self.wall_from = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
        self.codes, self.hindex = codes, {c: i for i, c in enumerate(codes)}
        self.last_use, self.alerted = last_use, alerted
        hh = [reg.households[c] for c in codes]
        parts = np.array([_sleep_parts(*h.sleep) for h in hh], dtype=np.int64).reshape(n, 4)
        self.sa1, self.sb1, self.sa2, self.sb2 = (parts[:, k] for k in range(4))
        self.sleep_len = (self.sb1 - self.sa1) + (self.sb2 - self.sa2)
        self.bed = np.array([h.sleep[0] if h.sleep[0] != h.sleep[1] else -1 for h in hh], dtype=np.int64).reshape(n)
        self.window_ms = np.array([h.window_h * 3_600_000 for h in hh], dtype=np.int64)
        top = self.cfg.inactivity_max_h
        self.max_ms = np.array([max(h.max_window_h or top or h.window_h, h.window_h) * 3_600_000 for h in hh],
                               dtype=np.int64)
        self.away_until_ms = np.array([self._away_end(h.away_until) for h in hh], dtype=np.int64)
        # away mode switched off early (the resident is back): the inactivity clock starts now,
        # not at the last use before the trip
        back = was_away & (self.away_until_ms <= self._now)
        self.last_use[back] = np.maximum(self.last_use[back], self._now)
        self._limits()
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
        if m.household < 0:
            return []
        return self.uses(np.array([m.household], dtype=np.int64), np.array([used_at], dtype=np.int64), now)

    def uses(self, h: np.ndarray, used_at: np.ndarray, now: int | np.ndarray) -> list[Action]:
        """Water used in households `h` (rows, each at most once) at `used_at`, seen at `now`: a use ends the
        household's silence (learned unless it may not be ordinary), may be an evening use, restarts its clock
        and limit, and clears its open inactivity alert. Every household steps on its own state only, so a run of
        uses of distinct households is one numpy step (the fast backtest calls it; a single use is a run of one).
        Returns the clears, in the order of `h`."""
        h = np.asarray(h, dtype=np.int64)
        used_at = np.asarray(used_at, dtype=np.int64)
        now_a = np.broadcast_to(np.asarray(now, dtype=np.int64), h.shape)
        keep = h >= 0
        if keep.any():
            keep &= used_at > self.last_use[np.where(keep, h, 0)]
        if not keep.all():
            h, used_at, now_a = h[keep], used_at[keep], now_a[keep]
        if not len(h):
            return []
        since = self.last_use[h]
        was_alerted = self.alerted[h] == since
        self._learn_silences(h, since, used_at)
        self._evening_uses(h, used_at)
        self.last_use[h] = used_at
        self._limits(h)
        return [Clear(Rule.WATER_INACTIVITY, self.codes[i], "water_used", t)
                for i, t in zip(h[was_alerted].tolist(), now_a[was_alerted].tolist(), strict=True)]

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
        awake = np.where(now >= self.wall_from, elapsed, awake)
        over = awake > self.limit_ms
        cap = elapsed > int(self.cfg.inactivity_hard_cap_h * 3_600_000)
        due = (over | cap) & (self.alerted != self.last_use) & (now >= self.away_until_ms)
        idx = np.flatnonzero(due)
        reason = np.where(over[idx], np.where(self.learned_now[idx], 1, 0), 2)
        return idx, reason

    # --- the routine ------------------------------------------------------------------

    def _limits(self, h: int | np.ndarray | None = None) -> None:
        """Each household's awake-hours limit for its current silence (all rows, or rows h after their uses)."""
        c = self.cfg
        rows = slice(None) if h is None else slice(h, h + 1) if isinstance(h, int) else h
        since = np.maximum(self.last_use[rows], self.away_until_ms[rows])
        learned = self.routine.days[rows] >= c.routine_min_days
        tail = self.routine.tail_limit_min(c.routine_false_per_month)[rows]
        local = since + (self.ctx.utc_offset_ms(int(np.max(since)) if since.size else self._now) if h is None
                         else self._offsets(since))
        weekday = (local // DAY_MS + 3) % 7  # 1970-01-01 was a Thursday
        recur = self.routine.recurring_min(rows, weekday, local % DAY_MS // MIN_MS)
        lim = np.maximum(tail, recur * np.float32(c.routine_factor) + np.float32(c.routine_margin_min))
        lo = np.minimum(np.float32(c.routine_floor_h * 60), self.window_ms[rows] / MIN_MS)
        lim = np.clip(lim, lo, self.max_ms[rows] / MIN_MS).astype(np.int64) * MIN_MS
        self.learned_now[rows] = learned
        self.limit_ms[rows] = np.where(learned, lim, self.window_ms[rows])
        # a household that uses water before bed on nearly every day and has not since EVENING_MIN before
        # tonight's bedtime did not go to bed as usual: from bedtime its sleep hours count as awake
        bed = self.bed[rows]
        off = self.ctx.utc_offset_ms(self._now)
        mid = (since + off) // DAY_MS * DAY_MS - off
        tonight = mid + bed * MIN_MS + np.where((since + off) % DAY_MS >= bed * MIN_MS, DAY_MS, 0)
        usual = (learned & (self.routine.days[rows] >= c.routine_evening_min_days)
                 & (self.routine.evening[rows] >= c.routine_evening_share) & (bed >= 0))
        self.wall_from[rows] = np.where(usual & (tonight - since >= EVENING_MIN * MIN_MS), tonight,
                                        np.iinfo(np.int64).max)

    def _offsets(self, ms: np.ndarray) -> np.ndarray:
        """The UTC offset at each time (computed once a minute: zones change offset on whole minutes)."""
        minute, back = np.unique(ms // MIN_MS, return_inverse=True)
        return np.array([self.ctx.utc_offset_ms(int(x) * MIN_MS) for x in minute.tolist()], dtype=np.int64)[back]

    def _evening_uses(self, h: np.ndarray, used_at: np.ndarray) -> None:
        bed = self.bed[h]
        minute = (used_at + self._offsets(used_at)) // MIN_MS % 1440
        evening = (bed >= 0) & ((minute - (bed - EVENING_MIN)) % 1440 < EVENING_MIN)
        self.routine.evening_today[h[evening]] = True

    def _learn_silences(self, h: np.ndarray, since: np.ndarray, used_at: np.ndarray) -> None:
        """Silences of households h (distinct rows) ended in a use (also one that raised an alert: cleared by use,
        it was a false alarm): learn their lengths unless they may not be ordinary."""
        ok = (since > self.start_ms) & (self.away_until_ms[h] <= since)  # not from before we watched, nor away
        # longer than the hard cap: an absence or worse, not routine
        ok &= (used_at - since) <= self.cfg.inactivity_hard_cap_h * 3_600_000
        if not ok.all():
            h, since, used_at = h[ok], since[ok], used_at[ok]
        if not len(h):
            return
        off_since, off_used = self._offsets(since), self._offsets(used_at)
        sleep = self._sleep_upto_rows(h, used_at + off_used) - self._sleep_upto_rows(h, since + off_since)
        day = (since + off_since) // DAY_MS
        today = day == self._day if self._day is not None else np.zeros(len(h), dtype=bool)
        weekday = (day + 3) % 7  # 1970-01-01 was a Thursday
        minutes = (used_at - since) / MIN_MS - sleep.astype(np.float64)
        self.routine.note_many(h, weekday, minutes, today, (since + off_since) % DAY_MS // MIN_MS)

    def _sleep_upto_rows(self, h: np.ndarray, local_ms: np.ndarray) -> np.ndarray:
        """_sleep_upto for households h at local times."""
        day, m = np.divmod(local_ms // MIN_MS, 1440)
        a1, b1, a2, b2 = self.sa1[h], self.sb1[h], self.sa2[h], self.sb2[h]
        return day * ((b1 - a1) + (b2 - a2)) + np.clip(m - a1, 0, b1 - a1) + np.clip(m - a2, 0, b2 - a2)

    def learn(self, now: int) -> None:
        """The routine's daily step: peaks fade, and a day counts as learned for every household with no open
        alert (it may be an emergency) and no away mode that day."""
        day = (now + self.ctx.utc_offset_ms(now)) // DAY_MS
        if self._day is None:
            self._day = day
        if day != self._day:
            clean = (self.alerted != self.last_use) & ~self.away_today
            self.routine.end_day(clean, int((self._day + 3) % 7))
            self.away_today[:] = False
            self._day = day
            self._limits()
        self.away_today |= now < self.away_until_ms

    def tick(self, now: int) -> list[Action]:
        self._now = max(self._now, now)
        idx, reason = self.evaluate(now)
        out: list[Action] = []
        reg = self.ctx.registry()
        for i, why in zip(idx.tolist(), reason.tolist(), strict=True):
            code = self.codes[i]
            since = int(self.last_use[i])
            self.alerted[i] = since
            hours = (now - since) / 3_600_000
            window_h = reg.households[code].window_h if code in reg.households else 0
            # the facts behind the reason: the window, the learned limit (awake hours), or the hard cap
            limit = {"threshold_h": round(float(self.limit_ms[i]) / 3_600_000, 2)} if why == 1 \
                else {"cap_h": self.cfg.inactivity_hard_cap_h} if why == 2 else {}
            out.append(Raise.of(Rule.WATER_INACTIVITY, code, Severity.MAJOR, code, f"since-{since}", now,
                                reason=REASONS[why], hours=round(hours, 2), window_h=window_h, since=since, **limit))
        self.learn(now)
        return out

    def alerted_silent(self) -> list[str]:
        """Households whose current silence raised an inactivity alert and has not ended (no use since)."""
        return [self.codes[i] for i in np.flatnonzero(self.alerted == self.last_use).tolist()]

    def rearm(self, household: str, at: int) -> None:
        """The household's inactivity alert was closed by people while its silence goes on (the family or the
        resident said she is fine, staff resolved it): its clock restarts at `at`, as when away mode ends. A
        silence that goes on past the limit again - she came back and fell before using water - is raised again,
        as a new episode, instead of staying silenced by the first alert's close. The part before `at` is never
        learned (no use ended it)."""
        i = self.hindex.get(household)
        if i is not None and self.alerted[i] == self.last_use[i] and at > self.last_use[i]:
            self.last_use[i] = at
            self._limits(i)

    def restore_last_use(self, household: str, ts: int) -> None:
        """Set a household's last use (rebuild after a restart, before live messages)."""
        i = self.hindex.get(household)
        if i is not None:
            self.last_use[i] = ts
            self._limits(i)
