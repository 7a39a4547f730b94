"""The driver watchdog with real threads: a crashing driver is restarted with backoff, others keep running."""

from __future__ import annotations

import threading
import time

from edge_agent.clock import SystemClock
from edge_agent.stats import DriverStats
from edge_agent.supervisor import Supervisor
from tests.helpers import wait_for


class Crashy:
    """Raises (a bug) a moment after starting, the first `crashes` times it is built."""

    built = 0

    def __init__(self, crashes: int) -> None:
        Crashy.built += 1
        self.id = "crashy"
        self.stats = DriverStats("crashy")
        self.crash = Crashy.built <= crashes
        self.closed = False

    def run(self, stop: threading.Event) -> None:
        if self.crash:
            raise RuntimeError("bug in a driver")
        while not stop.wait(0.05):
            self.stats.heartbeat = time.monotonic()
            self.stats.count("polls")

    def close(self) -> None:
        self.closed = True


class Steady(Crashy):
    def __init__(self) -> None:
        super().__init__(0)
        self.id = "steady"
        self.stats = DriverStats("steady")


def test_dead_driver_is_restarted_and_others_keep_running(caplog) -> None:
    Crashy.built = 0
    steady = Steady()
    Crashy.built = 0
    sup = Supervisor({"crashy": lambda: Crashy(crashes=2), "steady": lambda: steady}, SystemClock(),
                     backoff_s=0.1, backoff_max_s=0.2)
    sup.start()
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and Crashy.built < 3:
            sup.check()
            time.sleep(0.02)
        slot = sup.slots[0]
        wait_for(lambda: slot.stats.get("polls") > 0, 5, what="restarted driver polling")
        assert Crashy.built == 3 and slot.stats.restarts == 2 and slot.stats.alive
        assert steady.stats.get("polls") > 3 and sup.slots[1].stats.restarts == 0   # never disturbed
        assert sup.down() == 0 and sup.stalled(5.0) == []
        assert "driver crashy died" in caplog.text and "RuntimeError: bug in a driver" in caplog.text
    finally:
        sup.stop()
    assert steady.closed and not any(s.thread.is_alive() for s in sup.slots if s.thread)


def test_stalled_driver_is_reported() -> None:
    block = threading.Event()

    class Stuck(Steady):
        def run(self, stop: threading.Event) -> None:
            block.wait(10)   # a call that never returns

    sup = Supervisor({"stuck": Stuck}, SystemClock())
    sup.start()
    try:
        wait_for(lambda: sup.stalled(0.3) == ["stuck"], 5, what="stall detected")
    finally:
        block.set()
        sup.stop()
