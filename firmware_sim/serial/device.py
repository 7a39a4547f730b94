"""Base of the pure-Python simulated serial devices: one thread serving one pty link."""

from __future__ import annotations

import errno
import heapq
import itertools
import logging
import os
import select
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Self

from firmware_sim.serial.ports import PtyPort, SocatPort

log = logging.getLogger(__name__)

Clock = Callable[[], float]


@dataclass(slots=True)
class LinkStats:
    """What went over the link (read by tests and the technician's summary)."""

    bytes_in: int = 0
    bytes_out: int = 0
    bytes_dropped: int = 0   # output nobody read fast enough (pty buffer full)
    link_losses: int = 0
    counters: dict[str, int] = field(default_factory=dict)

    def count(self, name: str, n: int = 1) -> None:
        """Add n to a named counter."""
        self.counters[name] = self.counters.get(name, 0) + n


class SerialDevice:
    """A device thread on a PtyPort or SocatPort: reads requests, writes scheduled output.

    Subclasses implement on_bytes() (bytes from the master) and optionally on_tick() (called every loop
    with the clock's time). They send with send(data, delay). start/stop are repeatable, and cut()/restore()
    take the link down and up while keeping the device's state, as unplugging an adapter would.
    """

    def __init__(self, port: PtyPort | SocatPort, *, clock: Clock = time.time, poll_s: float = 0.02) -> None:
        self.port = port
        self.clock = clock
        self.poll_s = poll_s
        self.stats = LinkStats()
        self.failure: BaseException | None = None
        self._fd: int | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._outbox: list[tuple[float, int, bytes]] = []   # (monotonic due time, order, bytes)
        self._order = itertools.count()

    @property
    def path(self):
        """Where the master side opens the device."""
        return self.port.path

    @property
    def connected(self) -> bool:
        """True while the device has its end of the link open."""
        return self._fd is not None

    def running(self) -> bool:
        """True while the device thread serves the link."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> Self:
        """Open the link and start serving it."""
        if self.running():
            return self
        self._fd = self.port.open()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"sim-{type(self).__name__}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and tear the link down (pending output is discarded)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        with self._lock:
            self._outbox.clear()
        self.port.close()
        self._fd = None

    cut = stop        # the device keeps its state (counters, sequence numbers, latched registers)
    restore = start

    def check(self) -> None:
        """Raise the error that stopped the device thread, if any."""
        if self.failure is not None:
            raise RuntimeError(f"{type(self).__name__} on {self.path} failed") from self.failure

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def send(self, data: bytes, delay: float = 0.0) -> None:
        """Queue bytes to be written after `delay` seconds (safe from any thread)."""
        with self._lock:
            heapq.heappush(self._outbox, (time.monotonic() + delay, next(self._order), bytes(data)))

    # ------------------------------------------------------------ to override

    def on_bytes(self, data: bytes) -> None:
        """Bytes arrived from the master side."""

    def on_tick(self, now: float) -> None:
        """Called every loop turn with the clock's time."""

    # ------------------------------------------------------------ thread

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                fd = self._fd
                if fd is None:
                    self._fd = self.port.reopen_fd()
                    if self._fd is None:
                        self._stop.wait(0.05)
                    continue
                ready, _, _ = select.select([fd], [], [], self._timeout())
                if ready:
                    self._read(fd)
                self._flush_due()
                self.on_tick(self.clock())
        except Exception as exc:  # recorded for check(); the thread cannot re-raise into its owner
            self.failure = exc
            log.error("%s on %s stopped: %r", type(self).__name__, self.path, exc)
            raise

    def _timeout(self) -> float:
        with self._lock:
            if not self._outbox:
                return self.poll_s
            return max(0.0, min(self.poll_s, self._outbox[0][0] - time.monotonic()))

    def _read(self, fd: int) -> None:
        try:
            data = os.read(fd, 4096)
        except BlockingIOError:
            return
        except OSError as exc:
            if exc.errno != errno.EIO:
                raise
            data = b""
        if not data:  # EIO or EOF: the other end of the link is gone (socat killed)
            self.stats.link_losses += 1
            log.info("%s: link %s lost", type(self).__name__, self.path)
            self._fd = None
            return
        self.stats.bytes_in += len(data)
        self.on_bytes(data)

    def _flush_due(self) -> None:
        now = time.monotonic()
        while True:
            with self._lock:
                if not self._outbox or self._outbox[0][0] > now:
                    return
                _, _, data = heapq.heappop(self._outbox)
            self._write(data)

    def _write(self, data: bytes) -> None:
        fd = self._fd
        if fd is None:
            self.stats.bytes_dropped += len(data)
            return
        view = memoryview(data)
        while view:
            try:
                n = os.write(fd, view)
            except BlockingIOError:
                self.stats.bytes_dropped += len(view)  # nobody reads: a real UART would lose them too
                return
            except OSError as exc:
                if exc.errno != errno.EIO:
                    raise
                self.stats.bytes_dropped += len(view)
                return
            self.stats.bytes_out += n
            view = view[n:]
