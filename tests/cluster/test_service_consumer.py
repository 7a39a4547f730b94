"""A service's MQTT durable consumer (broker_config.consumer: the alerts engine's) on the cluster: MQTT 3.1.1,
a persistent session that keeps what arrives while the service is away, manual acks, and failover to another
node when its node dies."""

from __future__ import annotations

import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from broker_config import Account
from broker_config.consumer import Consumer, Delivery
from tests.cluster.conftest import ClusterRig
from tests.helpers import wait_for
from wire import Message, encode
from wire.models import Channel, Kind


class Received:
    def __init__(self) -> None:
        self.seqs: set[int] = set()
        self.deliveries: list[Delivery] = []
        self.lock = threading.Lock()

    def __call__(self, d: Delivery) -> None:
        with self.lock:
            self.deliveries.append(d)
            if d.message.topic.endswith("/reading"):
                self.seqs.add(int(d.message.payload.split(b'"seq":')[1].split(b",")[0]))

    def take(self) -> list[Delivery]:
        with self.lock:
            out, self.deliveries = self.deliveries, []
        return out


def _gateway(rig: ClusterRig, node: int) -> mqtt.Client:
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="cgw-c", protocol=mqtt.MQTTv311, clean_session=False)
    c.username_pw_set("cgw-c", rig.passwords["cgw-c"])
    n = rig.cfg.broker.nats_nodes[node]
    c.connect(n.host, n.mqtt_port)
    c.loop_start()
    wait_for(c.is_connected, 15, what="gateway connected")
    return c


def _publish(c: mqtt.Client, device: str, seqs: range) -> None:
    now = time.time_ns() // 1_000_000
    infos = [c.publish(*encode(Message("cgw-c", device, Channel.READING, Kind.WATER_METER, now + s, s,
                                       {"total_l": float(s)})), qos=1) for s in seqs]
    for i in infos:
        i.wait_for_publish(20)


def test_the_alerts_consumer_keeps_its_session_and_fails_over(rig: ClusterRig, uid: str) -> None:
    device = f"wm-svc-{uid}"
    got = Received()
    client_id = f"svc_alerts_{uid}"
    topic = f"sw/v1/cgw-c/{device}/reading"

    def consumer() -> Consumer:
        c = Consumer(rig.cfg, Account.ALERTS, client_id, topic, on_message=got, session_expiry_s=3600,
                     reconnect_max_s=1.0)
        c.start()
        assert c.ready.wait(20), "subscription granted"
        return c

    gw = _gateway(rig, node=2)
    c = consumer()  # on node 0: the first address
    try:
        _publish(gw, device, range(1, 51))
        wait_for(lambda: got.seqs >= set(range(1, 51)), 20, what="the first 50 readings")
        assert c.ack(got.take()) == (50, 0)
        c.stop()
        _publish(gw, device, range(51, 101))  # while the service is away: kept in its session
        c = consumer()
        wait_for(lambda: got.seqs >= set(range(1, 101)), 20, what="the 50 published while away")
        c.ack(got.take())
        # its node dies while readings flow: it reconnects to the next node, and what it had not acknowledged
        # comes again
        assert c.port == rig.cfg.broker.nats_nodes[0].mqtt_port
        rig.cluster.kill(0)
        _publish(gw, device, range(101, 201))
        wait_for(lambda: got.seqs >= set(range(1, 201)), 30, what="every reading after the failover")
        assert c.port != rig.cfg.broker.nats_nodes[0].mqtt_port and c.connected
    finally:
        c.stop()
        gw.disconnect()
        gw.loop_stop()
        if not rig.cluster.procs[0].running():
            rig.cluster.restart(0)
