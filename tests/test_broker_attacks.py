"""One gateway's stolen credentials against the real broker, ingest and the project's generated config.

The attacker holds gateway gw-z's username and password, as anyone with a screwdriver could. Each
test is what was tried from the outside; each failed on the config before the service listener,
use_username_as_clientid and the plain ingest subscription.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from broker_config import Account, service_credentials
from shouwang.procs import ChildProcess, free_port
from tests.conftest import Services, now_ms, reading, write_config
from tests.helpers import IngestProcess, MqttPeer, wait_for
from tests.ingest.test_service import count, publish_all
from wire.models import encode_state

ATTACKER = "gw-z"
NOT_AUTHORIZED = 135  # 0x87
BAD_CREDENTIALS = 134  # 0x86
PACKET_TOO_LARGE = 149  # 0x95


def _attacker(services: Services, client_id: str = "", session_s: int = 0) -> MqttPeer:
    peer = MqttPeer(services.port, ATTACKER, services.passwords[ATTACKER], client_id=client_id)
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = session_s
    peer.client.connect("127.0.0.1", services.port, clean_start=True, properties=props)
    peer.client.loop_start()
    assert peer.connected.wait(10), peer.connack
    return peer


def _subscribe(peer: MqttPeer, *filters: str) -> list:
    peer.suback = None
    peer.client.subscribe([(f, 1) for f in filters])
    return wait_for(lambda: peer.suback, what="SUBACK")


def _broker_log(services: Services) -> str:
    return (services.cfg.state_path / "broker" / "mosquitto.log").read_text(errors="replace")


def test_shared_subscription_hijack_takes_nothing_from_ingest(services: Services, ingest: IngestProcess,
                                                              uid: str) -> None:
    """gw-z joins every share group it can guess with a persistent session, then goes away: before, each
    message handed to its share was dropped by the ACL after the publisher got PUBACK 0 (50 % lost)."""
    atk = _attacker(services, session_s=3600)
    _subscribe(atk, "$share/ingest/sw/v1/#", "$share/ingest/sw/v1/+/+/+", "$share/g/sw/v1/#", "sw/v1/#")
    victim = services.gateway("gw-a")
    device = f"hijack-{uid}"
    ts = now_ms() - 60_000
    try:
        publish_all(victim, [reading("gw-a", device, ts + i, i) for i in range(100)])
        atk.stop()  # its session (and its subscriptions) live on for an hour
        publish_all(victim, [reading("gw-a", device, ts + i, i) for i in range(100, 200)])
        wait_for(lambda: count(services, "water_meter", "total_l", device) == 200, timeout=30,
                 what="all 200 readings in InfluxDB")
        assert not atk.messages, f"the attacker read {len(atk.messages)} messages"
    finally:
        victim.stop()
        _attacker(services, session_s=0).stop()  # end the attacker's session


@pytest.mark.parametrize("target", ["ingest", "alerts", "victim gateway"])
def test_gateway_cannot_take_another_client_id(services: Services, ingest: IngestProcess, uid: str,
                                               target: str) -> None:
    """Connecting with ingest's, the alerts engine's or another gateway's client id takes over nothing: the
    broker forces a gateway's client id to its username."""
    victim = services.gateway("gw-a", client_id="gw-a")
    watcher = services.service_peer()
    _subscribe(watcher, "sw/v1/gw-a/state")
    client_id = {"ingest": services.cfg.ingest.client_id, "alerts": "svc_alerts",
                 "victim gateway": "gw-a"}[target]
    log_before = len(_broker_log(services))
    try:
        for _ in range(3):
            _attacker(services, client_id=client_id).stop()
        time.sleep(0.5)  # a takeover would show at once: the old connection is closed before CONNACK
        new_log = _broker_log(services)[log_before:]
        assert f"Client {client_id} already connected" not in new_log, new_log
        assert f"as {ATTACKER} (" in new_log  # it was logged in, under its own id
        assert victim.client.is_connected() and not victim.disconnects
        # (a retained presence left by an earlier test arrives with the retain flag: not news)
        offline = [m for m in watcher.messages
                   if not m.retain and m.payload and b'"online":false' in m.payload.replace(b" ", b"")]
        assert not offline, "the victim's last will was published"
        # ingest kept its session: a reading published now lands
        device = f"takeover-{uid}"
        publish_all(victim, [reading("gw-a", device, now_ms() - 1000, 1)])
        wait_for(lambda: count(services, "water_meter", "total_l", device) == 1, what="the reading")
        assert ingest.metrics().get("ingest_mqtt_connected") == 1.0
    finally:
        victim.stop()
        watcher.stop()


def test_gateway_credentials_are_refused_on_the_service_listener(services: Services) -> None:
    peer = MqttPeer(services.cfg.broker.service_port, ATTACKER, services.passwords[ATTACKER],
                    client_id="svc_ingest").start()
    try:
        assert peer.refused.is_set() and peer.connack is not None
        assert peer.connack.value in (BAD_CREDENTIALS, NOT_AUTHORIZED), peer.connack
    finally:
        peer.stop()


def test_service_accounts_are_refused_on_the_gateway_listener(services: Services) -> None:
    user, password = service_credentials(services.cfg, Account.INGEST)
    peer = MqttPeer(services.port, user, password).start()
    try:
        assert peer.refused.is_set() and peer.connack is not None
        assert peer.connack.value in (BAD_CREDENTIALS, NOT_AUTHORIZED), peer.connack
    finally:
        peer.stop()


def test_gateway_reads_nothing(services: Services, uid: str) -> None:
    """Its subscriptions are granted (Mosquitto 2.0 checks read access per message) but receive nothing:
    not other gateways' data, not its own, not alerts or dead letters."""
    atk = _attacker(services)
    _subscribe(atk, "sw/v1/#", f"sw/v1/{ATTACKER}/#", "sw/alerts/#", "sw/_deadletter/v1", "#", "$SYS/#")
    tap = services.service_peer()
    _subscribe(tap, "sw/v1/gw-a/#", f"sw/v1/{ATTACKER}/#")
    victim = services.gateway("gw-a")
    try:
        publish_all(victim, [reading("gw-a", f"read-{uid}", now_ms() - 1000, 1)])
        publish_all(atk, [reading(ATTACKER, f"own-{uid}", now_ms() - 1000, 1)])
        wait_for(lambda: len(tap.messages) >= 2, what="the tap seeing both messages (they were routed)")
        time.sleep(0.3)
        assert not atk.messages, [m.topic for m in atk.messages]
    finally:
        victim.stop()
        atk.stop()
        tap.stop()


def _retained_under(services: Services, prefix: str) -> list[str]:
    """Topics a fresh subscriber receives as retained messages under prefix."""
    peer = services.service_peer()
    try:
        _subscribe(peer, f"{prefix}/#")
        time.sleep(0.3)
        return sorted(m.topic for m in peer.messages if m.retain)
    finally:
        peer.stop()


def test_retained_device_messages_are_cleared_presence_is_kept(services: Services, ingest: IngestProcess,
                                                               uid: str) -> None:
    """Before, 200 retained 256 KiB messages grew the broker by 51 MB and went to every new subscriber."""
    atk = _attacker(services)
    prefix = f"sw/v1/{ATTACKER}"
    try:
        mids = [atk.publish(f"{prefix}/ret-{uid}-{i}/reading", b"x" * 32 * 1024, retain=True) for i in range(30)]
        topic, body = reading(ATTACKER, f"ret-ok-{uid}", now_ms() - 1000, 1)
        mids.append(atk.publish(topic, body, retain=True))
        mids.append(atk.publish(f"{prefix}/state", encode_state(True, ts=now_ms()), retain=True))
        assert not [c for c in atk.wait_acked(mids).values() if c.is_failure]
        wait_for(lambda: _retained_under(services, prefix) == [f"{prefix}/state"], timeout=20,
                 what="only the gateway's presence left retained")
        # the valid reading was still stored, the garbage dead-lettered
        wait_for(lambda: count(services, "water_meter", "total_l", f"ret-ok-{uid}") == 1, what="the reading")
        assert ingest.metrics()["ingest_retained_cleared_total"] >= 31
    finally:
        atk.stop()


def test_gateway_writes_only_the_contracts_topic_shapes(services: Services, uid: str) -> None:
    """Its presence and sw/v1/{gw}/{device}/{channel}; any other depth under its prefix is refused (so every
    retained message it can leave is one ingest's janitor may clear)."""
    atk = _attacker(services)
    try:
        bad = [f"sw/v1/{ATTACKER}", f"sw/v1/{ATTACKER}/x-{uid}", f"sw/v1/{ATTACKER}/a/b/c",
               f"sw/v1/{ATTACKER}/a/b/c/d/e"]
        codes = atk.wait_acked([atk.publish(t, b"{}", retain=True) for t in bad])
        assert [c.value for c in codes.values()] == [NOT_AUTHORIZED] * len(bad)
        ok = atk.wait_acked([atk.publish(f"sw/v1/{ATTACKER}/dev-{uid}/reading", b"{}")])
        assert not next(iter(ok.values())).is_failure  # well-shaped: accepted (and dead-lettered by ingest)
    finally:
        atk.stop()


def test_oversize_packet_is_refused_with_a_reason(services: Services, uid: str) -> None:
    """Above broker.max_packet_kib the broker refuses the packet (reason 149) and disconnects the client;
    between 16 KiB and the limit a payload reaches ingest and is dead-lettered (tests/ingest/test_service.py)."""
    atk = _attacker(services)
    try:
        atk.publish(f"sw/v1/{ATTACKER}/big-{uid}/reading", b"x" * (services.cfg.broker.max_packet_kib * 1024 + 1))
        wait_for(lambda: atk.disconnects, what="the broker disconnecting the client")
        assert atk.disconnects[0].value == PACKET_TOO_LARGE, atk.disconnects
    finally:
        atk.stop()


def test_connections_beyond_the_cap_are_refused(tmp_path: Path) -> None:
    """broker.max_connections bounds the gateway listener (each gateway holds one connection). Mosquitto 2.0.11
    decrements its count once more for each refused connection (eclipse/mosquitto#1460), so the bound drifts up
    by one per refusal: a soft bound, documented in the README with the firewall rule that makes it hard."""
    from broker_config import add_gateway
    from shouwang.config import load_config
    from shouwang.services import mosquitto_process

    cfg_file = write_config(tmp_path / "c.toml", tmp_path / "state",
                            broker={"port": free_port(), "service_port": free_port(), "max_connections": 2})
    cfg = load_config(cfg_file, env={})
    broker: ChildProcess = mosquitto_process(cfg)
    pw = {gw: add_gateway(cfg.state_path / "broker", gw)[1] for gw in ("cap-1", "cap-2", "cap-3")}
    broker.start()
    peers = []
    try:
        for gw in ("cap-1", "cap-2"):
            peers.append(MqttPeer(cfg.broker.port, gw, pw[gw]).start())
            assert peers[-1].connected.is_set()
        third = MqttPeer(cfg.broker.port, "cap-3", pw["cap-3"])
        peers.append(third)
        try:
            third.start(timeout=3)
        except OSError:
            pass
        assert not third.connected.is_set()
        assert "max_connections" in (cfg.state_path / "broker" / "mosquitto.log").read_text()
        # the service listener has its own budget: services still get in
        svc = MqttPeer(cfg.broker.service_port, *service_credentials(cfg, Account.SIM), client_id="svc_sim_cap").start()
        peers.append(svc)
        assert svc.connected.is_set()
    finally:
        for p in peers:
            p.stop()
        broker.stop()
