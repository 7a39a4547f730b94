"""Beat files and how readers judge them: working, never started, exited, not making progress."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from ground.heartbeat import Heartbeat, Trouble, assess, read_beats

NOW = 1_800_000_000_000


def _write(state: Path, service: str, pid: int, beat_at_ms: int, **progress) -> None:
    (state / "run").mkdir(exist_ok=True)
    (state / "run" / f"{service}.json").write_text(json.dumps(
        {"service": service, "pid": pid, "started_at_ms": beat_at_ms - 60_000, "beat_at_ms": beat_at_ms,
         "progress": progress}))


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_each_trouble_is_told_apart(tmp_path: Path) -> None:
    import os

    _write(tmp_path, "ingest", os.getpid(), NOW - 5_000, pending=3)  # working
    _write(tmp_path, "alerts", os.getpid(), NOW - 181_000)  # alive, silent for longer than 180 s
    _write(tmp_path, "api", _dead_pid(), NOW - 1_000)  # its process is gone
    problems = {p.service: p for p in assess(read_beats(tmp_path), NOW, 180, ("ingest", "alerts", "api", "x"))}
    assert set(problems) == {"alerts", "api", "x"}
    assert problems["alerts"].trouble is Trouble.NO_PROGRESS and problems["alerts"].since_ms == NOW - 181_000
    assert problems["api"].trouble is Trouble.STOPPED
    assert problems["x"].trouble is Trouble.NOT_RUNNING and problems["x"].since_ms is None
    assert assess(read_beats(tmp_path), NOW - 60_000, 180, ("alerts",)) == []  # a minute earlier it was fine


def test_heartbeat_writes_throttled_and_removes_its_file_on_a_clean_stop(tmp_path: Path) -> None:
    hb = Heartbeat(tmp_path, "ingest", every_s=3600)
    hb.beat({"received": 1})
    hb.beat({"received": 2})  # within the interval: not written
    beat = read_beats(tmp_path)["ingest"]
    assert beat.progress == {"received": 1} and beat.alive
    hb.beat({"received": 3}, force=True)
    assert read_beats(tmp_path)["ingest"].progress == {"received": 3}
    hb.stopped()
    assert read_beats(tmp_path) == {}


def test_half_written_or_foreign_files_are_skipped(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "alerts.json").write_text('{"service": "alerts", "pid"')
    (tmp_path / "run" / "other.json").write_text('[1, 2]')
    assert read_beats(tmp_path) == {}


def test_two_heartbeats_of_one_service_in_one_process_do_not_race(tmp_path: Path) -> None:
    """Two apps of the API in one test process each beat 'api' (it once failed a teardown on a shared temp file)."""
    import threading

    beats = [Heartbeat(tmp_path, "api", every_s=0) for _ in range(2)]
    errors: list[BaseException] = []

    def run(hb: Heartbeat) -> None:
        try:
            for i in range(300):
                hb.beat({"i": i}, force=True)
        except BaseException as exc:  # noqa: BLE001 -- collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(hb,)) for hb in beats]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert read_beats(tmp_path)["api"].progress == {"i": 299}
    for hb in beats:
        hb.stopped()
    assert list((tmp_path / "run").iterdir()) == []
