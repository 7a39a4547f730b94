"""A 3-node NATS JetStream cluster on loopback (free ports), influxd, and gateway credentials, per module; and what
the cluster tests do on it as gateways: a gateway's MQTT connection, an intruder with another's credentials, an edge
agent reading a simulated meter."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from benchmarks.clusterrig import IngestWorkers, NatsCluster, free_nodes, write_cluster_config
from broker_config import add_gateway
from broker_config.jetstream import ensure_ingest_consumer
from firmware_sim.serial import MeterBus, PtyPort, SimMeter
from shouwang.config import Config, load_config
from shouwang.procs import ChildProcess, free_port, free_port_pair
from shouwang.services import influxd_process
from storage.influx import InfluxClient
from tests.alerts.conftest import PostgresCluster
from tests.edge_agent.conftest import AgentProcess, write_agent_config
from tests.helpers import wait_for

GATEWAYS = ("cgw-a", "cgw-b", "cgw-c", "cgw-d", "cgw-z")  # cgw-z: the one that tries what it may not
# (with alerts.partitions = 2, cgw-d is in partition 1, the others in partition 0)
ACK_WAIT_S = 5.0  # a killed worker's messages go to the others after this
M1 = "00000000000001"  # the address of the agent's simulated meter (metered_agent)


@dataclass
class ClusterRig:
    cfg: Config
    config_file: Path
    cluster: NatsCluster
    influxd: ChildProcess
    influx: InfluxClient
    passwords: dict[str, str]
    started_in_s: float

    def creds(self, *gateways: str) -> dict[str, tuple[str, str]]:
        return {gw: (gw, self.passwords[gw]) for gw in gateways}


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    cluster = PostgresCluster().start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterRig]:
    if shutil.which("nats-server") is None:
        pytest.fail("nats-server is not installed: scripts/setup.sh installs Debian's nats-server")
    state = tmp_path_factory.mktemp("cluster")
    config_file = write_cluster_config(
        state / "shouwang.toml", state, free_nodes(3),
        influx={"port": free_port_pair()},
        ingest={"metrics_port": free_port(), "batch_size": 500, "flush_interval_ms": 100, "retry_max_s": 1.0,
                "ack_wait_s": ACK_WAIT_S})
    cfg = load_config(config_file, env={})
    passwords = {gw: add_gateway(cfg.state_path / "broker", gw)[1] for gw in GATEWAYS}
    cluster = NatsCluster(cfg)  # writes the node configs, gateways included
    influxd = influxd_process(cfg)
    influx = InfluxClient(cfg.influx)
    try:
        started = cluster.start()
        influxd.start()
        ensure_ingest_consumer(cfg, ack_wait_s=ACK_WAIT_S)
        yield ClusterRig(cfg, config_file, cluster, influxd, influx, passwords, started)
    finally:
        influx.close()
        influxd.stop()
        cluster.stop()


# --- gateways on the cluster -------------------------------------------------------------------------------------


class Gateway:
    """A gateway on MQTT 3.1.1 (QoS 1) to one node; publish() returns the message's paho info."""

    def __init__(self, rig: ClusterRig, gw: str, client_id: str | None = None, node: int = 0) -> None:
        self.c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id or gw, protocol=mqtt.MQTTv311,
                             clean_session=False)
        self.c.username_pw_set(gw, rig.passwords[gw])
        self.c.max_inflight_messages_set(100)
        self.disconnects = 0
        self.c.on_disconnect = lambda *a: setattr(self, "disconnects", self.disconnects + 1)
        n = rig.cfg.broker.nats_nodes[node]
        self.c.connect(n.host, n.mqtt_port, keepalive=30)
        self.c.loop_start()
        wait_for(self.c.is_connected, 15, what=f"{gw} connected")

    def publish(self, topic: str, body: bytes) -> mqtt.MQTTMessageInfo:
        return self.c.publish(topic, body, qos=1)

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()
        self.c._reset_sockets()


class Intruder:
    """cgw-z's credentials connecting with other clients' ids, one after another, until stopped."""

    def __init__(self, rig: ClusterRig, client_ids: list[str]) -> None:
        self.rig, self.ids = rig, client_ids
        self.accepted = 0
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, name="intruder", daemon=True)

    def _run(self) -> None:
        n = self.rig.cfg.broker.nats_nodes[1]
        i = 0
        while not self.stop_event.is_set():
            cid = self.ids[i % len(self.ids)]
            i += 1
            c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=cid, protocol=mqtt.MQTTv311, clean_session=False)
            c.username_pw_set("cgw-z", self.rig.passwords["cgw-z"])
            codes: list = []
            c.on_connect = lambda cl, u, f, rc, p, codes=codes: codes.append(rc)
            try:
                c.connect(n.host, n.mqtt_port, keepalive=10)
                c.loop_start()
                deadline = time.monotonic() + 3
                while not codes and time.monotonic() < deadline:
                    time.sleep(0.02)
                if codes and not codes[0].is_failure:
                    self.accepted += 1
                self.stop_event.wait(0.3)
                c.disconnect()
            except OSError:
                pass
            finally:
                c.loop_stop()
                c._reset_sockets()

    def start(self) -> Intruder:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(10)


def stored_seqs(rig: ClusterRig, device: str) -> list[int]:
    """The seqs of a water meter's readings in InfluxDB, in order."""
    return sorted(int(r["seq"]) for r in rig.influx.rows(f"SELECT seq FROM water_meter WHERE device = '{device}'"))


@contextmanager
def metered_agent(rig: ClusterRig, tmp: Path, gateway: str, device: str, uid: str) -> Iterator[AgentProcess]:
    """The edge agent of `gateway` on the cluster (MQTT 3.1.1 to node 0, the other nodes as fallbacks, reconnecting
    within 0.2-1 s) polling one simulated CJ/T 188 meter (`device`, address M1) every 0.2 s, and one ingest worker
    storing what it sends. Stops the agent, the worker and the meter after."""
    urls = [f"mqtt://{n.host}:{n.mqtt_port}" for n in rig.cfg.broker.nats_nodes]
    mqtt_cfg = {"url": urls[0], "fallback_urls": urls[1:], "protocol": "3.1.1", "password": rig.passwords[gateway],
                "reconnect_min_s": 0.2, "reconnect_max_s": 1.0}
    config = write_agent_config(tmp / "agent.toml", gateway=gateway, state_dir=tmp / "state", mqtt=mqtt_cfg,
                                drivers=[{"driver": "cjt188", "id": f"meters-{uid}", "port": str(tmp / "meters"),
                                          "poll_s": 0.2, "timeout_s": 0.3, "meters": [{"device": device, "address": M1}]}])
    bus = MeterBus(PtyPort(tmp / "meters"), [SimMeter(M1)], lambda address, now: (1000.0 + now % 1000, None))
    bus.start()
    workers = IngestWorkers(rig.cfg, rig.config_file, 1).start()
    agent = AgentProcess(config, tmp / "agent.log").start()
    try:
        yield agent
    finally:
        agent.stop()
        workers.stop()
        bus.stop()
