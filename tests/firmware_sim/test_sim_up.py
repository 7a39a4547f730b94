"""`shouwang up` and the simulator: which scenario, whether it runs, and a live (--follow) run that never runs ahead."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from broker_config import add_gateway
from firmware_sim.errors import ScenarioError
from shouwang.config import load_config
from shouwang.stack import Stack
from tests.conftest import write_config
from tests.firmware_sim.conftest import SimBroker
from tests.firmware_sim.test_sim_mqtt import Recorder
from tests.helpers import wait_for
from wire import decode
from wire.models import Message


def _stack(tmp_path: Path, **sim) -> Stack:  # noqa: ANN003
    cfg = load_config(write_config(tmp_path / "c.toml", tmp_path / "state", sim=sim), env={})
    return Stack(cfg, None)


def test_up_runs_the_demo_by_default_once_its_gateways_have_credentials(tmp_path: Path) -> None:
    stack = _stack(tmp_path)
    assert stack.cfg.sim.enabled and stack.cfg.sim.scenario == "demo"
    assert stack.sim_gateways() == ("demo-gw-1", "demo-gw-2")
    assert not stack.sim_runs()  # no credentials yet (an external broker would be in this state)
    for gw in stack.sim_gateways():
        add_gateway(stack.cfg.state_path / "broker", gw)
    assert stack.sim_runs()


def test_sim_can_be_turned_off_or_pointed_at_another_scenario(tmp_path: Path) -> None:
    assert _stack(tmp_path, enabled=False).sim_gateways() == ()
    assert _stack(tmp_path, scenario="typhoon").sim_gateways() == ("river-gw-1", "river-gw-2")
    with pytest.raises(ScenarioError, match="no shipped scenario"):
        _stack(tmp_path, scenario="nope").sim_gateways()


def test_follow_catches_up_then_runs_live_without_running_ahead(sim_broker: SimBroker, tmp_path: Path) -> None:
    rec = Recorder(sim_broker, tmp_path / "live.jsonl.gz")
    watcher = sim_broker.service_peer()
    watcher.client.subscribe("sw/v1/+/+/+", qos=0)
    wait_for(lambda: watcher.suback, timeout=10, what="the watcher's subscription")

    def caught_up() -> bool:  # the newest device message is stamped within the last minute: the run reached now
        last = watcher.messages[-1] if watcher.messages else None
        msg = decode(last.topic, last.payload) if last is not None else None
        return isinstance(msg, Message) and msg.ts > time.time() * 1000 - 60_000

    start = (dt.datetime.now().astimezone() - dt.timedelta(hours=2)).replace(microsecond=0).isoformat()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOUWANG_")}
    proc = subprocess.Popen([sys.executable, "-m", "shouwang", "--config", str(sim_broker.config_file), "sim", "run",
                             "demo", "--follow", "--speed", "20000", "--start", start, "--no-progress",
                             "--summary-json", str(tmp_path / "s.json")],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True)
    try:
        # two simulated hours take 0.4 s once it runs (start-up on a loaded machine takes longer): wait until it
        # has caught up, then watch it follow real time for a while
        wait_for(lambda: proc.poll() is not None or caught_up(), timeout=60, what="the run to reach now")
        time.sleep(3)
    finally:
        watcher.stop()
        proc.send_signal(signal.SIGTERM)
        output = proc.communicate(timeout=30)[0]
    assert proc.returncode == 0, output
    records = [r for r in rec.stop() if not r.topic.endswith("/state")]
    assert len(records) > 400  # two hours of 48 devices
    stamps = [(decode(r.topic, r.payload).ts, r.t_ms) for r in records]
    assert all(ts <= t_ms + 50 for ts, t_ms in stamps), "never a timestamp ahead of the real time"
    assert max(ts for ts, _ in stamps) > time.time() * 1000 - 60_000, "it reached now"
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["stopped"] and summary["end_ms"] is None and summary["delivery"]["unacked"] == 0
