"""Fixtures of the simulator tests: a fixed demo window, demo gateways on the session broker, CLI runs."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from broker_config import Account, add_gateway, service_credentials
from firmware_sim.generate import Simulation
from firmware_sim.scenario import Community, load_scenario
from firmware_sim.timeparse import DAY_MS
from shouwang.config import Config, load_config
from shouwang.procs import ChildProcess, free_port
from shouwang.services import mosquitto_process
from tests.conftest import Services, write_config
from tests.helpers import MqttPeer, free_port_pair, wait_for

SIM_GATEWAYS = ("demo-gw-1", "demo-gw-2")
DEMO_DAY = dt.date(2025, 6, 1)  # a Sunday


@pytest.fixture(scope="session")
def demo() -> Community:
    return load_scenario("demo")


@pytest.fixture(scope="session")
def demo_day(demo: Community) -> Simulation:
    """The demo scenario's whole day, generated once (its stream consumed into .items)."""
    start = demo.start_ms(DEMO_DAY)
    sim = Simulation(demo, start, start + DAY_MS)
    sim.all = list(sim.messages())  # type: ignore[attr-defined]
    return sim


@dataclass
class SimBroker:
    """A broker of our own for heavy simulator traffic, so it never queues up in ingest's persistent session."""

    cfg: Config
    config_file: Path
    broker: ChildProcess
    passwords: dict[str, str]

    @property
    def port(self) -> int:
        return self.cfg.broker.port

    def service_peer(self) -> MqttPeer:
        user, password = service_credentials(self.cfg, Account.SIM)
        return MqttPeer(self.cfg.broker.service_port, user, password, client_id="svc_sim_watcher").start()


@pytest.fixture(scope="session")
def sim_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimBroker]:
    """Mosquitto with the project's config and ACL, and the demo gateways' credentials."""
    state = tmp_path_factory.mktemp("sim-state")
    config_file = write_config(state / "shouwang.toml", state, broker={"port": free_port(), "service_port": free_port()},
                               influx={"port": free_port_pair()}, ingest={"metrics_port": 0})
    cfg = load_config(config_file, env={})
    broker = mosquitto_process(cfg)
    passwords = {gw: add_gateway(cfg.state_path / "broker", gw)[1] for gw in SIM_GATEWAYS}
    broker.start()
    try:
        yield SimBroker(cfg, config_file, broker, passwords)
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def demo_services(services: Services) -> Services:
    """The session services (with ingest's InfluxDB) plus the demo gateways' credentials."""
    broker_dir = services.cfg.state_path / "broker"
    passwords = {gw: add_gateway(broker_dir, gw)[1] for gw in SIM_GATEWAYS}
    os.kill(services.broker.pid, signal.SIGHUP)

    def accepted() -> bool:
        peer = MqttPeer(services.port, SIM_GATEWAYS[-1], passwords[SIM_GATEWAYS[-1]]).start()
        peer.stop()
        return peer.connected.is_set()

    wait_for(accepted, timeout=10, what="the broker to reload the demo gateways' passwords")
    return services


def run_cli(config_file: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """`shouwang --config FILE ...` as a user runs it, output captured (not a terminal)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOUWANG_")}
    env["COLUMNS"] = "160"
    return subprocess.run([sys.executable, "-m", "shouwang", "--config", str(config_file), *args],
                          capture_output=True, text=True, timeout=timeout, env=env, check=False)


