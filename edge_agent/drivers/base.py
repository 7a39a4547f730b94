"""What every driver shares: the interface, and a serial port that survives being unplugged."""

from __future__ import annotations

import logging
import termios
import threading
from typing import Protocol

import serial

from edge_agent.clock import Clock
from edge_agent.config import _SerialDriver
from edge_agent.stats import DriverStats

log = logging.getLogger(__name__)

#: what a vanished port raises: pyserial lets termios.error (not an OSError) through from reset_input_buffer
PORT_ERRORS = (serial.SerialException, OSError, termios.error)


class Driver(Protocol):
    """One bus, receiver or input: runs in its own thread until `stop` is set.

    run() handles bad input and lost ports itself (counted in `stats`); an exception escaping it is
    a bug, and the supervisor restarts the driver after a backoff.
    """

    id: str
    stats: DriverStats

    def run(self, stop: threading.Event) -> None: ...

    def close(self) -> None: ...


def idle(stop: threading.Event, seconds: float, stats: DriverStats, clock: Clock) -> None:
    """Wait until the next poll (or stop), showing the watchdog we are alive every few seconds."""
    end = clock.monotonic() + max(0.0, seconds)
    while not stop.is_set():
        stats.heartbeat = clock.monotonic()
        left = end - stats.heartbeat
        if left <= 0:
            return
        stop.wait(min(left, 5.0))


class SerialLink:
    """A pyserial port opened on demand and reopened after it vanished (USB unplug/replug, socat killed).

    Only the driver's own thread uses it, so requests on one port are strictly one at a time.
    """

    def __init__(self, settings: _SerialDriver, stats: DriverStats, clock: Clock, timeout_s: float,
                 read_timeout_s: float = 0.05) -> None:
        self.s = settings
        self.stats = stats
        self.clock = clock
        self.timeout_s = timeout_s
        self.read_timeout_s = read_timeout_s
        self.port: serial.Serial | None = None
        self._delay = 0.5
        self._next_try = 0.0

    def open(self) -> serial.Serial | None:
        """The open port, or None while it cannot be opened (try again later; backoff is kept here)."""
        if self.port is not None:
            return self.port
        now = self.clock.monotonic()
        if now < self._next_try:
            return None
        try:
            self.port = serial.Serial(self.s.port, self.s.baudrate, bytesize=self.s.bytesize, parity=self.s.parity,
                                      stopbits=self.s.stopbits, timeout=min(self.read_timeout_s, self.timeout_s),
                                      write_timeout=max(1.0, self.timeout_s), exclusive=True)
        except (*PORT_ERRORS, ValueError) as exc:
            if not self.stats.port_down:
                log.warning("driver %s: cannot open %s (%s); retrying", self.s.id, self.s.port,
                            type(exc).__name__)
            self.stats.port_down = True
            self.stats.error("PortUnavailable", "port_errors")
            self._next_try = now + self._delay
            self._delay = min(self._delay * 2, self.s.reopen_max_s)
            return None
        if self.stats.port_down:
            log.info("driver %s: %s is back", self.s.id, self.s.port)
        self.stats.port_down = False
        self._delay = 0.5
        return self.port

    def wait_s(self) -> float:
        """How long until the next attempt to open the port."""
        return max(0.0, self._next_try - self.clock.monotonic())

    def lost(self, exc: BaseException) -> None:
        """The port failed under us: close it; open() retries with backoff."""
        log.warning("driver %s: lost %s (%s)", self.s.id, self.s.port, type(exc).__name__)
        self.stats.error("PortLost", "port_errors")
        self.stats.port_down = True
        self.close()
        self._next_try = self.clock.monotonic() + self._delay

    def close(self) -> None:
        if self.port is not None:
            try:
                self.port.close()
            except (serial.SerialException, OSError):
                pass  # the device is already gone; nothing left to release
            self.port = None
