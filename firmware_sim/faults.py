"""Fault injection on a stream of messages, live or on replay; seeded, and counted in a report.

    drop %        the message is lost
    duplicate %   the message is sent twice (a redelivery)
    reorder N     messages are shuffled within a sliding window of N
    delay % / max the message is sent up to `max` later (its payload ts unchanged)
    corrupt %     the payload is broken: truncated JSON, a non-UTF-8 byte, or ts as a string
    skew          a gateway's clock is off: payload ts shifted by a fixed amount
    outage        a gateway's uplink is down in a window: Control(down) (its last will fires),
                  its messages are held, then sent when it comes back (store and forward)

Everything is drawn from one random stream seeded by the fault seed, in stream order, so
the same input and seed give the same faults.
"""

from __future__ import annotations

import heapq
import random
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from firmware_sim.stream import Control, Item, Outgoing

_TS_RE = re.compile(rb'"ts":(-?\d+)')
CORRUPT_MODES = ("truncate", "not_utf8", "ts_as_string")


@dataclass(frozen=True, slots=True)
class OutageWindow:
    gateway: str
    start_ms: int
    end_ms: int


@dataclass(frozen=True, slots=True)
class FaultSpec:
    """What to break, and how often (percentages 0-100)."""

    drop_pct: float = 0.0
    duplicate_pct: float = 0.0
    reorder_window: int = 0
    delay_pct: float = 0.0
    delay_max_ms: int = 0
    corrupt_pct: float = 0.0
    skew_ms: tuple[tuple[str, int], ...] = ()   # (gateway or "*", ms)
    outages: tuple[OutageWindow, ...] = ()
    seed: int = 0

    def any_message_faults(self) -> bool:
        return bool(self.drop_pct or self.duplicate_pct or self.reorder_window > 1 or
                    (self.delay_pct and self.delay_max_ms) or self.corrupt_pct or self.skew_ms)

    def describe(self) -> str:
        parts = [f"{name} {v}%" for name, v in (("drop", self.drop_pct), ("duplicate", self.duplicate_pct),
                                                ("corrupt", self.corrupt_pct)) if v]
        if self.reorder_window > 1:
            parts.append(f"reorder window {self.reorder_window}")
        if self.delay_pct and self.delay_max_ms:
            parts.append(f"delay {self.delay_pct}% up to {self.delay_max_ms / 1000:g} s")
        parts += [f"skew {gw} {ms / 1000:+g} s" for gw, ms in self.skew_ms]
        parts += [f"outage {o.gateway}" for o in self.outages]
        return ", ".join(parts) or "none"


@dataclass(slots=True)
class FaultReport:
    """What the fault layer did."""

    seen: int = 0
    dropped: int = 0
    duplicated: int = 0
    reordered: int = 0
    delayed: int = 0
    corrupted: Counter = field(default_factory=Counter)
    skewed: int = 0
    held: int = 0
    outages: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"seen": self.seen, "dropped": self.dropped, "duplicated": self.duplicated,
                "reordered": self.reordered, "delayed": self.delayed, "corrupted": sum(self.corrupted.values()),
                "corrupted_by_mode": dict(sorted(self.corrupted.items())), "skewed": self.skewed,
                "held_by_outage": self.held, "outages": self.outages}


def rewrite_ts(payload: bytes, delta_ms: int) -> bytes | None:
    """The payload with its first "ts" shifted by delta_ms, or None when it has none."""
    m = _TS_RE.search(payload)
    if m is None:
        return None
    return payload[:m.start(1)] + str(int(m.group(1)) + delta_ms).encode() + payload[m.end(1):]


def corrupt(payload: bytes, mode: str, rng: random.Random) -> bytes:
    """A payload broken so that the contract rejects it."""
    if mode == "ts_as_string":
        m = _TS_RE.search(payload)
        if m is not None:
            return payload[:m.start(1)] + b'"' + m.group(1) + b'"' + payload[m.end(1):]
        mode = "truncate"
    if mode == "not_utf8" and payload:
        i = rng.randrange(len(payload))
        return payload[:i] + b"\xff" + payload[i + 1:]
    return payload[: max(1, len(payload) // 2)]


def apply_outages(stream: Iterable[Item], outages: Iterable[Any], report: FaultReport | None = None) -> Iterator[Item]:
    """Take gateways down in their windows: Control items, messages held until the uplink returns."""
    events: list[tuple[int, int, str, bool]] = []  # (time, 0=up first at equal times, gateway, online)
    for o in outages:
        events.append((o.start_ms, 1, o.gateway, False))
        events.append((o.end_ms, 0, o.gateway, True))
        if report is not None:
            report.outages += 1
    heapq.heapify(events)
    down: dict[str, int] = {}   # gateway -> nesting depth of overlapping windows
    held: dict[str, list[Outgoing]] = {}

    def due(until: int | None) -> Iterator[Item]:
        while events and (until is None or events[0][0] <= until):
            t, _, gw, online = heapq.heappop(events)
            if online:
                down[gw] -= 1
                if down[gw] == 0:
                    del down[gw]
                    yield Control(t, gw, True)
                    for msg in held.pop(gw, []):
                        yield replace(msg, at_ms=t)
            else:
                down[gw] = down.get(gw, 0) + 1
                if down[gw] == 1:
                    yield Control(t, gw, False)

    for item in stream:
        yield from due(item.at_ms)
        if isinstance(item, Outgoing) and item.gateway in down:
            held.setdefault(item.gateway, []).append(item)
            if report is not None:
                report.held += 1
            continue
        yield item
    yield from due(None)


class FaultInjector:
    """Applies a FaultSpec to a stream; `report` counts what it did."""

    def __init__(self, spec: FaultSpec) -> None:
        self.spec = spec
        self.report = FaultReport()
        self._rng = random.Random(spec.seed)
        self._skew = dict(spec.skew_ms)

    def apply(self, stream: Iterable[Item]) -> Iterator[Item]:
        """The stream with the spec's faults; output stays in non-decreasing at_ms order."""
        stream = self._per_message(stream)
        if self.spec.delay_pct and self.spec.delay_max_ms:
            stream = self._delay(stream)
        if self.spec.reorder_window > 1:
            stream = self._reorder(stream)
        if self.spec.outages:
            stream = apply_outages(stream, self.spec.outages, self.report)
        return stream

    def _per_message(self, stream: Iterable[Item]) -> Iterator[Item]:
        spec, rep, rng = self.spec, self.report, self._rng
        drop, dup, bad = spec.drop_pct / 100, spec.duplicate_pct / 100, spec.corrupt_pct / 100
        skew, skew_all = self._skew, self._skew.get("*", 0)
        for item in stream:
            if not isinstance(item, Outgoing):
                yield item
                continue
            rep.seen += 1
            r_drop, r_bad, r_dup = rng.random(), rng.random(), rng.random()
            if r_drop < drop:
                rep.dropped += 1
                continue
            shift = skew.get(item.gateway, skew_all)
            if shift:
                moved = rewrite_ts(item.payload, shift)
                if moved is not None:
                    item = replace(item, payload=moved)
                    rep.skewed += 1
            if r_bad < bad and not item.retain:
                mode = CORRUPT_MODES[rng.randrange(len(CORRUPT_MODES))]
                item = replace(item, payload=corrupt(item.payload, mode, rng))
                rep.corrupted[mode] += 1
            yield item
            if r_dup < dup:
                rep.duplicated += 1
                yield item

    def _delay(self, stream: Iterable[Item]) -> Iterator[Item]:
        p, top, rng, rep = self.spec.delay_pct / 100, self.spec.delay_max_ms, self._rng, self.report
        heap: list[tuple[int, int, Item]] = []
        for n, item in enumerate(stream):
            while heap and heap[0][0] <= item.at_ms:
                yield heapq.heappop(heap)[2]
            if isinstance(item, Outgoing) and rng.random() < p:
                item = replace(item, at_ms=item.at_ms + rng.randint(1, top))
                rep.delayed += 1
            heapq.heappush(heap, (item.at_ms, n, item))
        while heap:
            yield heapq.heappop(heap)[2]

    def _reorder(self, stream: Iterable[Item]) -> Iterator[Item]:
        window, rng, rep = self.spec.reorder_window, self._rng, self.report
        buf: list[tuple[int, Item]] = []
        last_at, max_index = -(2**63), -1

        def emit(i: int) -> Item:
            nonlocal last_at, max_index
            n, item = buf.pop(i)
            if n < max_index:
                rep.reordered += 1
            max_index = max(max_index, n)
            if item.at_ms < last_at:
                item = replace(item, at_ms=last_at)
            last_at = item.at_ms
            return item

        for n, item in enumerate(stream):
            if isinstance(item, Control):  # never move a gateway's up/down across its messages
                while buf:
                    yield emit(0)
                yield item
                last_at = max(last_at, item.at_ms)
                continue
            buf.append((n, item))
            if len(buf) >= window:
                yield emit(rng.randrange(len(buf)))
        while buf:
            yield emit(rng.randrange(len(buf)))
