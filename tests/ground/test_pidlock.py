"""The one pid lock file (`up`'s state lock, the alerts engine's lock beside its SQLite store)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ground.pidlock import PidLockHeld, take_pid_lock

HOLD = ("import sys; from pathlib import Path; from ground.pidlock import take_pid_lock; "
        "fh = take_pid_lock(Path(sys.argv[1])); print('held', flush=True); sys.stdin.read()")


def test_a_second_holder_is_refused_with_the_first_ones_pid_until_it_lets_go(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    path.write_text("stale 123\n")  # what an earlier holder left: overwritten
    fh = take_pid_lock(path)
    assert path.read_text() == f"{os.getpid()}\n"
    with pytest.raises(PidLockHeld) as held:
        take_pid_lock(path)  # another open file of the same process is another holder
    assert (held.value.pid, held.value.path) == (str(os.getpid()), path)
    fh.close()
    take_pid_lock(path).close()


def test_a_process_that_exits_lets_the_lock_go(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    root = Path(__file__).resolve().parents[2]
    with subprocess.Popen([sys.executable, "-c", HOLD, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          text=True, cwd=root, env=os.environ | {"PYTHONPATH": str(root)}) as child:
        try:
            assert child.stdout is not None and child.stdout.readline() == "held\n"
            with pytest.raises(PidLockHeld) as held:
                take_pid_lock(path)
            assert held.value.pid == str(child.pid)
        finally:
            child.kill()
    take_pid_lock(path).close()  # killed: the kernel let the flock go with its file


def test_an_empty_lock_file_held_by_another_names_no_pid(tmp_path: Path) -> None:
    import fcntl

    path = tmp_path / "x.lock"
    with open(path, "a+") as other:  # holds the lock before writing its pid
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(PidLockHeld) as held:
            take_pid_lock(path)
        assert held.value.pid == "?"
