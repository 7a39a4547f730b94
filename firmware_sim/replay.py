"""Turn a record file into a stream to republish: filtered, and optionally shifted to now.

Timing comes from each record's t_ms. With shift-to-now, every payload's "ts" moves by
one offset chosen so that the last message carries the moment the replay ends: at
--speed 1 each message then carries the time it is sent, and at higher speeds no
message is ever stamped later than the moment it goes out (a receiver that refuses
future timestamps accepts all of them).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from firmware_sim.faults import rewrite_ts
from firmware_sim.recordfile import RecordReader
from firmware_sim.stream import Outgoing
from wire.errors import ContractError
from wire.topics import DeviceTopic, parse_topic

_KIND_RE = re.compile(rb'"kind":\s*"([a-z_]+)"')


@dataclass(frozen=True, slots=True)
class ReplayFilter:
    """Keep only these gateways / devices / kinds (empty = all)."""

    gateways: frozenset[str] = frozenset()
    devices: frozenset[str] = frozenset()
    kinds: frozenset[str] = frozenset()

    def keep(self, gateway: str, device: str | None, payload: bytes) -> bool:
        if self.gateways and gateway not in self.gateways:
            return False
        if self.devices and device not in self.devices:
            return False
        if self.kinds:
            m = _KIND_RE.search(payload)
            return m is not None and m.group(1).decode() in self.kinds
        return True


@dataclass(slots=True)
class ReplayPlan:
    """What a first pass over the file found."""

    path: Path
    filter: ReplayFilter
    first_ms: int | None = None
    last_ms: int | None = None
    count: int = 0
    gateways: set[str] = field(default_factory=set)
    not_contract: int = 0
    skipped_lines: list[str] = field(default_factory=list)
    truncated: bool = False

    @property
    def span_ms(self) -> int:
        return 0 if self.first_ms is None else self.last_ms - self.first_ms  # type: ignore[operator]


def _topic_ids(topic: str) -> tuple[str, str | None] | None:
    try:
        t = parse_topic(topic)
    except ContractError:
        return None
    return (t.gateway, t.device) if isinstance(t, DeviceTopic) else (t.gateway, None)


def plan_replay(path: Path, flt: ReplayFilter) -> ReplayPlan:
    """Scan the file once: time span, gateways and count of what the filter keeps."""
    plan = ReplayPlan(Path(path), flt)
    reader = RecordReader(plan.path)
    for rec in reader:
        ids = _topic_ids(rec.topic)
        if ids is None:
            plan.not_contract += 1
            continue
        if not flt.keep(ids[0], ids[1], rec.payload):
            continue
        plan.count += 1
        plan.gateways.add(ids[0])
        if plan.first_ms is None:
            plan.first_ms = rec.t_ms
        plan.last_ms = rec.t_ms if plan.last_ms is None else max(plan.last_ms, rec.t_ms)
    plan.skipped_lines = reader.skipped
    plan.truncated = reader.truncated
    return plan


def replay_items(plan: ReplayPlan, shift_ms: int = 0) -> Iterator[Outgoing]:
    """The file's kept messages as Outgoing items at their recorded times, ts shifted by shift_ms."""
    last_at = None
    for rec in RecordReader(plan.path):
        ids = _topic_ids(rec.topic)
        if ids is None or not plan.filter.keep(ids[0], ids[1], rec.payload):
            continue
        payload = rec.payload
        if shift_ms:
            payload = rewrite_ts(payload, shift_ms) or payload
        at = rec.t_ms if last_at is None else max(last_at, rec.t_ms)  # a clock step back must not stall us
        last_at = at
        yield Outgoing(at, rec.topic, payload, ids[0], rec.qos, rec.retain)
