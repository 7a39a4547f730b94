"""The dead man's switch: `shouwang watchdog` tells a person when ingest, the alerts engine or the API stops working.

It runs as its own small process (its own systemd unit in production), reads the services' beat files
(ground/heartbeat.py) every `watchdog.check_every_s`, and when a service has not beaten for
`watchdog.stale_after_s` -- stopped, crashed, hung, SIGSTOPped, blocked on a store -- sends one message to
each `watchdog.notify` URL through Apprise directly (not through the alerts engine, which may be the one
that stopped), and one more when it works again. Each failed send is retried at the next check until it
goes out. `shouwang watchdog notify-failure UNIT` is the same message for systemd's OnFailure=.
It also writes `<state>/run/watchdog.json` (what it sees) for `shouwang status`.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ground.clock import Clock, SystemClock
from ground.heartbeat import Heartbeat, Problem, Trouble, WatchdogConfig, assess, read_beats, run_dir
from notify.service_texts import alarm_message, recovery_message

log = logging.getLogger(__name__)
Send = Callable[[str, str, str], bool]  # (url, title, body) -> delivered


def apprise_send() -> Send:
    from notify.channels import ChannelSender  # Apprise, with its log lines (recipients) kept out of ours

    sender = ChannelSender()
    return lambda url, title, body: sender.send(url, title, body).ok


@dataclass
class _Incident:
    problem: Problem
    told: bool = False


class Watchdog:
    """Looks at the beat files, tells `notify` once per incident and once per recovery."""

    def __init__(self, cfg: WatchdogConfig, state_path: Path, clock: Clock | None = None,
                 send: Send | None = None) -> None:
        self.cfg = cfg
        self.state_path = state_path
        self.clock = clock or SystemClock()
        self.send = send or apprise_send()
        self.incidents: dict[str, _Incident] = {}
        self.pending_recovery: list[str] = []
        self.stop_event = threading.Event()

    def _tell(self, title: str, body: str) -> bool:
        ok = True
        for url in self.cfg.notify:
            if not self.send(url.get_secret_value(), title, body):
                ok = False
        return ok

    def check(self) -> list[Problem]:
        """One look: returns the current problems, sends what is due."""
        now = self.clock.now_ms()
        problems = assess(read_beats(self.state_path), now, self.cfg.stale_after_s, self.cfg.services)
        current = {p.service: p for p in problems}
        for name in [s for s in self.incidents if s not in current]:
            inc = self.incidents.pop(name)
            log.warning("watchdog: %s works again", name)
            if inc.told:
                self.pending_recovery.append(name)
        for name, p in current.items():
            if name not in self.incidents:
                log.error("watchdog: %s %s (last progress %s)", name, p.trouble, p.since_ms)
                self.incidents[name] = _Incident(p)
            else:
                self.incidents[name].problem = p
        untold = [inc for inc in self.incidents.values() if not inc.told]
        if untold and self.cfg.notify:
            title, body = alarm_message([inc.problem for inc in untold], self.cfg.language)
            if self._tell(title, body):
                for inc in untold:
                    inc.told = True
            else:
                log.error("watchdog: could not deliver the fault message to every contact; retrying next check")
        if self.pending_recovery and self.cfg.notify:
            title, body = recovery_message(self.pending_recovery, self.cfg.language)
            if self._tell(title, body):
                self.pending_recovery = []
        self._write(now, problems)
        return problems

    def _write(self, now: int, problems: list[Problem]) -> None:
        d = run_dir(self.state_path)
        d.mkdir(parents=True, exist_ok=True)
        body = {"checked_at_ms": now, "problems": [{"service": p.service, "trouble": str(p.trouble),
                                                    "since_ms": p.since_ms} for p in problems]}
        tmp = d / "watchdog.state.tmp"
        tmp.write_text(json.dumps(body))
        tmp.replace(d / "watchdog.state")

    def run(self) -> None:
        if not self.cfg.notify:
            log.warning("watchdog.notify is empty: faults are logged and shown in the console, nobody is told")
        beat = Heartbeat(self.state_path, "watchdog")
        try:
            while not self.stop_event.is_set():
                self.check()
                beat.beat(force=True)
                self.stop_event.wait(self.cfg.check_every_s)
        finally:
            beat.stopped()

    def stop(self) -> None:
        self.stop_event.set()


def notify_failure(cfg: WatchdogConfig, unit: str, send: Send | None = None) -> bool:
    """systemd OnFailure=: a unit failed (gave up restarting); tell the watchdog's contacts now."""
    service = unit.removeprefix("shouwang-").removesuffix(".service")
    title, body = alarm_message([Problem(service, Trouble.STOPPED, None)], cfg.language)
    send = send or apprise_send()
    return all(send(url.get_secret_value(), title, body) for url in cfg.notify)
