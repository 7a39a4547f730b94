"""Edge-agent fixtures: agent configs for gateway gw-a, the agent as a real child process, a local broker."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edge_agent.config import AgentConfig, parse_agent_config
from shouwang.procs import ChildProcess, free_port, port_open
from tests.conftest import Services


def toml_value(v: Any) -> str:
    if isinstance(v, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(x)}" for k, x in v.items()) + "}"
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, bool):
        return "true" if v else "false"
    return json.dumps(v)


def write_agent_config(path: Path, *, gateway: str, state_dir: Path, mqtt: dict, drivers: list[dict],
                       outbox: dict | None = None, health: dict | None = None) -> Path:
    """An agent TOML file (the format a technician writes)."""
    lines = [f"gateway = {json.dumps(gateway)}", f"state_dir = {json.dumps(str(state_dir))}"]
    for name, section in (("mqtt", mqtt), ("outbox", outbox or {}), ("health", health or {})):
        lines.append(f"[{name}]")
        lines += [f"{k} = {toml_value(v)}" for k, v in section.items()]
    for d in drivers:
        lines.append("[[drivers]]")
        lines += [f"{k} = {toml_value(v)}" for k, v in d.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


class AgentProcess:
    """`shouwang agent --config FILE` as a real child process."""

    def __init__(self, config_file: Path, log_file: Path) -> None:
        self.config_file = config_file
        self.log_file = log_file
        self.child = ChildProcess("agent", [sys.executable, "-m", "shouwang", "agent", "--config", str(config_file)],
                                  log_file, ready=self._started)
        self._mark = 0

    @property
    def cfg(self) -> AgentConfig:
        import tomllib

        return parse_agent_config(tomllib.loads(self.config_file.read_text()))

    def log(self) -> str:
        try:
            return self.log_file.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def _started(self) -> bool:
        return "edge_agent.service: agent " in self.log()[self._mark:]

    def start(self) -> AgentProcess:
        self._mark = len(self.log())
        self.child.start(timeout=30)
        return self

    def connected_count(self) -> int:
        return self.log().count("edge_agent.uplink: connected to")

    def stop(self) -> int | None:
        return self.child.stop()

    def kill(self) -> None:
        self.child.kill()


@pytest.fixture
def agent_mqtt(services: Services) -> dict:
    """[mqtt] of gateway gw-a on the session broker, with fast reconnects for tests."""
    return {"url": f"mqtt://127.0.0.1:{services.port}", "password": services.passwords["gw-a"],
            "reconnect_max_s": 2.0}


@pytest.fixture
def agents(tmp_path: Path) -> Iterator[list[AgentProcess]]:
    """Agent processes a test starts; all stopped at the end."""
    started: list[AgentProcess] = []
    yield started
    for a in started:
        a.stop()


@pytest.fixture(scope="session")
def local_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A gateway-local Mosquitto (anonymous, loopback) where cameras publish."""
    d = tmp_path_factory.mktemp("local-broker")
    port = free_port()
    (d / "mosquitto.conf").write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    proc = ChildProcess("local-mosquitto", [exe, "-c", str(d / "mosquitto.conf")], d / "mosquitto.log",
                        ready=lambda: port_open("127.0.0.1", port))
    proc.start()
    try:
        yield port
    finally:
        proc.stop()
