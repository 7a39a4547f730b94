"""The simulator against a real Mosquitto: deterministic traffic, record -> replay, timing, acks, outages."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from broker_config import Account, add_gateway, service_credentials
from firmware_sim.generate import Simulation
from firmware_sim.mqtt import BrokerTarget, MqttTransport
from firmware_sim.recordfile import Record, RecordReader
from firmware_sim.scenario import load_scenario
from firmware_sim.stream import Outgoing
from firmware_sim.timeparse import HOUR_MS
from shouwang.config import load_config
from shouwang.procs import free_port
from shouwang.services import mosquitto_process
from tests.conftest import write_config
from tests.firmware_sim.conftest import DEMO_DAY, SimBroker, run_cli
from tests.helpers import MqttPeer, wait_for
from wire import decode
from wire.models import Message

START = DEMO_DAY.isoformat()


class Recorder:
    """`shouwang sim record` as a user runs it; stopped with Ctrl-C (SIGINT)."""

    def __init__(self, broker: SimBroker, out: Path) -> None:
        self.out = out
        self.log = open(out.with_suffix(".log"), "w+")  # noqa: SIM115
        env = {k: v for k, v in os.environ.items() if not k.startswith("SHOUWANG_")}
        self.proc = subprocess.Popen([sys.executable, "-m", "shouwang", "--config", str(broker.config_file), "sim",
                                      "record", "--out", str(out)], stdout=self.log, stderr=subprocess.STDOUT, env=env)
        wait_for(lambda: "recording sw/v1/#" in out.with_suffix(".log").read_text(), timeout=20,
                 what="the recorder's subscription")

    def stop(self) -> list[Record]:
        time.sleep(0.5)  # let the last messages arrive
        self.proc.send_signal(signal.SIGINT)
        assert self.proc.wait(20) == 0
        self.log.seek(0)
        assert "Record summary" in self.log.read()
        self.log.close()
        return list(RecordReader(self.out))


def _device_msgs(records: list[Record]) -> list[tuple[str, bytes]]:
    return [(r.topic, r.payload) for r in records if not r.topic.endswith("/state")]


def _expected(seed: int | None = None, hours: int = 2) -> list[Outgoing]:
    c = load_scenario("demo", seed=seed)
    start = c.start_ms(DEMO_DAY)
    return list(Simulation(c, start, start + hours * HOUR_MS).outgoing())


def test_same_seed_gives_identical_traffic_and_replay_reproduces_it(sim_broker: SimBroker, tmp_path: Path) -> None:
    run = ("sim", "run", "demo", "--fast", "--ordered", "--start", START, "--duration", "2h", "--seed", "42")
    recs = []
    for i in range(2):
        rec = Recorder(sim_broker, tmp_path / f"run{i}.jsonl.gz")
        out = run_cli(sim_broker.config_file, *run)
        assert out.returncode == 0, out.stderr
        recs.append(rec.stop())
    first, second = (_device_msgs(r) for r in recs)
    expected = [(o.topic, o.payload) for o in _expected(seed=42)]
    assert len(first) == len(expected) > 500
    assert first == expected, "the broker saw exactly the generated stream, in order"
    assert second == first, "same seed: byte-identical traffic"
    states = [r for r in recs[0] if r.topic.endswith("/state")]
    assert {json.loads(r.payload)["online"] for r in states} == {True, False}  # birth and the offline at the end

    # record -> replay (as fast as possible, exact order) -> record again: the same payloads in the same order
    rec = Recorder(sim_broker, tmp_path / "replayed.jsonl.gz")
    out = run_cli(sim_broker.config_file, "sim", "replay", str(tmp_path / "run0.jsonl.gz"), "--fast", "--ordered")
    assert out.returncode == 0, out.stderr
    assert "Replay summary" in out.stdout
    assert _device_msgs(rec.stop()) == first


def test_run_output_is_plain_text_with_a_summary_when_not_a_terminal(sim_broker: SimBroker, tmp_path: Path) -> None:
    out = run_cli(sim_broker.config_file, "sim", "run", "demo", "--fast", "--start", START, "--duration", "1h",
                  "--labels", str(tmp_path / "l.jsonl"), "--summary-json", str(tmp_path / "s.json"))
    assert out.returncode == 0, out.stderr
    assert "Simulation summary" in out.stdout and "\x1b[" not in out.stdout + out.stderr
    summary = json.loads((tmp_path / "s.json").read_text())
    n = len(_expected(hours=1))
    assert summary["messages"] == n
    assert summary["delivery"]["acked"] == n and summary["delivery"]["failed"] == 0
    assert summary["delivery"]["unacked"] == 0


def test_replay_timing_is_scaled_and_shift_to_now_ends_at_now(sim_broker: SimBroker, tmp_path: Path) -> None:
    gen = tmp_path / "gen.jsonl.gz"
    out = run_cli(sim_broker.config_file, "sim", "run", "demo", "--out", str(gen), "--start", START,
                  "--duration", "2h")
    assert out.returncode == 0, out.stderr
    rec = Recorder(sim_broker, tmp_path / "shifted.jsonl.gz")
    out = run_cli(sim_broker.config_file, "sim", "replay", str(gen), "--speed", "3600", "--shift-to-now",
                  "--kind", "river_gauge", "--kind", "camera", "--summary-json", str(tmp_path / "replay.json"))
    assert out.returncode == 0, out.stderr
    # the replay's own wall time: the interpreter's start-up (seconds on a loaded machine) is not the scaling
    wall = json.loads((tmp_path / "replay.json").read_text())["wall_s"]
    recs = [r for r in rec.stop() if not r.topic.endswith("/state")]
    got = [decode(r.topic, r.payload) for r in recs]
    assert {m.kind.value for m in got} == {"river_gauge", "camera"}
    assert 1.9 < wall < 8, "two simulated hours at 3600x take two seconds"
    stamps = [m.ts for m in got if isinstance(m, Message)]
    last_received = max(r.t_ms for r in recs)
    assert last_received - max(stamps) < 5_000, "the recording ends now"
    # every message was stamped no later than it was received (t_ms of the second recording)
    assert all(m.ts <= r.t_ms + 50 for m, r in zip(got, recs, strict=True))


def test_outage_fires_the_last_will_and_forwards_held_messages(sim_broker: SimBroker, tmp_path: Path) -> None:
    watcher = sim_broker.service_peer()
    watcher.client.subscribe("sw/v1/demo-gw-1/state", qos=1)
    rec = Recorder(sim_broker, tmp_path / "outage.jsonl.gz")
    out = run_cli(sim_broker.config_file, "sim", "run", "demo", "--speed", "7200", "--start", START, "--duration",
                  "2h", "--outage", "demo-gw-1@30m+30m", "--summary-json", str(tmp_path / "s.json"))
    assert out.returncode == 0, out.stderr
    got = _device_msgs(rec.stop())
    watcher.stop()
    states = [json.loads(m.payload)["online"] for m in watcher.messages if not m.retain]
    assert states == [True, False, True, False]  # birth, last will, birth again, offline at the end
    expected = _expected(hours=2)
    assert sorted(got) == sorted((o.topic, o.payload) for o in expected), "nothing lost: held, then forwarded"
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["faults"]["outages"] == 1 and summary["faults"]["held_by_outage"] > 50
    assert summary["delivery"]["reconnects"] == 1


def test_refused_publishes_are_counted_as_failed(sim_broker: SimBroker) -> None:
    # demo-gw-1's messages sent with demo-gw-2's account: the ACL refuses every one (PUBACK 0x87)
    creds = {"demo-gw-1": ("demo-gw-2", sim_broker.passwords["demo-gw-2"])}
    t = MqttTransport(BrokerTarget("127.0.0.1", sim_broker.port), creds, client_prefix="sim-test")
    t.open(["demo-gw-1"])
    msgs = [o for o in _expected(hours=1) if o.gateway == "demo-gw-1"][:100]
    for m in msgs:
        t.send(m)
    stats = t.close(20)
    assert stats.sent == 100 and stats.failed == 100 and stats.acked == 0 and stats.unacked == 0


def test_missing_credentials_are_named(sim_broker: SimBroker, tmp_path: Path) -> None:
    out = run_cli(sim_broker.config_file, "sim", "run", "typhoon", "--fast", "--start", START, "--duration", "1h")
    assert out.returncode == 2
    assert "river-gw-1" in out.stderr and "add-gateway" in out.stderr


def test_a_broker_restart_mid_run_loses_nothing(tmp_path: Path) -> None:
    state = tmp_path / "state"
    config_file = write_config(tmp_path / "c.toml", state, broker={"port": free_port(), "service_port": free_port()}, ingest={"metrics_port": 0})
    cfg = load_config(config_file, env={})
    broker = mosquitto_process(cfg)
    for gw in ("demo-gw-1", "demo-gw-2"):
        add_gateway(cfg.state_path / "broker", gw)
    broker.start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOUWANG_")}
    watcher = MqttPeer(cfg.broker.service_port, *service_credentials(cfg, Account.SIM),
                       client_id="svc_sim_restart_watcher").start()
    watcher.client.subscribe("sw/v1/+/+/+", qos=0)
    wait_for(lambda: watcher.suback, timeout=10, what="the watcher's subscription")
    run = subprocess.Popen([sys.executable, "-m", "shouwang", "--config", str(config_file), "sim", "run", "demo",
                            "--speed", "6000", "--start", START, "--duration", "8h", "--no-progress",
                            "--summary-json", str(tmp_path / "s.json")],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        # mid-run: the run is publishing (8 simulated hours take about 5 s from its first message)
        wait_for(lambda: run.poll() is not None or len(watcher.messages) >= 20, timeout=60,
                 what="the run's first messages")
        assert run.poll() is None, "the run ended before the broker went down; the test proves nothing"
        broker.stop()  # a restart of the broker, as `shouwang up` would do after a crash
        time.sleep(1.5)
        broker.start()
        output = run.communicate(timeout=60)[0]
    finally:
        watcher.stop()
        if run.poll() is None:
            run.kill()
            run.wait()
        broker.stop()
    assert run.returncode == 0, output
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["messages"] == len(_expected(hours=8))
    assert summary["delivery"]["acked"] == summary["messages"] and summary["delivery"]["reconnects"] >= 1
