"""A household's water routine, learned with numpy: how long without use is normal at each time of day.

Every half hour (a slot), for every household at once, the time since its last water use
is sampled. Per (household, weekday or weekend, slot) the rule keeps a decaying maximum of
those gaps: the longest gap seen at that time of day lately (it loses 3 % a day, so a
one-off long gap fades over a few weeks). The learned threshold is factor x that maximum
+ margin, never below a floor, and dilated over the two hours before (see threshold_min).
A maximum, not mean + k x std: gaps since the last use are far from normal (a night-time
toilet visit or an afternoon nap makes them bimodal), and a mean-and-spread threshold
alarmed on ordinary mornings in the evaluation.
Storage: float32 + uint8 [households, 2, 48], about 480 bytes a household.
"""

from __future__ import annotations

import numpy as np

SLOT_MIN = 30
SLOTS = 24 * 60 // SLOT_MIN
DECAY_PER_SAMPLE = 0.97  # one sample per slot per day (of its day type)
SHIFT_SLOTS = 4  # routines drift by up to two hours from day to day


class Routine:
    """Per-household decaying maximum of the gap since last use, by day type and slot."""

    def __init__(self, n: int) -> None:
        self.peak = np.zeros((n, 2, SLOTS), dtype=np.float32)  # minutes
        self.count = np.zeros((n, 2, SLOTS), dtype=np.uint8)

    @property
    def size(self) -> int:
        return self.peak.shape[0]

    def take(self, order: np.ndarray) -> Routine:
        """A routine re-indexed by `order` (-1 = a new household with no history)."""
        r = Routine(len(order))
        have = order >= 0
        r.peak[have], r.count[have] = self.peak[order[have]], self.count[order[have]]
        return r

    def learn_day(self, clean: np.ndarray, daytype: int, gaps: np.ndarray) -> None:
        """Fold a whole day of gap notes [households, slots] (NaN = none) in at once, for `clean` rows."""
        have = clean[:, None] & ~np.isnan(gaps)
        peak = self.peak[:, daytype, :]
        np.copyto(peak, np.maximum(peak * np.float32(DECAY_PER_SAMPLE), np.nan_to_num(gaps, nan=0.0)), where=have)
        count = self.count[:, daytype, :]
        np.copyto(count, np.minimum(count.astype(np.int16) + 1, 255).astype(np.uint8), where=have)

    def threshold_min(self, daytype: int, slot: int, factor: float, margin_min: float, floor_min: float,
                      min_days: int) -> np.ndarray:
        """Learned threshold (minutes) at a slot for every household; +inf where history is too short.

        Dilated over the previous SHIFT_SLOTS slots: a gap that is normal at 04:30 is normal at
        05:00 plus half an hour, so a morning that starts an hour late does not alarm.
        """
        slots = [(slot - j) % SLOTS for j in range(SHIFT_SLOTS + 1)]
        lag = np.arange(SHIFT_SLOTS + 1, dtype=np.float32) * SLOT_MIN
        base = (self.peak[:, daytype, slots] + lag).max(axis=1)
        thr = np.maximum(base * np.float32(factor) + np.float32(margin_min), np.float32(floor_min))
        return np.where(self.count[:, daytype, slot] >= min_days, thr, np.float32(np.inf))

    def save(self, path: str, codes: list[str]) -> None:
        np.savez(path, peak=self.peak, count=self.count, codes=np.asarray(codes, dtype=object))

    @staticmethod
    def load(path: str) -> tuple[Routine, list[str]]:
        with np.load(path, allow_pickle=True) as f:
            r = Routine(0)
            r.peak, r.count = f["peak"], f["count"]
            return r, [str(c) for c in f["codes"]]
