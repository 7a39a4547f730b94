"""A NATS JetStream cluster on loopback for the cluster tests and benchmarks/cluster_throughput.py.

    cluster = NatsCluster(cfg)      # cfg.broker.kind == "nats", nodes on free ports (free_nodes())
    cluster.start()                 # every node, then waits until each says JetStream is ready
    cluster.kill(i) / cluster.restart(i)
    cluster.stop()

The nodes run nats-server with the configs broker_config.nats writes; their stores live under the state dir.
Also: write_cluster_config, IngestWorkers (`shouwang ingest` processes sharing the durable consumer), Load
(simulated gateways through firmware_sim's MqttTransport, failing over between the nodes) and stored().
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from broker_config import gateway_endpoints
from broker_config.nats import NatsFiles, write_nats_files
from broker_config.settings import BrokerSettings, NatsNode
from firmware_sim.mqtt import BrokerTarget, MqttTransport, TransportStats
from firmware_sim.stream import Outgoing
from ground.errors import ServiceError
from shouwang.config import Config
from shouwang.procs import ChildProcess, free_port, port_open
from storage.influx import InfluxClient
from wire import Message, encode
from wire.models import Channel, Kind


def free_nodes(n: int = 3) -> list[dict]:
    """n loopback nodes on free ports, as config dicts."""
    ports: list[int] = []
    while len(ports) < 4 * n:
        p = free_port()
        if p not in ports:
            ports.append(p)
    return [{"name": f"n{i + 1}", "client_port": ports[4 * i], "mqtt_port": ports[4 * i + 1],
             "route_port": ports[4 * i + 2], "monitor_port": ports[4 * i + 3]} for i in range(n)]


def healthy(node: NatsNode, server_only: bool = False) -> bool:
    """The node answers /healthz with ok: JetStream is up and every replica on it has caught up with the cluster
    (server_only: the node is back in the cluster's JetStream, its replicas may still be catching up)."""
    q = "?js-server-only=true" if server_only else ""
    try:
        return httpx.get(f"http://{node.host}:{node.monitor_port}/healthz{q}", timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


class NatsCluster:
    def __init__(self, cfg: BrokerSettings) -> None:
        self.cfg = cfg
        self.nodes = list(cfg.broker.nats_nodes)
        self.files: NatsFiles = write_nats_files(cfg)
        binary = shutil.which(cfg.broker.nats_server)
        if binary is None:
            raise ServiceError(f"{cfg.broker.nats_server} not found: install the Debian package 'nats-server'")
        self.binary = binary
        self.procs = [ChildProcess(f"nats-{n.name}", [binary, "-c", str(conf)], log,
                                   ready=lambda n=n: port_open(n.host, n.client_port))
                      for n, conf, log in zip(self.nodes, self.files.confs, self.files.logs, strict=True)]

    def version(self) -> str:
        return subprocess.run([self.binary, "--version"], capture_output=True, text=True, check=False).stdout.strip()

    def start(self, timeout: float = 60.0) -> float:
        """Start every node and wait until all are healthy; returns the seconds it took."""
        t0 = time.monotonic()
        for p in self.procs:
            if not p.running():
                p.start(timeout=timeout)
        self.wait_healthy(timeout)
        return time.monotonic() - t0

    def wait_healthy(self, timeout: float = 60.0, nodes: list[int] | None = None, server_only: bool = False) -> None:
        idx = range(len(self.nodes)) if nodes is None else nodes
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(healthy(self.nodes[i], server_only) for i in idx if self.procs[i].running()):
                return
            time.sleep(0.1)
        raise ServiceError(f"NATS cluster not healthy in {timeout:.0f} s:\n" + "\n".join(p.tail(5) for p in self.procs))

    def kill(self, i: int) -> None:
        """SIGKILL node i, as a power cut of that machine would."""
        self.procs[i].kill()

    def restart(self, i: int, timeout: float = 60.0) -> None:
        """Start a killed node again and wait until it is back in the cluster's JetStream. Not until /healthz is
        ok: once, a restarted node's replica of the idle `ingest` consumer (nobody pulling, 200 messages
        pending) stayed "not current" for over 60 s (nats-server 2.9.10)."""
        self.procs[i].start(timeout=timeout)
        self.wait_healthy(timeout, [i], server_only=True)

    def stop(self) -> None:
        for p in self.procs:
            p.stop(sig=signal.SIGTERM)


# --- a whole rig: cluster, influxd, ingest workers, simulated gateways --------------------------------------------


def write_cluster_config(path: Path, state: Path, nodes: list[dict], **sections: dict) -> Path:
    """A shouwang config with broker.kind = "nats" and the given nodes (tables of [[broker.nats_nodes]])."""
    lines = [f'state_dir = "{state}"', "[broker]", 'kind = "nats"']
    lines += [f"{k} = {json.dumps(v)}" for k, v in sections.pop("broker", {}).items()]
    for name, values in sections.items():
        lines.append(f"[{name}]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in values.items()]
    for n in nodes:
        lines.append("[[broker.nats_nodes]]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in n.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def sim_target(cfg: BrokerSettings, first: int = 0) -> BrokerTarget:
    """Where simulated gateways connect: node `first`, then the others in turn (MQTT 3.1.1)."""
    addrs = [(h, p) for h, p, _ in gateway_endpoints(cfg)]
    addrs = addrs[first:] + addrs[:first]
    return BrokerTarget(addrs[0][0], addrs[0][1], fallbacks=tuple(addrs[1:]), mqtt311=not cfg.broker.mqtt_protocol_v5)


Key = tuple[str, int]  # (device, seq)


@dataclass
class Load:
    """Simulated gateways publishing water-meter readings at a steady rate (firmware_sim's MqttTransport)."""

    target: BrokerTarget
    credentials: dict[str, tuple[str, str]]
    devices_per_gateway: int = 5
    rate: float = 200.0
    tag: str = "cl"
    limit: int | None = None  # stop after this many messages (then: published_in_s)
    published_in_s: float = 0.0
    sent: set[Key] = field(default_factory=set)
    stats: TransportStats | None = None
    error: BaseException | None = None

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="load", daemon=True)

    def start(self) -> Load:
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            t = MqttTransport(self.target, self.credentials, window=20, client_prefix=self.tag)
            t.open(list(self.credentials))
            devices = [(gw, f"{self.tag}-{gw}-{d}") for gw in self.credentials for d in range(self.devices_per_gateway)]
            seq, i, t0 = 0, 0, time.monotonic()
            base_ms = time.time_ns() // 1_000_000
            while not self._stop.is_set() and (self.limit is None or i < self.limit):
                due = t0 + i / self.rate
                now = time.monotonic()
                if due > now:
                    t.pump(now + min(0.05, due - now))
                    continue
                gw, dev = devices[i % len(devices)]
                if i % len(devices) == 0:
                    seq += 1
                topic, payload = encode(Message(gw, dev, Channel.READING, Kind.WATER_METER, base_ms + seq * 10, seq,
                                                {"total_l": float(seq)}))
                t.send(Outgoing(0, topic, payload, gw))
                self.sent.add((dev, seq))
                i += 1
            t.flush(120)
            self.published_in_s = time.monotonic() - t0
            self.stats = t.close(60)
        except BaseException as exc:  # noqa: BLE001 (reported by stop())
            self.error = exc

    def stop(self, wait: bool = False) -> TransportStats:
        """Stop publishing (wait=True: let it reach its limit first) and return the counts."""
        if not wait:
            self._stop.set()
        self._thread.join(300)
        if self.error is not None:
            raise self.error
        assert self.stats is not None
        return self.stats


def stored(influx: InfluxClient, tag: str) -> Counter[Key]:
    """(device, seq) of the water-meter points of a load's devices, counted."""
    out: Counter[Key] = Counter()
    for r in influx.rows(f"SELECT seq FROM water_meter WHERE device =~ /^{tag}-/ GROUP BY device"):
        out[(r["device"], int(r["seq"]))] += 1
    return out


class IngestWorkers:
    """`shouwang ingest` processes sharing the durable consumer, each with its own metrics port."""

    def __init__(self, cfg: Config, config_file: Path, n: int) -> None:
        self.cfg, self.config_file = cfg, config_file
        self.workers: list[ChildProcess] = []
        self.ports: list[int] = []
        for _ in range(n):
            self.add()

    def add(self) -> ChildProcess:
        i = len(self.workers)
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("SHOUWANG_")}
        env["SHOUWANG_INGEST__METRICS_PORT"] = str(port)
        p = ChildProcess(f"ingest-{i}", [sys.executable, "-m", "shouwang", "--config", str(self.config_file), "ingest"],
                         self.cfg.state_path / "logs" / f"ingest-{i}.log", ready=lambda: True, env=env)
        self.workers.append(p)
        self.ports.append(port)
        return p

    @staticmethod
    def metric(port: int, name: str) -> float | None:
        try:
            text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
        except httpx.HTTPError:
            return None
        for line in text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return None

    def launch(self) -> IngestWorkers:
        """Start the worker processes side by side without waiting (from this thread: a child gets SIGTERM when
        the thread that started it ends, shouwang.procs)."""
        for p in self.workers:
            if not p.running():
                p.start(timeout=10)  # its ready() is "started"; subscribed() below is the real readiness
        return self

    def subscribed(self) -> bool:
        return all(self.metric(port, "ingest_subscribed") == 1.0 for port in self.ports)

    def start(self, timeout: float = 60.0) -> IngestWorkers:
        """Start the workers and wait until each has its subscription (the durable consumer) ready."""
        self.launch()
        deadline = time.monotonic() + timeout
        while not self.subscribed():
            if time.monotonic() > deadline:
                raise ServiceError("ingest workers not ready:\n" + "\n".join(p.tail(5) for p in self.workers))
            time.sleep(0.1)
        return self

    def acked(self) -> float:
        return sum(self.metric(port, "ingest_messages_acked_total") or 0.0 for port in self.ports)

    def stop(self) -> None:
        for p in self.workers:
            p.stop()
