"""Heartbeats: each long-running service says, from the loop that does its work, that it is still working.

A service writes `<state>/run/<service>.json` (atomically, at most once a second) with its pid, when it
started, when it last beat and its progress counters. Readers -- `shouwang status`, the watchdog that
tells a person when the engine has stopped, the console's red banner -- judge the files without asking
the service, so a hung or stopped service is seen even though it cannot answer. No personal data
(counters and ids). The `[watchdog]` section says how stale is too stale and whom the watchdog tells.

    beat file missing        never started here
    pid gone                 stopped (exited or killed)
    beat older than N s      not making progress (hung, stopped with SIGSTOP, blocked on a store that is down)
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr

from ground.section import Section

log = logging.getLogger(__name__)
WATCHED = ("ingest", "alerts", "api")


class WatchdogConfig(Section):
    """The dead man's switch (`shouwang watchdog`) and the console's red banner."""

    stale_after_s: float = Field(180.0, ge=10, description="a service that has not beaten for this long is not "
                                                             "working: the watchdog tells `notify`, the console "
                                                             "shows a red banner")
    check_every_s: float = Field(30.0, ge=1, description="how often the watchdog looks")
    services: list[str] = Field(default_factory=lambda: list(WATCHED), description="services watched")
    notify: list[SecretStr] = Field(default_factory=list,
                                    description="Apprise URLs of whoever must hear that the system stopped (an "
                                                "on-call phone's SMS gateway, a WeCom group); not the alert path")
    language: str = Field("zh", pattern="^(zh|en)$", description="language of the watchdog's messages")


def run_dir(state_path: Path) -> Path:
    return Path(state_path) / "run"


class Heartbeat:
    """Writes one service's beat file; call beat() from the service's work loop (cheap when called often)."""

    def __init__(self, state_path: Path, service: str, *, every_s: float = 1.0) -> None:
        self.dir = run_dir(state_path)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / f"{service}.json"
        self.service = service
        self.every_ms = int(every_s * 1000)
        self.started_at_ms = time.time_ns() // 1_000_000
        self._last_ms = 0
        self._lock = threading.Lock()
        # a temp file of its own: two heartbeats of one service in one process (tests) must not race on it
        self._tmp = self.dir / f".{service}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"

    def beat(self, progress: Mapping[str, Any] | None = None, *, force: bool = False) -> None:
        now = time.time_ns() // 1_000_000
        with self._lock:
            if not force and now - self._last_ms < self.every_ms:
                return
            self._last_ms = now
            body = {"service": self.service, "pid": os.getpid(), "started_at_ms": self.started_at_ms,
                    "beat_at_ms": now, "progress": dict(progress or {})}
            try:
                self._tmp.write_text(json.dumps(body))
                self._tmp.replace(self.path)
            except OSError as exc:  # a full or read-only disk must not stop the work; the readers see it as silence
                log.warning("could not write the beat file %s: %s", self.path, exc)

    def stopped(self) -> None:
        """A clean stop: the file goes, so readers say 'not running' rather than 'hung'."""
        self.path.unlink(missing_ok=True)
        self._tmp.unlink(missing_ok=True)


@dataclass(frozen=True, slots=True)
class Beat:
    service: str
    pid: int
    started_at_ms: int
    beat_at_ms: int
    progress: Mapping[str, Any]

    @property
    def alive(self) -> bool:
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # another user's process (a service user): it exists
            return True
        return True


def read_beats(state_path: Path) -> dict[str, Beat]:
    """The beat files present, by service (unreadable or half-written ones are skipped)."""
    out: dict[str, Beat] = {}
    d = run_dir(state_path)
    if not d.is_dir():
        return out
    for p in sorted(d.glob("*.json")):
        try:
            raw = json.loads(p.read_text())
            out[raw["service"]] = Beat(str(raw["service"]), int(raw["pid"]), int(raw["started_at_ms"]),
                                       int(raw["beat_at_ms"]), dict(raw.get("progress") or {}))
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return out


class Trouble(StrEnum):
    NOT_RUNNING = "not_running"  # no beat file: never started, or stopped cleanly
    STOPPED = "stopped"  # the process is gone without a clean stop
    NO_PROGRESS = "no_progress"  # alive but the work loop has not beaten


@dataclass(frozen=True, slots=True)
class Problem:
    service: str
    trouble: Trouble
    since_ms: int | None  # when the service last showed progress (None: never seen)


def assess(beats: Mapping[str, Beat], now_ms: int, stale_after_s: float,
           services: Iterable[str] = WATCHED) -> list[Problem]:
    """What is wrong with the watched services now (empty when all are working)."""
    stale_ms = int(stale_after_s * 1000)
    out = []
    for name in services:
        b = beats.get(name)
        if b is None:
            out.append(Problem(name, Trouble.NOT_RUNNING, None))
        elif not b.alive:
            out.append(Problem(name, Trouble.STOPPED, b.beat_at_ms))
        elif now_ms - b.beat_at_ms > stale_ms:
            out.append(Problem(name, Trouble.NO_PROGRESS, b.beat_at_ms))
    return out
