"""A household's water routine, learned with numpy: how long without use is normal at each time of day.

Every half hour (a slot), for every household at once, the time since its last water use
is sampled into an exponentially weighted mean and variance per (household, weekday or
weekend, slot). The learned threshold at a slot is mean + sigma x std + margin, never
below a floor. Storage is float32 [households, 2, 48] twice: about 770 bytes a household.
"""

from __future__ import annotations

import numpy as np

SLOT_MIN = 30
SLOTS = 24 * 60 // SLOT_MIN
MAX_WEIGHT_DAYS = 21  # past this many samples a slot forgets at 1/21 per day (about 3 weeks of memory)


class Routine:
    """Per-household learned statistics of the gap since last use, by day type and slot."""

    def __init__(self, n: int) -> None:
        self.mean = np.zeros((n, 2, SLOTS), dtype=np.float32)  # minutes
        self.var = np.zeros((n, 2, SLOTS), dtype=np.float32)
        self.count = np.zeros((n, 2, SLOTS), dtype=np.uint8)

    @property
    def size(self) -> int:
        return self.mean.shape[0]

    def take(self, order: np.ndarray) -> Routine:
        """A routine re-indexed by `order` (-1 = a new household with no history)."""
        r = Routine(len(order))
        have = order >= 0
        r.mean[have], r.var[have], r.count[have] = self.mean[order[have]], self.var[order[have]], \
            self.count[order[have]]
        return r

    def learn(self, rows: np.ndarray, daytype: int, slot: int, gap_min: np.ndarray) -> None:
        """Fold one sample of the gap (minutes) into the slot's mean and variance for `rows`."""
        if len(rows) == 0:
            return
        c = self.count[rows, daytype, slot].astype(np.float32)
        alpha = 1.0 / np.minimum(c + 1, MAX_WEIGHT_DAYS)
        m = self.mean[rows, daytype, slot]
        diff = gap_min.astype(np.float32) - m
        m_new = m + alpha * diff
        v_new = (1 - alpha) * (self.var[rows, daytype, slot] + alpha * diff * diff)
        self.mean[rows, daytype, slot] = m_new
        self.var[rows, daytype, slot] = v_new
        self.count[rows, daytype, slot] = np.minimum(c + 1, 255).astype(np.uint8)

    def threshold_min(self, daytype: int, slot: int, sigma: float, margin_min: float, floor_min: float,
                      min_days: int) -> np.ndarray:
        """Learned threshold (minutes) at a slot for every household; +inf where history is too short."""
        m = self.mean[:, daytype, slot]
        sd = np.sqrt(self.var[:, daytype, slot])
        thr = np.maximum(m + sigma * sd + margin_min, floor_min)
        return np.where(self.count[:, daytype, slot] >= min_days, thr, np.inf).astype(np.float32)

    def save(self, path: str, codes: list[str]) -> None:
        np.savez(path, mean=self.mean, var=self.var, count=self.count, codes=np.asarray(codes, dtype=object))

    @staticmethod
    def load(path: str) -> tuple[Routine, list[str]]:
        with np.load(path, allow_pickle=True) as f:
            r = Routine(0)
            r.mean, r.var, r.count = f["mean"], f["var"], f["count"]
            return r, [str(c) for c in f["codes"]]
