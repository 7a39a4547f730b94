"""Child processes of the local stack: start, wait until they answer, stop cleanly."""

from __future__ import annotations

import ctypes
import logging
import os
import random
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from ground.errors import ServiceError

log = logging.getLogger(__name__)


_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM when the parent dies, even by SIGKILL."""
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _ephemeral_low() -> int:
    """The lowest port the kernel hands out to outgoing connections (and to bind(port 0))."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _bindable(host: str, port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((host, port))
            return True
        except OSError:
            return False


#: ports free_port has handed out in this process: a port picked for a child that has not bound it yet looks free
#: to the next pick (a test's fixture picks the ports of several servers before starting any of them)
_given: set[int] = set()


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago, below the ephemeral range: a port the kernel picked for us would be
    the kernel's to give to the next outgoing connection of any process before our child binds it (seen as
    influxd's 'address already in use' while a test suite ran beside other work). Never the same port twice in a
    process."""
    low, high = 20000, _ephemeral_low() - 1
    if high - low < 1000:  # an unusual ephemeral range: let the kernel pick
        with socket.socket() as s:
            s.bind((host, 0))
            return s.getsockname()[1]
    for _ in range(500):
        p = random.randint(low, high)
        if p not in _given and _bindable(host, p):
            _given.add(p)
            return p
    raise RuntimeError(f"no free port in {low}-{high}")


def free_port_pair(host: str = "127.0.0.1") -> int:
    """A port p with p and p+1 both free a moment ago (influxd uses p+1 for its RPC)."""
    for _ in range(100):
        p = free_port(host)
        if p < 65535 and p + 1 not in _given and _bindable(host, p + 1):
            _given.add(p + 1)
            return p
    raise RuntimeError("no free pair of adjacent ports")


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


class ChildProcess:
    """One supervised child: its command, log file and readiness check."""

    def __init__(self, name: str, argv: Sequence[str], log_file: Path, ready: Callable[[], bool],
                 env: dict[str, str] | None = None) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_file = log_file
        self.ready = ready
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float = 30.0) -> None:
        """Start the process and wait until its readiness check passes."""
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_file, "ab") as out:
            try:
                self.proc = subprocess.Popen(self.argv, stdout=out, stderr=subprocess.STDOUT,
                                             stdin=subprocess.DEVNULL, env=self.env, start_new_session=True,
                                             preexec_fn=_die_with_parent)
            except OSError as exc:
                raise ServiceError(f"{self.name}: cannot run {self.argv[0]}: {exc}") from exc
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServiceError(f"{self.name} exited with code {self.proc.returncode} at start; "
                                   f"last log lines:\n{self.tail()}")
            if self.ready():
                log.info("%s ready (pid %d)", self.name, self.proc.pid)
                return
            time.sleep(0.1)
        self.stop()
        raise ServiceError(f"{self.name} did not become ready in {timeout:.0f} s; last log lines:\n{self.tail()}")

    def stop(self, timeout: float = 15.0, sig: int = signal.SIGTERM) -> int | None:
        """Signal the process, wait, then kill it if it will not go."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, sig)
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop in %.0f s, killing it", self.name, timeout)
                self.proc.kill()
                self.proc.wait()
            except ProcessLookupError:
                pass
        return self.proc.returncode

    def kill(self) -> None:
        """SIGKILL, as a power cut or OOM killer would."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def tail(self, n: int = 15) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"
