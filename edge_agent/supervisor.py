"""The watchdog: each driver runs in its own thread; a driver whose thread died is restarted with backoff."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from edge_agent.clock import Clock
from edge_agent.drivers.base import Driver
from edge_agent.stats import DriverStats

log = logging.getLogger(__name__)


@dataclass
class Slot:
    """One configured driver: how to build it, its current instance and thread."""

    id: str
    factory: Callable[[], Driver]
    stats: DriverStats
    driver: Driver | None = None
    thread: threading.Thread | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    backoff: float = 0.0
    restart_at: float = 0.0
    started_at: float = 0.0


class Supervisor:
    """Starts every driver and restarts those that die (an escaped exception is a bug, logged with traceback)."""

    def __init__(self, factories: dict[str, Callable[[], Driver]], clock: Clock, backoff_s: float = 1.0,
                 backoff_max_s: float = 60.0) -> None:
        self.clock = clock
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self.slots = [Slot(i, f, DriverStats(i)) for i, f in factories.items()]

    def start(self) -> None:
        for slot in self.slots:
            self._start(slot)

    def _start(self, slot: Slot) -> None:
        driver = slot.factory()
        driver.stats.restarts = slot.stats.restarts
        slot.driver, slot.stats = driver, driver.stats
        slot.stop = threading.Event()
        slot.started_at = driver.stats.heartbeat = self.clock.monotonic()
        driver.stats.alive = True
        slot.thread = threading.Thread(target=self._run, args=(slot, driver, slot.stop), name=f"driver-{slot.id}",
                                       daemon=True)
        slot.thread.start()

    def _run(self, slot: Slot, driver: Driver, stop: threading.Event) -> None:
        try:
            driver.run(stop)
        except Exception:  # a driver bug: logged with its traceback, counted, and the driver restarted
            log.exception("driver %s died", slot.id)
            driver.stats.error("DriverCrash", "errors")
        finally:
            driver.stats.alive = False
            try:
                driver.close()
            except OSError:
                log.warning("driver %s: error while closing its port", slot.id)

    def check(self) -> None:
        """Restart drivers whose thread ended without being asked to (call every second or so)."""
        now = self.clock.monotonic()
        for slot in self.slots:
            if slot.thread is None or slot.thread.is_alive() or slot.stop.is_set():
                continue
            if slot.restart_at == 0.0:
                if now - slot.started_at > self.backoff_max_s:
                    slot.backoff = 0.0  # it had been running fine for a while: start the backoff afresh
                slot.backoff = min(self.backoff_max_s, max(self.backoff_s, slot.backoff * 2))
                slot.restart_at = now + slot.backoff
                log.warning("driver %s stopped; restarting in %.1f s", slot.id, slot.backoff)
                continue
            if now >= slot.restart_at:
                slot.restart_at = 0.0
                slot.stats.restarts += 1
                self._start(slot)

    def stalled(self, limit_s: float) -> list[str]:
        """Drivers alive but without a heartbeat for limit_s (stuck in a call that never returns)."""
        now = self.clock.monotonic()
        return [s.id for s in self.slots if s.thread is not None and s.thread.is_alive()
                and now - s.stats.heartbeat > limit_s]

    def down(self) -> int:
        """How many drivers are not running or have lost their port."""
        return sum(1 for s in self.slots if not s.stats.alive or s.stats.port_down)

    def stop(self, timeout: float = 5.0) -> None:
        for slot in self.slots:
            slot.stop.set()
        for slot in self.slots:
            if slot.thread is not None:
                slot.thread.join(timeout)
