"""Drive a stream of items through the clock into a sink, counting as it goes.

The same loop serves `sim run` (generated traffic) and `sim replay` (a recording): for
each item, wait until the clock says it is due (servicing the sink's connections while
waiting), then send it. A stop event (Ctrl-C, SIGTERM) ends the loop between items; the
sink is then closed normally, so acknowledgements are still collected.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from firmware_sim.clock import Clock
from firmware_sim.progress import ProgressView
from firmware_sim.sinks import Sink
from firmware_sim.stream import Control, Item

#: how many messages between non-blocking services of the sink's sockets (PUBACKs, pings)
POLL_EVERY = 64


@dataclass(slots=True)
class RunResult:
    """What a run did."""

    messages: int = 0
    controls: int = 0
    first_ms: int | None = None
    last_ms: int | None = None
    wall_s: float = 0.0
    stopped: bool = False
    by_channel: Counter = field(default_factory=Counter)
    delivery: dict[str, Any] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.messages / self.wall_s if self.wall_s > 0 else 0.0


def run_stream(items: Iterable[Item], sink: Sink, clock: Clock, progress: ProgressView | None = None,
               stop: threading.Event | None = None) -> RunResult:
    """Send every item when its time is due; returns counts and the sink's delivery report."""
    res = RunResult()
    by_channel = res.by_channel
    t0 = time.monotonic()
    clock.start()
    n = 0
    try:
        for item in items:
            if stop is not None and stop.is_set():
                res.stopped = True
                break
            due = clock.deadline(item.at_ms)
            if due is not None:
                while True:
                    now = time.monotonic()
                    if now >= due:
                        break
                    sink.wait_until(min(due, now + 0.25))
                    if progress is not None:
                        progress.update(clock.now_ms(), n)
                    if stop is not None and stop.is_set():
                        break
                if stop is not None and stop.is_set():
                    res.stopped = True
                    break
            if isinstance(item, Control):
                sink.control(item)
                res.controls += 1
                continue
            sink.send(item)
            n += 1
            by_channel[item.topic.rpartition("/")[2]] += 1
            if res.first_ms is None:
                res.first_ms = item.at_ms
            res.last_ms = item.at_ms
            if n % POLL_EVERY == 0:
                sink.poll()
                if progress is not None:
                    progress.update(item.at_ms, n)
    finally:
        res.messages = n
        if progress is not None and res.last_ms is not None:
            progress.update(res.last_ms, n)
        res.delivery = sink.close()
        res.wall_s = time.monotonic() - t0
        if progress is not None:
            progress.close()
    return res
