"""A household's water routine, learned with numpy: how long it goes without water while awake.

Every silence that ends in a use is a sample: its length in awake hours (the registry's sleep hours not
counted), by the weekday it began on. Two things are learned per household, both decaying (1.5 % a day):
- its own tail of silences (a peaks-over-threshold fit): how often a silence runs past TAIL_FROM_MIN and
  how far beyond it on average. The learned limit is the silence this household would run past
  `per_month` times a month if its tail is exponential: a resident who uses water every hour gets a short
  limit, one who draws a thermos twice a day a long one (both clipped by water.py into the bounds staff
  set). Many moderate silences estimate it, not the few longest: steadier than a maximum;
- recurring silences: for each weekday, the longest silence of that day in each of the last three weeks
  (`recur` [households, 7, 3], minutes). The shortest of the three is a silence that came three weeks
  running on that weekday - the market every Tuesday morning - and relaxes that weekday only. A one-off
  outing does not (its weekday's other weeks were shorter).
Silences that never ended in a use (an emergency, an alert nobody cleared by using water) are never
samples, nor silences longer than the hard cap or begun in away mode (water.py).
Storage: 4 x float32 + uint16 [households, 7, 3] + uint8, about 60 bytes a household.
"""

from __future__ import annotations

import numpy as np

DECAY_PER_DAY = 0.985
TAIL_FROM_MIN = 90.0
EVENING_WEIGHT = 0.1
RECUR_SHARE = 0.8


class Routine:
    """Per-household tail of awake-hours silences, and the longest silence of each weekday in the last weeks."""

    def __init__(self, n: int) -> None:
        self.over = np.zeros(n, dtype=np.float32)  # decaying count of silences longer than TAIL_FROM_MIN
        self.excess = np.zeros(n, dtype=np.float32)  # ... and the sum of their minutes beyond it
        self.exposure = np.zeros(n, dtype=np.float32)  # decaying count of clean days
        self.days = np.zeros(n, dtype=np.uint8)  # clean days learned (capped at 255)
        self.today = np.zeros(n, dtype=np.float32)  # longest silence begun today (minutes awake)
        self.recur = np.zeros((n, 7, 3), dtype=np.uint16)  # longest silence of the weekday, last 3 weeks
        self.evening = np.zeros(n, dtype=np.float32)  # share of days with a use in the evening before bed
        self.evening_today = np.zeros(n, dtype=bool)

    @property
    def size(self) -> int:
        return self.over.shape[0]

    def take(self, order: np.ndarray) -> Routine:
        """A routine re-indexed by `order` (-1 = a new household with no history)."""
        r = Routine(len(order))
        have = order >= 0
        for name in ("over", "excess", "exposure", "days", "today", "recur", "evening", "evening_today"):
            getattr(r, name)[have] = getattr(self, name)[order[have]]
        return r

    def note(self, h: int, weekday: int, minutes: float, today: bool) -> None:
        """One ordinary silence of household h begun on `weekday`, `minutes` awake; `today`: it began on the
        current day. A silence as long as last week's longest on the same weekday may be recurring: it is
        left to `recur`, not the tail (else one weekly outing would relax every day)."""
        if minutes > TAIL_FROM_MIN and self.recur[h, weekday, 2] < RECUR_SHARE * minutes:
            self.over[h] += 1
            self.excess[h] += minutes - TAIL_FROM_MIN
        if today and minutes > self.today[h]:
            self.today[h] = minutes

    def note_many(self, h: np.ndarray, weekday: np.ndarray, minutes: np.ndarray, today: np.ndarray) -> None:
        """`note` for silences of distinct households h at once (the same arithmetic, float32 as note does it)."""
        tail = (minutes > TAIL_FROM_MIN) & (self.recur[h, weekday, 2] < RECUR_SHARE * minutes)
        t = h[tail]
        self.over[t] += np.float32(1)
        self.excess[t] += (minutes[tail] - TAIL_FROM_MIN).astype(np.float32)
        m32 = minutes.astype(np.float32)
        longer = today & (m32 > self.today[h])
        self.today[h[longer]] = m32[longer]

    def end_day(self, clean: np.ndarray, weekday: int) -> None:
        """A day (of `weekday`) is over: the tail fades; a clean day (water.py) is counted and its longest
        silence kept for its weekday (a day that was not clean keeps the weeks before)."""
        for a in (self.over, self.excess, self.exposure):
            a *= np.float32(DECAY_PER_DAY)
        self.exposure += clean
        np.copyto(self.days, np.minimum(self.days.astype(np.int16) + 1, 255).astype(np.uint8), where=clean)
        rows = np.flatnonzero(clean)
        w = np.maximum(np.float32(EVENING_WEIGHT), 1 / (self.days[rows].astype(np.float32)))
        self.evening[rows] += (self.evening_today[rows] - self.evening[rows]) * w
        self.evening_today[:] = False
        week = self.recur[rows, weekday]
        self.recur[rows, weekday] = np.concatenate(
            [week[:, 1:], np.minimum(self.today[rows], 65535).astype(np.uint16)[:, None]], axis=1)
        self.today[:] = 0

    def learned(self, min_days: int) -> np.ndarray:
        return self.days >= min_days

    def tail_limit_min(self, per_month: float) -> np.ndarray:
        """The silence (awake minutes) each household runs past `per_month` times a month by its own tail:
        silences over TAIL_FROM_MIN come `over / exposure` times a day and run on beyond it for an exponential
        time of mean `excess / over` (15 min added: a tail seen in few silences is not trusted to be short)."""
        mean = self.excess / np.maximum(self.over, np.float32(1.0)) + np.float32(15.0)
        rate = (self.over + np.float32(0.5)) / np.maximum(self.exposure, np.float32(1.0)) * np.float32(30.0)
        return np.float32(TAIL_FROM_MIN) + mean * np.log(np.maximum(rate / np.float32(per_month), np.float32(1.0)))

    def recurring_min(self, weekday: np.ndarray) -> np.ndarray:
        """Per household, the silence that came on its weekday (one per row) in each of the last three weeks."""
        return self.recur[np.arange(self.size), weekday].min(axis=1).astype(np.float32)

    def save(self, path: str, codes: list[str]) -> None:
        np.savez(path, over=self.over, excess=self.excess, exposure=self.exposure, days=self.days, today=self.today,
                 recur=self.recur, evening=self.evening, evening_today=self.evening_today,
                 codes=np.asarray(codes, dtype=object))

    @staticmethod
    def load(path: str) -> tuple[Routine, list[str]]:
        """A saved routine; a file of an earlier format is refused with KeyError (learned again from scratch)."""
        with np.load(path, allow_pickle=True) as f:
            r = Routine(0)
            r.over, r.excess, r.exposure, r.days = f["over"], f["excess"], f["exposure"], f["days"]
            r.today, r.recur, r.evening = f["today"], f["recur"], f["evening"]
            # whether today's evening saw a use: not saved by earlier files (then: not yet, as at a midnight)
            r.evening_today = f["evening_today"] if "evening_today" in f.files else np.zeros(len(r.over), dtype=bool)
            return r, [str(c) for c in f["codes"]]
