"""Failover time of the standby alerts engine: kill -9 of the active engine, again and again, under load.

Run it from the repository root:

    .venv/bin/python benchmarks/alerts_failover.py            # 10 kills, about 3 minutes
    .venv/bin/python benchmarks/alerts_failover.py --short    # 2 kills; the test suite runs this
    .venv/bin/python benchmarks/alerts_failover.py --kills 8 --baseline 59f1027
                      # the same run, under the same load, alternates the standby between this tree and
                      # revision 59f1027 (a cold standby): figures for each, and the ratio

Stack, in a temp dir on free ports: real Mosquitto (project config), influxd, a private PostgreSQL cluster (the
tests' fixture class), the registry of 1,000 households (200 with --short) with a call button each (gateway gw-a) and a water meter
each (gw-b), and two `shouwang alerts run` engines on the one PostgreSQL store, each with a state dir of its own,
default lease (TTL 5 s, renewed every 1 s). Load: a press on the next household every 0.2 s and 25 water readings
a second, QoS 1 from the gateways' listener. Each round: wait until one engine is active and the other stands
by, kill -9 the active one, time until the standby is active (its beat file says so; polled every 50 ms) and
until the first press made after the kill is an alert in the store (polled every 50 ms), then start the killed
engine again as the new standby.

Figures: failover (kill -> standby active) median and max over the kills, against the goal of 10 s (with
--baseline, for each version of the standby that took over, and their ratio); press to alert for the first press
after each kill; presses sent, alerted, alerted twice; the load average during the run. Exit status 0 when every press
is alerted exactly once and the longest failover is under 10 s.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository, for the tests' rig

from broker_config import add_gateway  # noqa: E402
from registry.csvio import import_rows  # noqa: E402
from shouwang.config import load_config  # noqa: E402
from shouwang.procs import free_port, free_port_pair  # noqa: E402
from shouwang.services import influxd_process, mosquitto_process  # noqa: E402
from storage.sql import Database  # noqa: E402
from tests.alerts.conftest import PostgresCluster  # noqa: E402
from tests.alerts.test_standby import AlertWatch, EngineProc, PressLoad, registry_csv  # noqa: E402
from tests.helpers import MqttPeer, wait_for  # noqa: E402

GOAL_S = 10.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--short", action="store_true", help="2 kills instead of 10")
    ap.add_argument("--kills", type=int, default=None)
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (logs)")
    ap.add_argument("--baseline", metavar="REV", help="alternate the standby with this git revision's engine")
    args = ap.parse_args()
    kills = args.kills or (2 if args.short else 10)
    households = 200 if args.short else 1000
    root = Path(tempfile.mkdtemp(prefix="shouwang-failover-"))
    state = root / "stack"
    state.mkdir()
    repo = Path(__file__).resolve().parent.parent
    baseline: Path | None = None
    if args.baseline:
        baseline = root / "baseline"
        baseline.mkdir()
        archive = subprocess.run(["git", "-C", str(repo), "archive", args.baseline], check=True, capture_output=True)
        subprocess.run(["tar", "-x", "-C", str(baseline)], input=archive.stdout, check=True)
    cfg_file = root / "stack.toml"
    cfg_file.write_text(f'state_dir = "{state}"\n[broker]\nport = {free_port()}\nservice_port = {free_port()}\n'
                        f"[influx]\nport = {free_port_pair()}\n")
    cfg = load_config(cfg_file, env={})
    broker = mosquitto_process(cfg)
    passwords = {gw: add_gateway(cfg.state_path / "broker", gw)[1] for gw in ("gw-a", "gw-b")}
    broker.start()
    influxd = influxd_process(cfg)
    influxd.start()
    pg = PostgresCluster().start()
    engines: list[EngineProc] = []
    peers: list[MqttPeer] = []
    watch = None
    ok = False
    try:
        url = pg.create_database()
        with Database(url) as db:
            assert import_rows(db, registry_csv(households, "gw-a", "gw-b", "bench")).errors == []
        generation = 0

        version_of: dict[str, str] = {}

        def engine() -> EngineProc:
            """The next engine; with --baseline every other one (the standbys of odd kills) is the baseline's."""
            nonlocal generation
            generation += 1
            old = baseline is not None and generation % 2 == 1
            e = EngineProc(f"engine-{generation}", root, cfg.broker.port, cfg.broker.service_port, cfg.influx.port,
                           url, "svc_alerts_bench", source=baseline if old else None)
            version_of[e.name] = args.baseline if old else "this tree"
            return e.start()

        gw_a = MqttPeer(cfg.broker.port, "gw-a", passwords["gw-a"]).start()
        gw_b = MqttPeer(cfg.broker.port, "gw-b", passwords["gw-b"]).start()
        peers = [gw_a, gw_b]
        watch = AlertWatch(url)
        active, standby = engine(), None
        wait_for(lambda: active.role() == "active", 60, what="the first engine active")
        standby = engine()
        engines = [active, standby]
        load = PressLoad({"gw-a": gw_a}, gw_b, households, "bench", {i: "gw-a" for i in range(households)},
                         press_every=0.2, readings_per_press=5).start()
        failovers: list[float] = []
        first_press: list[float] = []
        by_version: dict[str, list[float]] = {}
        loads: list[float] = []
        for n in range(kills):
            wait_for(lambda: standby.role() == "standby" and active.role() == "active", 120,
                     what="one active engine and one standing by")
            time.sleep(2.0)  # load on the active engine
            t_kill = time.monotonic()
            next_press = load.next
            active.kill()
            wait_for(lambda: standby.role() == "active", 60, what="the standby taking over")
            failovers.append(time.monotonic() - t_kill)
            by_version.setdefault(version_of[standby.name], []).append(failovers[-1])
            loads.append(os.getloadavg()[0])
            wait_for(lambda: next_press in watch.seen, 60, what="the first press after the kill alerted")
            first_press.append(watch.seen[next_press] - load.pressed[next_press][0] / 1000)
            print(f"kill {n + 1}: failover {failovers[-1]:.2f} s to a standby of {version_of[standby.name]}, first "
                  f"press after the kill alerted after {first_press[-1]:.2f} s (load average {loads[-1]:.1f})", flush=True)
            active, standby = standby, engine()
            engines.append(standby)
            if load.next >= households:
                break
        load.stop()
        load.wait_acked()
        sent = load.next
        wait_for(lambda: len(watch.per_household()) >= sent, 60, what="every press alerted")
        counts = watch.per_household()
        alerted = sum(1 for i in range(sent) if counts.get(i, 0) >= 1)
        twice = sum(1 for i in range(sent) if counts.get(i, 0) > 1)
        med, worst = statistics.median(failovers), max(failovers)
        print(f"\nfailover (kill -9 -> standby active), {len(failovers)} kills, lease TTL 5 s: median {med:.2f} s, "
              f"max {worst:.2f} s; goal < {GOAL_S:.0f} s (ratio {worst / GOAL_S:.2f})")
        for version, times in by_version.items():
            print(f"  standby of {version}: {len(times)} kills, median {statistics.median(times):.2f} s, "
                  f"max {max(times):.2f} s")
        if baseline is not None and len(by_version) == 2:
            new, old = by_version["this tree"], by_version[args.baseline]
            print(f"  this tree / {args.baseline}: median {statistics.median(new) / statistics.median(old):.2f}, "
                  f"max {max(new) / max(old):.2f}")
        print(f"load average (1 min) at the kills: {min(loads):.1f} to {max(loads):.1f}")
        print(f"first press after a kill -> alert: median {statistics.median(first_press):.2f} s, "
              f"max {max(first_press):.2f} s")
        print(f"presses sent {sent}, alerted {alerted}, alerted twice {twice}")
        ok = alerted == sent and twice == 0 and max(by_version.get("this tree", failovers)) < GOAL_S
        return 0 if ok else 1
    finally:
        if watch is not None:
            watch.close()
        for p in peers:
            p.stop()
        for e in engines:
            e.stop()
        pg.stop()
        influxd.stop()
        broker.stop()
        if args.keep or not ok:
            print(f"logs kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
