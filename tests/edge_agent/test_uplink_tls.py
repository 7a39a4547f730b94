"""The uplink over TLS against a real Mosquitto that requires a client certificate (pilot CA)."""

from __future__ import annotations

import getpass
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from broker_config.tls import ensure_pilot_ca
from shouwang.procs import ChildProcess, free_port, port_open
from tests.edge_agent.conftest import AgentProcess, write_agent_config
from tests.helpers import MqttPeer, wait_for

pytestmark = pytest.mark.skipif(not shutil.which("openssl"), reason="needs openssl")


def client_cert(tls: Path, name: str) -> tuple[Path, Path]:
    key, csr, crt = tls / f"{name}.key", tls / f"{name}.csr", tls / f"{name}.crt"
    run = ["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr),
           "-subj", f"/O=Shouwang pilot/CN={name}"]
    subprocess.run(run, check=True, capture_output=True, timeout=60)
    subprocess.run(["openssl", "x509", "-req", "-in", str(csr), "-CA", str(tls / "ca.crt"), "-CAkey",
                    str(tls / "ca.key"), "-CAcreateserial", "-out", str(crt), "-days", "2"],
                   check=True, capture_output=True, timeout=60)
    return crt, key


def test_agent_connects_with_ca_and_client_certificate(tmp_path: Path, agents) -> None:
    tls = tmp_path / "tls"
    ca, cert, key = ensure_pilot_ca(tls, ["localhost", "127.0.0.1"])
    ccrt, ckey = client_cert(tls, "gw-tls")
    plain, secure = free_port(), free_port()
    conf = tmp_path / "m.conf"
    conf.write_text(f"user {getpass.getuser()}\nper_listener_settings true\n"
                    f"listener {plain} 127.0.0.1\nallow_anonymous true\n"
                    f"listener {secure} 127.0.0.1\nallow_anonymous true\ncafile {ca}\ncertfile {cert}\n"
                    f"keyfile {key}\nrequire_certificate true\ntls_version tlsv1.2\n")
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    broker = ChildProcess("mosquitto-tls", [exe, "-c", str(conf)], tmp_path / "m.log",
                          ready=lambda: port_open("127.0.0.1", secure))
    broker.start()
    spy = MqttPeer(plain, None, None).start()
    try:
        spy.client.subscribe("sw/v1/gw-tls/#", qos=1)
        time.sleep(0.3)
        mqtt = {"url": f"mqtts://localhost:{secure}", "ca_file": str(ca), "cert_file": str(ccrt),
                "key_file": str(ckey)}
        path = write_agent_config(tmp_path / "a.toml", gateway="gw-tls", state_dir=tmp_path / "s", mqtt=mqtt,
                                  drivers=[], health={"interval_s": 0.5})
        agent = AgentProcess(path, tmp_path / "a.log").start()
        agents.append(agent)
        wait_for(agent.connected_count, 15, what="TLS connection with a client certificate")
        wait_for(lambda: any(m.topic == "sw/v1/gw-tls/gw-tls/status" for m in spy.messages), 15,
                 what="a status message over TLS")
        agent.stop()
        # without the client certificate the broker refuses the handshake: nothing connects
        path = write_agent_config(tmp_path / "b.toml", gateway="gw-tls", state_dir=tmp_path / "s2",
                                  mqtt={"url": f"mqtts://localhost:{secure}", "ca_file": str(ca)}, drivers=[])
        refused = AgentProcess(path, tmp_path / "b.log").start()
        agents.append(refused)
        time.sleep(3)
        assert refused.connected_count() == 0
    finally:
        spy.stop()
        broker.stop()
