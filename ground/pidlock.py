"""A pid lock file: one process at a time holds an exclusive flock on it, and the file names that process.

The lock lives as long as the open file: a process that exits or is killed lets it go, so no stale lock is
left behind. A second process is refused at once (no waiting) and told the holder's pid, read from the file.

    fh = take_pid_lock(state / "up.lock")     # PidLockHeld(path, pid) if another process holds it
    ...
    fh.close()                                # lets it go
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

from ground.errors import ShouwangError


class PidLockHeld(ShouwangError):
    """Another process holds the lock file; `pid` is what it wrote there ("?" if nothing yet)."""

    def __init__(self, path: Path, pid: str) -> None:
        super().__init__(f"{path} is held by pid {pid}")
        self.path = path
        self.pid = pid


def take_pid_lock(path: Path) -> IO[str]:
    """Hold an exclusive flock on path and write this process's pid in it; the open file holds the lock."""
    fh = open(path, "a+")  # noqa: SIM115 -- held open on purpose: the lock lives as long as the file handle
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.seek(0)
        pid = fh.read().strip() or "?"
        fh.close()
        raise PidLockHeld(path, pid) from None
    fh.seek(0)
    fh.truncate()
    fh.write(f"{os.getpid()}\n")
    fh.flush()
    return fh
