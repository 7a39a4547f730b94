"""The dead man's switch and `shouwang status` against real services.

A real ingest worker is paused with SIGSTOP (as a hung process looks from outside); the watchdog -- the real
`shouwang watchdog run` process -- must tell a local receiver (Apprise json://) within stale_after_s plus a
check, once, and again when the worker resumes. Status must name the paused service and exit 1.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ground.heartbeat import read_beats
from shouwang.procs import ChildProcess
from tests.helpers import wait_for
from tests.notify.receivers import HttpReceiver


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    r = HttpReceiver().start()
    try:
        yield r
    finally:
        r.stop()


def _config_with_watchdog(services, path: Path, receiver: HttpReceiver) -> Path:
    text = services.config_file.read_text()
    text += ("\n[watchdog]\nstale_after_s = 10\ncheck_every_s = 1\nservices = [\"ingest\"]\n"
             f"notify = [\"json://127.0.0.1:{receiver.port}/dog\"]\n")
    path.write_text(text)
    return path


def _cli(config: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOUWANG_")}
    return subprocess.run([sys.executable, "-m", "shouwang", "--config", str(config), *args], capture_output=True,
                          text=True, timeout=120, check=False, env=env)


def test_watchdog_tells_when_ingest_stops_working_and_when_it_is_back(services, ingest, receiver, tmp_path) -> None:
    config = _config_with_watchdog(services, tmp_path / "shouwang.toml", receiver)
    wait_for(lambda: "ingest" in read_beats(services.cfg.state_path), timeout=20)
    dog = ChildProcess("watchdog", [sys.executable, "-m", "shouwang", "--config", str(config), "watchdog", "run"],
                       tmp_path / "watchdog.log", ready=lambda: "watchdog" in read_beats(services.cfg.state_path))
    dog.start()
    try:
        time.sleep(2)
        assert receiver.received == []  # all well: nobody is disturbed
        status = json.loads(_cli(config, "status", "--json").stdout)
        assert status["services"]["ingest"]["alive"] and not status["problems"]

        os.kill(ingest.child.pid, signal.SIGSTOP)
        try:
            got = receiver.wait(lambda rs: rs, timeout=60)
            msg = got[0].json()
            assert "系统故障" in msg["title"]
            assert "数据接收服务（ingest）已停止工作" in msg["message"] and "shouwang status" in msg["message"]
            out = _cli(config, "status")
            assert out.returncode == 1 and "ingest" in out.stdout and "停止工作" in out.stdout, out.stdout
            time.sleep(3)
            assert len(receiver.received) == 1  # told once per incident, not once per check
        finally:
            os.kill(ingest.child.pid, signal.SIGCONT)
        back = receiver.wait(lambda rs: rs[1:], timeout=60)
        assert "已恢复" in back[0].json()["title"]
        assert _cli(config, "status").returncode == 0
    finally:
        dog.stop()


def test_status_reads_the_broker_gateways_and_store(services, ingest, tmp_path, uid) -> None:
    from tests.conftest import now_ms, reading

    peer = services.gateway("gw-a")
    try:
        topic, payload = reading("gw-a", f"wm-{uid}", now_ms(), 1)
        peer.wait_acked([peer.publish(topic, payload, qos=1)])
    finally:
        peer.stop()
    config = tmp_path / "shouwang.toml"
    config.write_text(services.config_file.read_text())

    def seen() -> dict | None:
        st = json.loads(_cli(config, "status", "--json").stdout)
        return st if "gw-a" in st["gateways"] else None

    st = wait_for(seen, timeout=30)
    assert st["errors"] == {}, st["errors"]
    assert st["broker"]["clients_connected"] >= 1  # ingest at least
    assert set(st["open_alerts"]) == {"critical", "major", "warning", "maintenance"}
    assert st["services"]["ingest"]["progress"]["stored"] >= 1
    en = _cli(config, "status", "--lang", "en").stdout
    assert "MQTT broker: clients" in en and "gw-a" in en


def test_notify_failure_for_systemd(tmp_path, receiver) -> None:
    config = tmp_path / "shouwang.toml"
    config.write_text(f'state_dir = "{tmp_path}"\n[watchdog]\nlanguage = "en"\n'
                      f'notify = ["json://127.0.0.1:{receiver.port}/x"]\n')
    out = _cli(config, "watchdog", "notify-failure", "shouwang-alerts.service")
    assert out.returncode == 0, out.stderr
    msg = receiver.wait(lambda rs: rs)[0].json()
    assert "The alerts engine has exited" in msg["message"]
