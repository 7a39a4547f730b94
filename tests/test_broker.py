"""The project's generated Mosquitto config and ACL, enforced by a real Mosquitto."""

from __future__ import annotations

import socket
import ssl
import subprocess
import sys
from pathlib import Path

import pytest

from shouwang.config import load_config
from shouwang.procs import ChildProcess, free_port, port_open
from tests.conftest import Services, now_ms, reading, write_config
from tests.helpers import MqttPeer

NOT_AUTHORIZED = 135  # MQTT v5 reason code 0x87
BAD_CREDENTIALS = 134  # 0x86 "Bad user name or password"


def test_gateway_publishes_under_its_own_prefix(services: Services) -> None:
    gw = services.gateway("gw-a")
    try:
        assert gw.connected.is_set(), gw.connack
        topic, body = reading("gw-a", "acl-own", now_ms(), 1)
        mid = gw.publish(topic, body)
        assert not gw.wait_acked([mid])[mid].is_failure
    finally:
        gw.stop()


def test_gateway_cannot_publish_under_another_gateway(services: Services) -> None:
    gw = services.gateway("gw-a")
    spy = services.service_peer()
    spy.client.subscribe("sw/v1/gw-b/#", qos=1)
    try:
        topic, body = reading("gw-b", "spoofed", now_ms(), 1)
        mid = gw.publish(topic, body)
        rc = gw.wait_acked([mid])[mid]
        assert rc.value == NOT_AUTHORIZED, rc
        # and the broker did not route it anyway
        ok_topic, ok_body = reading("gw-a", "after-spoof", now_ms(), 2)
        gw.wait_acked([gw.publish(ok_topic, ok_body)])
        assert not [m for m in spy.messages if m.topic == topic]
    finally:
        gw.stop()
        spy.stop()


def test_gateway_cannot_publish_outside_sw_v1_or_read_others(services: Services) -> None:
    gw = services.gateway("gw-a")
    try:
        mid = gw.publish("sw/_deadletter/v1", b"{}")
        assert gw.wait_acked([mid])[mid].value == NOT_AUTHORIZED
        mid = gw.publish("other/topic", b"{}")
        assert gw.wait_acked([mid])[mid].value == NOT_AUTHORIZED
    finally:
        gw.stop()


def test_service_account_cannot_impersonate_a_gateway(services: Services) -> None:
    svc = services.service_peer()
    try:
        topic, body = reading("gw-a", "svc-spoof", now_ms(), 1)
        mid = svc.publish(topic, body)
        assert svc.wait_acked([mid])[mid].value == NOT_AUTHORIZED
    finally:
        svc.stop()


def test_wrong_password_is_refused(services: Services) -> None:
    peer = MqttPeer(services.port, "gw-a", "not-the-password").start()
    try:
        assert peer.refused.is_set()
        assert peer.connack is not None and peer.connack.value in (BAD_CREDENTIALS, NOT_AUTHORIZED)
    finally:
        peer.stop()


def test_anonymous_is_refused(services: Services) -> None:
    peer = MqttPeer(services.port, None, None).start()
    try:
        assert peer.refused.is_set()
        assert peer.connack is not None and peer.connack.value in (BAD_CREDENTIALS, NOT_AUTHORIZED)
    finally:
        peer.stop()


def test_generated_config_states_queue_sizing(services: Services) -> None:
    text = (services.cfg.state_path / "broker" / "mosquitto.conf").read_text()
    assert f"max_queued_messages {services.cfg.broker.max_queued_messages}" in text
    assert "allow_anonymous false" in text and "persistence true" in text
    passwd = (services.cfg.state_path / "broker" / "passwd").read_text()
    assert "gw-a:$7$" in passwd  # hashed by mosquitto_passwd, never plaintext
    assert services.passwords["gw-a"] not in passwd


def _cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "shouwang", "--config", str(config), *args],
                          capture_output=True, text=True, timeout=60, check=False)


def test_tls_listener_with_pilot_ca_and_cli_credentials(tmp_path: Path) -> None:
    plain, tls_port = free_port(), free_port()
    cfg_file = write_config(tmp_path / "c.toml", tmp_path / "state",
                            broker={"port": plain, "service_port": free_port(), "tls": True, "tls_port": tls_port, "tls_host": "127.0.0.1"})
    out = _cli(cfg_file, "broker", "config")
    assert out.returncode == 0, out.stderr
    cfg = load_config(cfg_file, env={})
    bdir = cfg.state_path / "broker"
    assert (bdir / "tls" / "ca.crt").exists() and (bdir / "tls" / "server.crt").exists()
    broker = ChildProcess("mosquitto-tls", ["mosquitto", "-c", str(bdir / "mosquitto.conf")], bdir / "m.log",
                          ready=lambda: port_open("127.0.0.1", tls_port))
    broker.start()
    try:
        (bdir / "mosquitto.pid").write_text(str(broker.pid))
        out = _cli(cfg_file, "broker", "add-gateway", "gw-tls")
        assert out.returncode == 0, out.stderr
        assert "reloaded" in out.stdout
        cred = (bdir / "gateways" / "gw-tls.toml").read_text()
        password = cred.split('password = "')[1].split('"')[0]
        assert (bdir / "gateways" / "gw-tls.toml").stat().st_mode & 0o077 == 0

        peer = MqttPeer(tls_port, "gw-tls", password)
        peer.client.tls_set(ca_certs=str(bdir / "tls" / "ca.crt"))
        peer.client.connect("localhost", tls_port)
        peer.client.loop_start()
        assert peer.connected.wait(10), peer.connack
        topic, body = reading("gw-tls", "m-1", now_ms(), 1)
        mid = peer.publish(topic, body)
        assert not peer.wait_acked([mid])[mid].is_failure
        peer.stop()

        # a client that does not trust the pilot CA is refused at the TLS handshake
        with socket.create_connection(("127.0.0.1", tls_port), timeout=5) as raw:
            with pytest.raises(ssl.SSLCertVerificationError):
                ssl.create_default_context().wrap_socket(raw, server_hostname="localhost")
    finally:
        broker.stop()


def test_add_gateway_refuses_a_bad_id(tmp_path: Path) -> None:
    cfg_file = write_config(tmp_path / "c.toml", tmp_path / "state", broker={"port": free_port(), "service_port": free_port()})
    out = _cli(cfg_file, "broker", "add-gateway", "Zhang_San")
    assert out.returncode == 2
    assert "does not match" in out.stderr
