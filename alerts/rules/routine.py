"""A household's water routine, learned with numpy: how long it goes without water while awake.

Every silence that ends in a use is a sample: its length in awake hours (the registry's sleep hours not
counted), by the weekday it began on. Two things are learned per household, both decaying (1.5 % a day):
- its own tail of silences (a peaks-over-threshold fit): how often a silence runs past TAIL_FROM_MIN and
  how far beyond it on average. The learned limit is the silence this household would run past
  `per_month` times a month if its tail is exponential: a resident who uses water every hour gets a short
  limit, one who draws a thermos twice a day a long one (both clipped by water.py into the bounds staff
  set). Many moderate silences estimate it, not the few longest: steadier than a maximum;
- recurring silences, by weekday and hour: for each weekday, the longest silence of that day in each of the
  last four weeks and the time of day it began (`recur` [households, 7, 4], minutes; `recur_at`, in
  10-minute slots of local time). A silence that begins within RECUR_NEAR_MIN of the hour at which a silence
  began on the same weekday in at least three of the last four weeks is recurring - the market every
  Tuesday morning, skipped one week - and the shortest of those three relaxes that weekday and hour only.
  A one-off outing does not (its weekday's other weeks were shorter or at other hours), nor does a silence
  at another hour of the same weekday.
Silences that never ended in a use (an emergency, an alert nobody cleared by using water) are never
samples, nor silences longer than the hard cap or begun in away mode (water.py).
Storage: 5 x float32 + uint16 and uint8 [households, 7, 4] + 3 x uint8, about 110 bytes a household.
File format 3 (`FORMAT`): a file of an earlier format is refused (KeyError) and the routine is learned again.
"""

from __future__ import annotations

import numpy as np

DECAY_PER_DAY = 0.985
TAIL_FROM_MIN = 90.0
EVENING_WEIGHT = 1 / 60  # the evening share remembers about two months: a rate near 1/60 a day is what it must tell
RECUR_SHARE = 0.8
WEEKS = 4  # weeks of each weekday kept
RECUR_WEEKS = 3  # ... of which a silence must come in this many at about the same hour to be recurring
RECUR_NEAR_MIN = 90  # "about the same hour": its start within this of the other weeks'
SLOT_MIN = 10  # recur_at unit
FORMAT = 3


class Routine:
    """Per-household tail of awake-hours silences, and the longest silence of each weekday in the last weeks."""

    def __init__(self, n: int) -> None:
        self.over = np.zeros(n, dtype=np.float32)  # decaying count of silences longer than TAIL_FROM_MIN
        self.excess = np.zeros(n, dtype=np.float32)  # ... and the sum of their minutes beyond it
        self.exposure = np.zeros(n, dtype=np.float32)  # decaying count of clean days
        self.days = np.zeros(n, dtype=np.uint8)  # clean days learned (capped at 255)
        self.today = np.zeros(n, dtype=np.float32)  # longest silence begun today (minutes awake)
        self.today_at = np.zeros(n, dtype=np.uint8)  # ... and when it began (local time, SLOT_MIN slots)
        self.recur = np.zeros((n, 7, WEEKS), dtype=np.uint16)  # longest silence of the weekday, last weeks
        self.recur_at = np.zeros((n, 7, WEEKS), dtype=np.uint8)  # ... and when each began
        self.evening = np.zeros(n, dtype=np.float32)  # share of days with a use in the evening before bed
        self.evening_today = np.zeros(n, dtype=bool)

    @property
    def size(self) -> int:
        return self.over.shape[0]

    def take(self, order: np.ndarray) -> Routine:
        """A routine re-indexed by `order` (-1 = a new household with no history)."""
        r = Routine(len(order))
        have = order >= 0
        for name in FIELDS:
            getattr(r, name)[have] = getattr(self, name)[order[have]]
        return r

    def note_many(self, h: np.ndarray, weekday: np.ndarray, minutes: np.ndarray, today: np.ndarray,
                  at_min: np.ndarray) -> None:
        """Ordinary silences of distinct households h, begun on `weekday` at local minute `at_min`, `minutes`
        awake; `today`: begun on the current day. A silence as long as one that began at about the same hour on
        the same weekday in one of the last two weeks may be recurring: it is left to `recur`, not the tail
        (else one weekly outing would relax every day)."""
        near = self._near(self.recur_at[h, weekday, -2:], at_min)
        seen = (near & (self.recur[h, weekday, -2:] >= RECUR_SHARE * minutes[:, None])).any(axis=1)
        tail = (minutes > TAIL_FROM_MIN) & ~seen
        t = h[tail]
        self.over[t] += np.float32(1)
        self.excess[t] += (minutes[tail] - TAIL_FROM_MIN).astype(np.float32)
        m32 = minutes.astype(np.float32)
        longer = today & (m32 > self.today[h])
        self.today[h[longer]] = m32[longer]
        self.today_at[h[longer]] = (np.asarray(at_min)[longer] // SLOT_MIN).astype(np.uint8)

    @staticmethod
    def _near(at_slots: np.ndarray, at_min: np.ndarray) -> np.ndarray:
        """Whether each stored start (slots, [rows, weeks]) is within RECUR_NEAR_MIN of each row's `at_min`."""
        return np.abs(at_slots.astype(np.int32) * SLOT_MIN - np.asarray(at_min, dtype=np.int32)[:, None]) \
            <= RECUR_NEAR_MIN

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
        at = self.recur_at[rows, weekday]
        self.recur_at[rows, weekday] = np.concatenate([at[:, 1:], self.today_at[rows][:, None]], axis=1)
        self.today[:] = 0
        self.today_at[:] = 0

    def learned(self, min_days: int) -> np.ndarray:
        return self.days >= min_days

    def tail_limit_min(self, per_month: float) -> np.ndarray:
        """The silence (awake minutes) each household runs past `per_month` times a month by its own tail:
        silences over TAIL_FROM_MIN come `over / exposure` times a day and run on beyond it for an exponential
        time of mean `excess / over` (15 min added: a tail seen in few silences is not trusted to be short)."""
        mean = self.excess / np.maximum(self.over, np.float32(1.0)) + np.float32(15.0)
        rate = (self.over + np.float32(0.5)) / np.maximum(self.exposure, np.float32(1.0)) * np.float32(30.0)
        return np.float32(TAIL_FROM_MIN) + mean * np.log(np.maximum(rate / np.float32(per_month), np.float32(1.0)))

    def recurring_min(self, rows: np.ndarray | slice, weekday: np.ndarray, at_min: np.ndarray) -> np.ndarray:
        """Per household row, a silence that began on its weekday within RECUR_NEAR_MIN of `at_min` (local minute)
        in at least RECUR_WEEKS of the last WEEKS weeks: the shortest of those (0 if none)."""
        idx = np.arange(len(weekday))
        length = self.recur[rows][idx, weekday]
        near = self._near(self.recur_at[rows][idx, weekday], at_min)
        came = np.sort(np.where(near, length, 0), axis=1)
        return came[:, WEEKS - RECUR_WEEKS].astype(np.float32)

    def save(self, path: str, codes: list[str]) -> None:
        np.savez(path, format=np.int64(FORMAT), codes=np.asarray(codes, dtype=object),
                 **{name: getattr(self, name) for name in FIELDS})

    @staticmethod
    def load(path: str) -> tuple[Routine, list[str]]:
        """A saved routine; a file of an earlier format is refused with KeyError (learned again from scratch)."""
        with np.load(path, allow_pickle=True) as f:
            if "format" not in f.files or int(f["format"]) != FORMAT:
                raise KeyError(f"routine file format {int(f['format']) if 'format' in f.files else 'before 3'}, "
                               f"expected {FORMAT}")
            r = Routine(0)
            for name in FIELDS:
                setattr(r, name, f[name])
            return r, [str(c) for c in f["codes"]]


FIELDS = ("over", "excess", "exposure", "days", "today", "today_at", "recur", "recur_at", "evening",
          "evening_today")
