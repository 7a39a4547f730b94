"""The dead man's switch and `shouwang status` against real services.

The real ingest worker, alerts engine and API are each paused with SIGSTOP (as a hung process looks from
outside); the watchdog -- the real `shouwang watchdog run` process -- must tell a local receiver (Apprise
json://) within stale_after_s plus a check, once, and again when the service resumes. Status must say a
service stopped working and exit 1.
"""

from __future__ import annotations

import json
import re
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ground.heartbeat import read_beats
from shouwang.procs import ChildProcess, free_port, port_open
from tests.helpers import wait_for
from tests.notify.receivers import HttpReceiver


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    r = HttpReceiver().start()
    try:
        yield r
    finally:
        r.stop()


def _config_with_watchdog(services, path: Path, receiver: HttpReceiver, api_port: int, metrics_port: int) -> Path:
    text = services.config_file.read_text()
    text += (f"\n[api]\nport = {api_port}\nfollow_mqtt = false\n\n[alerts]\nmetrics_port = {metrics_port}\n"
             "\n[watchdog]\nstale_after_s = 10\ncheck_every_s = 1\n"
             f"notify = [\"json://127.0.0.1:{receiver.port}/dog\"]\n")
    path.write_text(text)
    return path


def _cli(config: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOUWANG_")}
    return subprocess.run([sys.executable, "-m", "shouwang", "--config", str(config), *args], capture_output=True,
                          text=True, timeout=120, check=False, env=env)


def _child(config: Path, name: str, args: list[str], logs: Path, ready) -> ChildProcess:  # noqa: ANN001
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOUWANG_")}
    child = ChildProcess(name, [sys.executable, "-m", "shouwang", "--config", str(config), *args], logs / f"{name}.log",
                         ready=ready, env=env)
    child.start(timeout=60)
    return child


def test_watchdog_tells_when_a_service_stops_working_and_when_it_is_back(services, ingest, receiver,
                                                                           tmp_path) -> None:
    """Each watched service in turn is paused (SIGSTOP): one fault message naming it, one recovery message."""
    from alerts.service import subscribed_check

    api_port, metrics_port = free_port(), free_port()
    config = _config_with_watchdog(services, tmp_path / "shouwang.toml", receiver, api_port, metrics_port)
    state = services.cfg.state_path
    alerts = _child(config, "alerts", ["alerts", "run"], tmp_path, subscribed_check(tmp_path / "alerts.log"))
    api = _child(config, "api", ["api"], tmp_path, lambda: port_open("127.0.0.1", api_port))
    dog = _child(config, "watchdog", ["watchdog", "run"], tmp_path, lambda: "watchdog" in read_beats(state))
    pids = {"ingest": ingest.child.pid, "alerts": alerts.pid, "api": api.pid}
    words = {"ingest": "数据接收服务（ingest）", "alerts": "告警引擎", "api": "管理后台（API）"}
    try:
        wait_for(lambda: _cli(config, "status").returncode == 0, timeout=60, what="every service working")
        assert receiver.received == []  # all well: nobody is disturbed
        engine = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).text
        assert re.search(r"^alerts_tick_seconds_count [1-9]", engine, re.M), engine[:2000]
        for n, (name, pid) in enumerate(pids.items()):
            os.kill(pid, signal.SIGSTOP)
            try:
                msg = receiver.wait(lambda rs, k=2 * n: rs[k:], timeout=60)[0].json()
                assert "系统故障" in msg["title"]
                assert f"{words[name]}已停止工作" in msg["message"] and "shouwang status" in msg["message"], msg
                out = _cli(config, "status")
                assert out.returncode == 1 and "停止工作" in out.stdout, out.stdout
                time.sleep(3)
                assert len(receiver.received) == 2 * n + 1  # told once per incident, not once per check
            finally:
                os.kill(pid, signal.SIGCONT)
            back = receiver.wait(lambda rs, k=2 * n + 1: rs[k:], timeout=60)[0].json()
            assert "已恢复" in back["title"] and words[name] in back["message"]
        assert _cli(config, "status").returncode == 0
    finally:
        for child in (dog, api, alerts):
            child.stop()


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
        # the broker's $SYS counters are republished every 10 s: a fresh broker may still say 0 clients
        connected = st["broker"].get("clients_connected", 0)
        return st if "gw-a" in st["gateways"] and connected >= 1 else None  # ingest at least

    st = wait_for(seen, timeout=40, what="the reading's gateway and ingest's connection in status")
    assert st["errors"] == {}, st["errors"]
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
