"""What every device model shares: the local calendar, the emission tuple and the device context.

A model is a generator of emissions, in time order, for [start_ms, end_ms) (end None =
unbounded): (ts_ms, order, seq, channel, data). `order` is the device's place in the
scenario and `seq` its own counter, so (ts, order, seq) is unique and heapq.merge of all
devices is a total, deterministic order that never compares the data dicts. `data` keys
follow the field order of the wire models, so the fast encoder yields the same bytes as
wire.encode.
"""

from __future__ import annotations

import datetime as dt
import heapq
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from firmware_sim.labels import LabelSink
from firmware_sim.seeding import rng_for
from firmware_sim.timeparse import DAY_MS
from wire.models import Channel, Kind

Emit = tuple[int, int, int, Channel, dict]
READING, EVENT, STATUS = Channel.READING, Channel.EVENT, Channel.STATUS


@dataclass(frozen=True, slots=True)
class Calendar:
    """Local days of the scenario: day 0 is the local date of the first simulated instant."""

    zone: ZoneInfo
    first_day: dt.date
    start_ms: int
    end_ms: int | None

    @classmethod
    def for_window(cls, zone: ZoneInfo, start_ms: int, end_ms: int | None) -> Calendar:
        first = dt.datetime.fromtimestamp(start_ms / 1000, zone).date()
        return cls(zone, first, start_ms, end_ms)

    def midnight(self, day: int) -> int:
        """Epoch ms of local midnight starting day `day` (may be negative)."""
        d = self.first_day + dt.timedelta(days=day)
        return int(dt.datetime.combine(d, dt.time(0), tzinfo=self.zone).timestamp() * 1000)

    def at(self, day: int, clock_ms: int) -> int:
        """Epoch ms of a local time of day on day `day` (clock_ms after midnight)."""
        return self.midnight(day) + clock_ms

    def weekend(self, day: int) -> bool:
        return (self.first_day + dt.timedelta(days=day)).weekday() >= 5

    def day_of(self, ts_ms: int) -> int:
        """Day index holding an instant."""
        d = dt.datetime.fromtimestamp(ts_ms / 1000, self.zone).date()
        return (d - self.first_day).days

    def date_key(self, day: int) -> str:
        return (self.first_day + dt.timedelta(days=day)).strftime("%Y%m%d")

    def ended(self, ts_ms: int) -> bool:
        return self.end_ms is not None and ts_ms >= self.end_ms


@dataclass(slots=True)
class DeviceContext:
    """Everything a model needs about its device and the run."""

    device: str
    gateway: str
    kind: Kind
    order: int
    seed: int
    cal: Calendar
    labels: LabelSink
    silent: list[tuple[int, int | None]] = field(default_factory=list)  # device_silent windows
    #: a live run (firmware_sim/live.py, the demo under `shouwang up`): only its incidents may cross a rule, so the
    #: models keep their background activity (camera, call button) out of what any rule watches
    live: bool = False

    def rng(self, *parts: object) -> random.Random:
        """The device's random stream for a purpose (and day)."""
        return rng_for(self.seed, self.device, *parts)


def first_tick(start_ms: int, interval_ms: int, phase_ms: int) -> int:
    """First t >= start_ms with t = phase (mod interval): ticks aligned to absolute time."""
    t = start_ms - (start_ms % interval_ms) + phase_ms
    return t if t >= start_ms else t + interval_ms


#: a day's plan may hold items up to this far outside its own day (heartbeat jitter, long events)
SPILL_MS = DAY_MS


def by_days(ctx: DeviceContext, day_items: Callable[[int], list[tuple[int, Channel, dict]]]) -> Iterator[Emit]:
    """Run a model that plans one local day at a time; numbers, orders and bounds the output.

    day_items(d) returns (ts, channel, data) items of day d, which may lie up to SPILL_MS
    outside the day; they are held until no later day can precede them.
    """
    cal = ctx.cal
    day = cal.day_of(cal.start_ms) - 1
    seq = 0
    order = ctx.order
    pending: list[tuple[int, int, Channel, dict]] = []
    k = 0  # insertion counter: equal times keep plan order, dicts are never compared
    while True:
        done = cal.ended(cal.midnight(day) - SPILL_MS)
        if not done:
            for ts, ch, data in day_items(day):
                k += 1
                heapq.heappush(pending, (ts, k, ch, data))
            safe = cal.midnight(day + 1) - SPILL_MS
        while pending and (done or pending[0][0] < safe):
            ts, _, ch, data = heapq.heappop(pending)
            if ts < cal.start_ms:
                continue
            if cal.ended(ts):
                return
            seq += 1
            yield (ts, order, seq, ch, data)
        if done:
            return
        day += 1


def silenced(it: Iterator[Emit], windows: list[tuple[int, int | None]]) -> Iterator[Emit]:
    """Drop emissions inside device_silent windows (the device sends nothing then)."""
    for item in it:
        ts = item[0]
        if any(a <= ts and (b is None or ts < b) for a, b in windows):
            continue
        yield item
