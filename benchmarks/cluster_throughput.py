"""Ingest throughput on the NATS cluster with 1, 2 and 3 workers against Mosquitto with one, in one run.

Each phase: simulated gateways (firmware_sim's MqttTransport, QoS 1, a window of 20 each) publish N readings
while no ingest worker runs, so they wait in the broker (Mosquitto: ingest's persistent session; NATS: the
durable consumer on the replicated stream); then W `shouwang ingest` processes start and the phase times how
long until InfluxDB holds all N points. Reported: the publish rate (every PUBACK awaited) and the drain rate
(the slope of points stored between 20 % and 80 % of N, so the workers' start-up is left out; batches of
1,000 points so that the count moves in steps finer than the drain), and lost = acknowledged but not stored (must be 0).

    .venv/bin/python benchmarks/cluster_throughput.py            # 30,000 readings a phase (about 3 minutes)
    .venv/bin/python benchmarks/cluster_throughput.py --short    # 3,000 (the test suite runs this)
    ... --nats-server /path/to/nats-server                       # another server build than Debian's

Prints one JSON object per phase, then a table. Everything runs on this machine: a 3-node "cluster" on
loopback shares the 2 cores with influxd, the workers and the publisher, so it shows what the cluster costs
and that workers share the stream, not what three machines would do.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.clusterrig import IngestWorkers, Load, NatsCluster, free_nodes, sim_target, stored, write_cluster_config
from broker_config import add_gateway
from broker_config.jetstream import ensure_ingest_consumer
from firmware_sim.mqtt import BrokerTarget
from shouwang.config import load_config
from shouwang.procs import free_port, free_port_pair
from shouwang.services import influxd_process, mosquitto_process
from storage.influx import InfluxClient
from tests.conftest import write_config

GATEWAYS = ("bgw-1", "bgw-2", "bgw-3", "bgw-4")


def _count(influx: InfluxClient, tag: str) -> int:
    rows = influx.rows(f"SELECT count(seq) FROM water_meter WHERE device =~ /^{tag}-/")
    return int(rows[0]["count"]) if rows else 0


def phase(name: str, cfg, config_file: Path, target: BrokerTarget, creds: dict, influx: InfluxClient,
          workers: int, n: int) -> dict:
    tag = f"t{name.replace('-', '')}"
    load = Load(target, creds, devices_per_gateway=25, rate=1e9, tag=tag, limit=n).start()
    stats = load.stop(wait=True)
    pool = IngestWorkers(cfg, config_file, workers)
    # the drain rate is the slope of points stored between 20 % and 80 % of N, sampled from before the workers
    # start: their start-up (a second or two of imports and connecting) and the last partial batch are left out,
    # and a worker that connects early is not missed (on Mosquitto the queued messages flow at once)
    samples: list[tuple[float, int]] = []
    deadline = time.monotonic() + 300
    pool.launch()
    while time.monotonic() < deadline:
        c = _count(influx, tag)
        samples.append((time.monotonic(), c))
        if c >= n:
            break
        time.sleep(0.05)
    per_worker = [int(pool.metric(port, "ingest_messages_acked_total") or 0) for port in pool.ports]
    pool.stop()
    lo = next(((t, c) for t, c in samples if c >= n * 0.2), samples[-1])
    hi = next(((t, c) for t, c in samples if c >= n * 0.8), samples[-1])
    if hi[0] > lo[0]:
        rate = (hi[1] - lo[1]) / (hi[0] - lo[0])
    else:  # 20 % to 80 % landed between two samples: the whole drain from the workers' start, an underestimate
        rate = n / max(0.05, samples[-1][0] - samples[0][0])
    got = stored(influx, tag)
    lost = len(load.sent - set(got))
    return {"phase": name, "workers": workers, "messages": n, "publish_msg_s": round(n / load.published_in_s),
            "acked": stats.acked, "unacked": stats.unacked, "drain_msg_s": round(rate),
            "stored": len(set(got) & load.sent), "lost": lost,
            "acked_by_worker": per_worker}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--short", action="store_true", help="3,000 readings a phase (smoke run)")
    ap.add_argument("--messages", type=int, default=None)
    ap.add_argument("--nats-server", default="nats-server", help="server binary (default: Debian's on PATH)")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()
    n = args.messages or (3000 if args.short else 30000)
    logging.basicConfig(level=logging.WARNING)
    results = []
    with tempfile.TemporaryDirectory(prefix="cluster-bench-") as tmp:
        root = Path(tmp)
        influx_port = free_port_pair()
        ingest = {"batch_size": 1000, "flush_interval_ms": 200, "retry_max_s": 1.0}
        # --- Mosquitto, one worker (the default deployment) ---------------------------------------------
        state = root / "mosquitto"
        mcfg_file = write_config(root / "mosquitto.toml", state, broker={"port": free_port(), "service_port": free_port()},
                                 influx={"port": influx_port}, ingest={**ingest, "metrics_port": free_port()})
        mcfg = load_config(mcfg_file, env={})
        creds = {gw: (gw, add_gateway(mcfg.state_path / "broker", gw)[1]) for gw in GATEWAYS}
        influxd = influxd_process(mcfg)
        influxd.start()
        influx = InfluxClient(mcfg.influx)
        broker = mosquitto_process(mcfg)
        broker.start()
        try:
            IngestWorkers(mcfg, mcfg_file, 1).start().stop()  # its persistent session exists from now on
            host, port = "127.0.0.1", mcfg.broker.port
            results.append(phase("mosquitto-1", mcfg, mcfg_file, BrokerTarget(host, port), creds, influx, 1, n))
            print(json.dumps(results[-1]), flush=True)
        finally:
            broker.stop()
        # --- NATS cluster, 1, 2, 3 workers sharing the durable consumer ------------------------------------
        state = root / "nats"
        ncfg_file = write_cluster_config(root / "nats.toml", state, free_nodes(3),
                                         broker={"nats_server": args.nats_server},
                                         influx={"port": influx_port}, ingest={**ingest, "metrics_port": free_port()})
        ncfg = load_config(ncfg_file, env={})
        creds = {gw: (gw, add_gateway(ncfg.state_path / "broker", gw)[1]) for gw in GATEWAYS}
        cluster = NatsCluster(ncfg)
        version = cluster.version()
        try:
            started = cluster.start()
            ensure_ingest_consumer(ncfg)
            print(json.dumps({"cluster": version, "healthy_in_s": round(started, 2)}), flush=True)
            for w in (1, 2, 3):
                results.append(phase(f"nats-{w}", ncfg, ncfg_file, sim_target(ncfg), creds, influx, w, n))
                print(json.dumps(results[-1]), flush=True)
        finally:
            cluster.stop()
            influx.close()
            influxd.stop()
    base = results[0]["drain_msg_s"]
    print(f"\n{version}, {n} readings a phase, {len(GATEWAYS)} gateways x 25 devices")
    print(f"{'phase':<12} {'workers':>7} {'publish msg/s':>14} {'drain msg/s':>12} {'vs mosquitto-1':>15} {'lost':>5}")
    for r in results:
        print(f"{r['phase']:<12} {r['workers']:>7} {r['publish_msg_s']:>14,} {r['drain_msg_s']:>12,} "
              f"{r['drain_msg_s'] / base:>15.2f} {r['lost']:>5}")
    if args.json:
        args.json.write_text(json.dumps({"server": version, "messages": n, "phases": results}, indent=1))
    return 0 if all(r["lost"] == 0 and r["unacked"] == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
