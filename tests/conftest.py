"""Session fixtures: a real Mosquitto (project-generated config and ACL) and a real influxd."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from broker_config import Account, add_gateway, service_credentials
from shouwang.config import Config, load_config
from storage.influx import InfluxClient
from shouwang.procs import ChildProcess, free_port
from shouwang.services import influxd_process, mosquitto_process
from tests.helpers import IngestProcess, MqttPeer, free_port_pair
from wire import Message, encode
from wire.models import Channel, Kind

GATEWAYS = ("gw-a", "gw-b", "gw-z")  # gw-z: the attacker of tests/test_broker_attacks.py


@dataclass
class Services:
    cfg: Config
    config_file: Path
    broker: ChildProcess
    influxd: ChildProcess
    passwords: dict[str, str]
    influx: InfluxClient

    @property
    def port(self) -> int:
        return self.cfg.broker.port

    def gateway(self, gw: str = "gw-a", **kw) -> MqttPeer:
        return MqttPeer(self.port, gw, self.passwords[gw], **kw).start()

    def service_peer(self, account: Account = Account.SIM, **kw) -> MqttPeer:
        """A client on the service listener logged in as a service account (by default the recorder's)."""
        kw.setdefault("client_id", f"{account}_peer_{uuid.uuid4().hex[:8]}")
        user, password = service_credentials(self.cfg, account)
        return MqttPeer(self.cfg.broker.service_port, user, password, **kw).start()


def write_config(path: Path, state: Path, **sections: dict) -> Path:
    lines = [f'state_dir = "{state}"']
    for name, values in sections.items():
        lines.append(f"[{name}]")
        for k, v in values.items():
            lines.append(f"{k} = {json.dumps(v)}")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="session")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    state = tmp_path_factory.mktemp("state")
    config_file = write_config(
        state / "shouwang.toml", state,
        broker={"port": free_port(), "service_port": free_port()},
        influx={"port": free_port_pair()},
        ingest={"metrics_port": free_port(), "client_id": "svc_ingest_test", "batch_size": 500,
                "flush_interval_ms": 100, "retry_max_s": 1.0},
    )
    cfg = load_config(config_file, env={})
    broker = mosquitto_process(cfg)
    passwords = {gw: add_gateway(cfg.state_path / "broker", gw)[1] for gw in GATEWAYS}
    broker.start()
    influxd = influxd_process(cfg)
    influxd.start()
    influx = InfluxClient(cfg.influx)
    try:
        yield Services(cfg, config_file, broker, influxd, passwords, influx)
    finally:
        influx.close()
        influxd.stop()
        broker.stop()


@pytest.fixture
def ingest(services: Services) -> Iterator[IngestProcess]:
    proc = IngestProcess(services.cfg, services.config_file).start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def uid() -> str:
    """A short unique suffix so each test's devices have their own series."""
    return uuid.uuid4().hex[:8]


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def reading(gw: str, device: str, ts: int, seq: int, total_l: float = 100.0) -> tuple[str, bytes]:
    """Topic and payload of a water-meter reading."""
    return encode(Message(gw, device, Channel.READING, Kind.WATER_METER, ts, seq, {"total_l": total_l}))
