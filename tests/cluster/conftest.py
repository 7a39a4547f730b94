"""A 3-node NATS JetStream cluster on loopback (free ports), influxd, and gateway credentials, per module."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from benchmarks.clusterrig import NatsCluster, free_nodes, write_cluster_config
from broker_config import add_gateway
from broker_config.jetstream import ensure_ingest_consumer
from shouwang.config import Config, load_config
from shouwang.procs import ChildProcess, free_port, free_port_pair
from shouwang.services import influxd_process
from storage.influx import InfluxClient
from tests.alerts.conftest import PostgresCluster

GATEWAYS = ("cgw-a", "cgw-b", "cgw-c", "cgw-d", "cgw-z")  # cgw-z: the one that tries what it may not
# (with alerts.partitions = 2, cgw-d is in partition 1, the others in partition 0)
ACK_WAIT_S = 5.0  # a killed worker's messages go to the others after this


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
