"""Pseudo-terminal links between a simulated device and whoever plays the master (edge agent, mbpoll, a test).

PtyPort: a pty made in this process (os.openpty); the master side opens `path`, a symlink to the pty's
slave, and the device owns the pty's master fd. No external process.

SocatPort: a socat pty pair; the master side opens `path`, the device opens `device_path`. Needed when the
device end must be a path too (pymodbus opens its serial port by name), and to cut the link by killing socat.

Both can be closed and reopened: the symlink then points at a new pty, as when a USB adapter is replugged.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import termios
import time
import tty
from pathlib import Path

from ground.errors import ServiceError


def _replace_symlink(link: Path, target: str) -> None:
    tmp = link.with_name(f".{link.name}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    os.symlink(target, tmp)
    os.replace(tmp, link)  # atomic: a reader never sees the link missing while it is repointed


def _remove_link(link: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        if link.is_symlink():
            link.unlink()


class PtyPort:
    """A pty pair owned by this process; `path` is a symlink to the slave the master side opens."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._master: int | None = None
        self._slave: int | None = None

    @property
    def is_open(self) -> bool:
        """True while the pty exists."""
        return self._master is not None

    def open(self) -> int:
        """Create the pty and the symlink; return the device-side (pty master) fd, non-blocking."""
        if self._master is not None:
            return self._master
        master, slave = os.openpty()
        # raw at once: with the default line discipline the slave would echo requests back to the device
        tty.setraw(slave)
        os.set_blocking(master, False)
        self._master, self._slave = master, slave  # the slave stays open here so reads never see a hang-up
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _replace_symlink(self.path, os.ttyname(slave))
        return master

    def close(self) -> None:
        """Destroy the pty and remove the symlink: the master side sees the device vanish."""
        _remove_link(self.path)
        for fd in (self._master, self._slave):
            if fd is not None:
                os.close(fd)
        self._master = self._slave = None

    def reopen_fd(self) -> int | None:
        """The device fd after the link was lost (a PtyPort only dies by close(), so: reopen it)."""
        return self.open()


class SocatPort:
    """A socat pty pair; the master side opens `path`, the device side `device_path`."""

    def __init__(self, path: str | Path, device_path: str | Path | None = None, socat: str = "socat") -> None:
        self.path = Path(path)
        self.device_path = Path(device_path) if device_path else self.path.with_name(self.path.name + ".dev")
        self.socat = socat
        self.proc: subprocess.Popen[bytes] | None = None
        self._fd: int | None = None

    @property
    def pid(self) -> int | None:
        """socat's process id while it runs."""
        return self.proc.pid if self.running() else None

    def running(self) -> bool:
        """True while socat is alive."""
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float = 5.0) -> None:
        """Start socat (if not running) and wait until both links exist."""
        if self.running():
            return
        self._reap()
        exe = shutil.which(self.socat)
        if exe is None:
            raise ServiceError(f"{self.socat} not found: install the Debian package socat")
        for link in (self.path, self.device_path):
            link.parent.mkdir(parents=True, exist_ok=True)
            _remove_link(link)
        argv = [exe, f"pty,rawer,link={self.device_path}", f"pty,rawer,link={self.path}"]
        if setpriv := shutil.which("setpriv"):
            # socat dies with us even on SIGKILL, so a killed simulator never leaves a live link behind
            # (the kernel signals when the *thread* that started socat ends: start it from a lasting thread)
            argv = [setpriv, "--pdeathsig", "TERM", *argv]
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + timeout
        while not (self.path.exists() and self.device_path.exists()):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                code = self.proc.poll()
                self.stop()
                raise ServiceError(f"socat did not create {self.path} and {self.device_path} "
                                   f"(exit code {code})")
            time.sleep(0.005)

    def stop(self) -> None:
        """Close the device end, stop socat and remove its links."""
        self._close_fd()
        self._terminate(signal.SIGTERM)

    def kill(self) -> None:
        """Cut the link abruptly (SIGKILL), as a pulled cable would; a device reading the other end sees it die."""
        self._terminate(signal.SIGKILL)

    def _terminate(self, sig: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reap()
        for link in (self.path, self.device_path):
            _remove_link(link)

    def open(self) -> int:
        """Start socat if needed and return a raw, non-blocking fd on the device end."""
        self.start()
        fd = self.reopen_fd()
        if fd is None:
            raise ServiceError(f"cannot open {self.device_path}")
        return fd

    def reopen_fd(self) -> int | None:
        """Open the device end again after the link was lost; None while it does not exist."""
        self._close_fd()
        try:
            fd = os.open(self.device_path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        except OSError:
            return None
        tty.setraw(fd, termios.TCSANOW)  # TCSANOW: a request already queued by the master is kept
        self._fd = fd
        return fd

    def close(self) -> None:
        """Stop socat: the master side sees the port vanish."""
        self.stop()

    def _close_fd(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None

    def _reap(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            self.proc = None
