"""The agent's TOML config: the documented example, unknown keys named, unsafe layouts refused."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from edge_agent.config import Cjt188Driver, LocalMqttDriver, load_agent_config, parse_agent_config
from ground.errors import ConfigError

DOC = Path(__file__).parents[2] / "docs" / "edge_agent.md"


def doc_example() -> dict:
    block = re.search(r"```toml\n(.*?)```", DOC.read_text(), re.S)
    assert block is not None
    return tomllib.loads(block.group(1))


def test_documented_example_is_valid() -> None:
    cfg = parse_agent_config(doc_example())
    assert cfg.gateway == "gw-0001" and cfg.username == "gw-0001" and cfg.client_id == "gw-0001"
    assert cfg.mqtt.tls and cfg.mqtt.host_port == ("mqtt.example.org", 8883)
    assert cfg.outbox_path == Path("/var/lib/shouwang-agent/outbox.db")
    meters = cfg.drivers[0]
    assert isinstance(meters, Cjt188Driver) and meters.parity == "E" and meters.meters[1].di_order == "low-first"
    assert isinstance(cfg.drivers[3], LocalMqttDriver) and cfg.drivers[3].devices["gate-north"].device == "cam-0001"


@pytest.mark.parametrize("mutate,message", [
    (lambda d: d.update(colour="red"), "colour: unknown key"),
    (lambda d: d["mqtt"].update(pasword="x"), "mqtt.pasword: unknown key"),
    (lambda d: d["drivers"][0]["meters"][1].update(adress="1"), "drivers[0].meters[1].adress: unknown key"),
    (lambda d: d["drivers"][1].update(driver="toaster"), "drivers[1]: driver must be one of"),
    (lambda d: d.update(gateway="Zhang San"), "gateway: should match pattern"),
    (lambda d: d.update(gateway="gw-0001\n"), "gateway: should match pattern"),  # Python's $ passes a final \n
    (lambda d: d["drivers"][0]["meters"][0].update(address="00000000000001\n"), "drivers[0].meters[0].address"),
    (lambda d: d["drivers"][0]["meters"][0].update(address="123"), "drivers[0].meters[0].address"),
    (lambda d: d["drivers"][1].update(port=d["drivers"][0]["port"]), "serial port"),
    (lambda d: d["drivers"][1]["gauges"][0].update(device="wm-0001"), "device 'wm-0001' appears more than once"),
    (lambda d: d["drivers"][1]["gauges"][0].update(device="meters-1"), "names both a device and"),
    (lambda d: d["drivers"][1]["gauges"][0].update(device="gw-0001"), "names both a device and"),
    (lambda d: d["mqtt"].update(url="http://broker"), "mqtt.url"),
    (lambda d: d["mqtt"].update(reconnect_max_s=120), "mqtt.reconnect_max_s"),
    (lambda d: d["outbox"].update(synchronous="off"), "outbox.synchronous"),
])
def test_bad_configs_name_the_key(mutate, message: str) -> None:
    data = doc_example()
    mutate(data)
    with pytest.raises(ConfigError) as exc:
        parse_agent_config(data, "agent.toml")
    assert message in str(exc.value), str(exc.value)


def test_password_file_forms(tmp_path: Path) -> None:
    creds = tmp_path / "gw.toml"
    creds.write_text('# MQTT credentials of gateway gw-1\nusername = "gw-1"\npassword = "s3cret"\n')
    bare = tmp_path / "pw"
    bare.write_text("plain-secret\n")
    for path, expected in ((creds, "s3cret"), (bare, "plain-secret")):
        cfg = parse_agent_config({"gateway": "gw-1", "mqtt": {"password_file": str(path)}})
        assert cfg.mqtt.password_value() == expected
    cfg = parse_agent_config({"gateway": "gw-1", "mqtt": {"password_file": str(tmp_path / "missing")}})
    with pytest.raises(ConfigError, match="mqtt.password_file"):
        cfg.mqtt.password_value()


def test_cli_refuses_a_bad_file_with_the_key(tmp_path: Path) -> None:
    bad = tmp_path / "agent.toml"
    bad.write_text('gateway = "gw-1"\n[outbox]\nmax_mesages = 5\n')
    out = subprocess.run([sys.executable, "-m", "shouwang", "agent", "--config", str(bad)], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 2 and "outbox.max_mesages: unknown key" in out.stderr
    with pytest.raises(ConfigError, match="no such config file"):
        load_agent_config(tmp_path / "nope.toml")
