"""The clustered broker option (broker.kind = "nats"): permissions, and nothing acknowledged is lost when the
node a gateway is connected to dies or an ingest worker dies, under load from simulated gateways."""

from __future__ import annotations

import json
import time

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from benchmarks.clusterrig import IngestWorkers, Load, sim_target, stored
from broker_config import Account, add_gateway, reload_running_broker, service_credentials
from tests.cluster.conftest import ClusterRig
from tests.helpers import wait_for
from wire import Message, encode
from wire.models import Channel, Kind


def _client(rig: ClusterRig, user: str, password: str, client_id: str, node: int = 0) -> mqtt.Client:
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311, clean_session=True)
    c.username_pw_set(user, password)
    n = rig.cfg.broker.nats_nodes[node]
    c.connect(n.host, n.mqtt_port, keepalive=30)
    c.loop_start()
    wait_for(c.is_connected, 15, what=f"{user} connected")
    return c


def _close(c: mqtt.Client) -> None:
    c.disconnect()
    c.loop_stop()
    c._reset_sockets()


def test_a_gateway_publishes_only_under_its_own_id_and_reads_nothing(rig: ClusterRig, uid: str) -> None:
    got: list[mqtt.MQTTMessage] = []
    watcher = _client(rig, *service_credentials(rig.cfg, Account.SIM), f"svc_sim_watch_{uid}", node=1)
    watcher.on_message = lambda c, u, m: got.append(m)
    watcher.subscribe("sw/v1/#", qos=0)
    spy: list[mqtt.MQTTMessage] = []
    z = _client(rig, "cgw-z", rig.passwords["cgw-z"], "cgw-z")
    granted: list = []
    z.on_subscribe = lambda c, u, mid, rcs, p: granted.extend(rcs)
    z.on_message = lambda c, u, m: spy.append(m)
    z.subscribe("sw/v1/#", qos=1)
    wait_for(lambda: granted, 10, what="SUBACK to the gateway")
    time.sleep(0.5)  # the watcher's subscription reaches every node
    now = time.time_ns() // 1_000_000
    own = encode(Message("cgw-z", f"wm-own-{uid}", Channel.READING, Kind.WATER_METER, now, 1, {"total_l": 1.0}))
    other = encode(Message("cgw-a", f"wm-forged-{uid}", Channel.READING, Kind.WATER_METER, now, 1, {"total_l": 1.0}))
    infos = [z.publish(*own, qos=1), z.publish(*other, qos=1), z.publish("sw/alerts/x", b"{}", qos=1)]
    for i in infos:
        i.wait_for_publish(10)  # MQTT 3.1.1 has no reason code: a refused publish is acknowledged and dropped
    wait_for(lambda: any(m.topic == own[0] for m in got), 10, what="the gateway's own reading at the watcher")
    time.sleep(1.0)
    topics = {m.topic for m in got}
    assert own[0] in topics
    assert other[0] not in topics and "sw/alerts/x" not in topics
    assert granted and all(rc.is_failure for rc in granted), granted  # NATS refuses the subscription (SUBACK 0x80)
    assert spy == []
    _close(z)
    _close(watcher)


def _connack(rig: ClusterRig, user: str | None, password: str | None) -> list:
    n = rig.cfg.broker.nats_nodes[0]
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="cgw-a", protocol=mqtt.MQTTv311)
    if user:
        c.username_pw_set(user, password)
    codes: list = []
    c.on_connect = lambda cl, u, f, rc, p: codes.append(rc)
    c.connect(n.host, n.mqtt_port)
    c.loop_start()
    wait_for(lambda: codes, 10, what="CONNACK")
    c.loop_stop()
    c._reset_sockets()
    return codes


def test_only_known_accounts_log_in(rig: ClusterRig) -> None:
    assert not _connack(rig, "cgw-a", rig.passwords["cgw-a"])[0].is_failure
    for user, pw in (("cgw-a", "wrong"), ("svc_ingest", "wrong"), ("cgw-a", rig.passwords["cgw-b"]), (None, None)):
        assert _connack(rig, user, pw)[0].is_failure, user


def test_a_gateway_added_while_the_cluster_runs_can_log_in(rig: ClusterRig, uid: str) -> None:
    gw = f"cgw-new-{uid[:6]}"
    _, password = add_gateway(rig.cfg.state_path / "broker", gw)
    assert _connack(rig, gw, password)[0].is_failure  # not yet in the nodes' users
    assert reload_running_broker(rig.cfg.state_path / "broker")  # what `shouwang broker add-gateway` calls
    wait_for(lambda: not _connack(rig, gw, password)[0].is_failure, 10, what="the new gateway accepted")
    assert _connack(rig, "cgw-a", rig.passwords["cgw-a"])[0].is_failure is False  # the others still are
    assert _connack(rig, *service_credentials(rig.cfg, Account.SIM))[0].is_failure is False
    assert _connack(rig, "svc_ingest", "wrong")[0].is_failure


def test_kill_the_gateways_node_then_an_ingest_worker_under_load_loses_nothing(rig: ClusterRig, uid: str) -> None:
    workers = IngestWorkers(rig.cfg, rig.config_file, 2).start()
    tag = f"k{uid[:5]}"
    load = Load(sim_target(rig.cfg, first=0), rig.creds("cgw-a", "cgw-b", "cgw-c"), devices_per_gateway=4,
                rate=300.0, tag=tag).start()
    try:
        wait_for(lambda: len(load.sent) > 600, 30, what="load running")
        rig.cluster.kill(0)  # every gateway connected to node 0 first
        killed_node_at = len(load.sent)
        wait_for(lambda: len(load.sent) > killed_node_at + 900, 60, what="load going on after the node died")
        workers.workers[0].kill()
        killed_worker_at = len(load.sent)
        wait_for(lambda: len(load.sent) > killed_worker_at + 900, 60, what="load going on after the worker died")
        stats = load.stop()
    finally:
        if load.stats is None:
            load._stop.set()
    sent = load.sent
    try:
        wait_for(lambda: set(stored(rig.influx, tag)) >= sent, 60, what="every acknowledged reading stored")
    finally:
        got = stored(rig.influx, tag)
        workers.stop()
        rig.cluster.restart(0)
    lost = sent - set(got)
    report = {"sent": stats.sent, "acked": stats.acked, "unacked": stats.unacked, "failed": stats.failed,
              "reconnects": stats.reconnects, "stored": len(set(got) & sent), "lost": len(lost)}
    print(json.dumps(report))
    assert stats.sent == len(sent) and stats.unacked == 0 and stats.failed == 0 and stats.acked == stats.sent
    assert stats.reconnects >= 3, "each gateway lost its node and reconnected to another"
    assert lost == set(), f"{len(lost)} acknowledged readings not stored, e.g. {sorted(lost)[:5]}"
