"""Simulator throughput into a real Mosquitto: a 24 h day of a 500-device community, against mosquitto_pub.

Run it from the repository root:

    .venv/bin/python benchmarks/sim_replay.py            # the whole day (~130,000 messages)
    .venv/bin/python benchmarks/sim_replay.py --short    # the first three hours, well under a minute
    .venv/bin/python benchmarks/sim_replay.py --json out.json

It starts its own Mosquitto (the project's generated config and ACL, a temp state dir, a free
port) with credentials for the 8 gateways of the `community-500` scenario (440 water meters,
40 call buttons, 5 river gauges, 15 cameras). Every publisher uses QoS 1 and waits for every
PUBACK; nothing subscribes, so what is measured is publishers -> broker.

  A  generate + publish: `shouwang sim run community-500 --fast` as a user runs it (a child
     process; 8 paho MQTT v5 clients, one per gateway). Wall time of the whole process,
     Python start-up and connections included; the run's own summary also gives the time
     from the first generated message to the last PUBACK.
  B  replay: `shouwang sim replay DAY.jsonl.gz --fast` of the same day, written to a record
     file beforehand (`sim run --out`), so nothing is generated during the run.
  C  baseline, the broker's ceiling: the same payload bytes, one `mosquitto_pub -l -q 1`
     per gateway (8 in parallel, each logged in as its gateway, all of the gateway's
     messages as lines on one topic sw/v1/{gw}/bench/reading). A C client, one connection
     per gateway: the fastest honest way to push these messages through this broker.
  D  baseline, same topics: one `mosquitto_pub -l` per topic (961 topics, 8 at a time), so
     every message goes to its real topic. This is what "mosquitto_pub per topic" costs:
     each topic pays a process, a connection and mosquitto_pub's wait before it exits.

Figures: messages/s of A and B, their ratios to C and D, and the wall time of the day.
Goals (reported, not enforced): A >= 0.5 x C, and the day in under 60 s. Exit status 0 when
every message of every run was acknowledged, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from broker_config import add_gateway  # noqa: E402
from firmware_sim.recordfile import RecordReader  # noqa: E402
from firmware_sim.scenario import load_scenario  # noqa: E402
from shouwang.config import load_config  # noqa: E402
from shouwang.procs import free_port  # noqa: E402
from shouwang.services import mosquitto_process  # noqa: E402

SCENARIO = "community-500"
DAY = "2025-06-02"
GOAL_RATIO, GOAL_DAY_S = 0.5, 60.0


def shouwang(config: Path, *args: str) -> tuple[float, subprocess.CompletedProcess]:
    """Run a shouwang command; (wall seconds, result)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOUWANG_")}
    t0 = time.monotonic()
    out = subprocess.run([sys.executable, "-m", "shouwang", "--config", str(config), *args], capture_output=True,
                         text=True, env=env, check=False)
    wall = time.monotonic() - t0
    if out.returncode != 0:
        raise SystemExit(f"shouwang {' '.join(args)} failed ({out.returncode}):\n{out.stderr[-2000:]}")
    return wall, out


def mosquitto_pub(port: int, user: str, password: str, topic: str, lines: Path) -> int:
    with open(lines, "rb") as fh:
        return subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-V", "mqttv5", "-q", "1",
                               "-u", user, "-P", password, "-t", topic, "-l"], stdin=fh, capture_output=True,
                              check=False).returncode


def check(ok: bool, cond: bool, what: str) -> bool:
    if not cond:
        print(f"not all acknowledged: {what}", file=sys.stderr)
    return ok and cond


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--short", action="store_true", help="three hours of the day instead of 24")
    ap.add_argument("--skip-per-topic", action="store_true", help="leave out baseline D (it takes ~25 s)")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = ap.parse_args()
    if shutil.which("mosquitto_pub") is None:
        raise SystemExit("mosquitto_pub not found: install the Debian package mosquitto-clients")
    window = ["--duration", "3h"] if args.short else []
    work = Path(tempfile.mkdtemp(prefix="sim-bench-"))
    config = work / "shouwang.toml"
    config.write_text(f'state_dir = "{work / "state"}"\n[broker]\nport = {free_port()}\nservice_port = {free_port()}\n'
                      "[ingest]\nmetrics_port = 0\n[sim]\nenabled = false\n")
    cfg = load_config(config, env={})
    gateways = load_scenario(SCENARIO).gateways
    broker = mosquitto_process(cfg)
    passwords = {gw: add_gateway(cfg.state_path / "broker", gw)[1] for gw in gateways}
    broker.start()
    ok = True
    try:
        # A: generate and publish
        wall_a, out = shouwang(config, "sim", "run", SCENARIO, "--fast", "--start", DAY, *window, "--no-progress",
                               "--summary-json", str(work / "a.json"))
        a = json.loads((work / "a.json").read_text())
        n = a["messages"]
        ok = check(ok, a["delivery"]["acked"] == n and not a["delivery"]["failed"], f"A: {a['delivery']}")
        # the same day as a record file, for B, C and D
        day = work / "day.jsonl.gz"
        shouwang(config, "sim", "run", SCENARIO, "--out", str(day), "--start", DAY, *window, "--no-progress")
        # B: replay
        wall_b, _ = shouwang(config, "sim", "replay", str(day), "--fast", "--no-progress",
                             "--summary-json", str(work / "b.json"))
        b = json.loads((work / "b.json").read_text())
        # the file also holds each gateway's retained birth message
        ok = check(ok, b["delivery"]["acked"] == b["messages"] == n + len(gateways), f"B: {b['delivery']}")
        by_gw: dict[str, list[bytes]] = defaultdict(list)
        by_topic: dict[str, list[bytes]] = defaultdict(list)
        for rec in RecordReader(day):
            if not rec.topic.endswith("/state"):
                by_gw[rec.topic.split("/")[2]].append(rec.payload)
                by_topic[rec.topic].append(rec.payload)
        assert sum(map(len, by_gw.values())) == n, "the file holds the run's messages"
        files = work / "lines"
        files.mkdir()
        for gw, payloads in by_gw.items():
            (files / f"{gw}.txt").write_bytes(b"\n".join(payloads) + b"\n")
        # C: mosquitto_pub per gateway, in parallel
        t0 = time.monotonic()
        with ThreadPoolExecutor(len(by_gw)) as pool:
            codes = list(pool.map(lambda gw: mosquitto_pub(cfg.broker.port, gw, passwords[gw],
                                                           f"sw/v1/{gw}/bench/reading", files / f"{gw}.txt"), by_gw))
        wall_c = time.monotonic() - t0
        ok = check(ok, not any(codes), f"C: mosquitto_pub exit codes {codes}")
        # D: mosquitto_pub per topic, as many at a time as there are gateways
        wall_d = None
        if not args.skip_per_topic:
            jobs = []
            for i, (topic, payloads) in enumerate(sorted(by_topic.items())):
                path = files / f"t{i}.txt"
                path.write_bytes(b"\n".join(payloads) + b"\n")
                jobs.append((topic.split("/")[2], topic, path))
            t0 = time.monotonic()
            with ThreadPoolExecutor(len(by_gw)) as pool:
                codes = list(pool.map(lambda j: mosquitto_pub(cfg.broker.port, j[0], passwords[j[0]], j[1], j[2]),
                                      jobs))
            wall_d = time.monotonic() - t0
            ok = check(ok, not any(codes), f"D: {sum(1 for c in codes if c)} mosquitto_pub runs failed")
    finally:
        broker.stop()
        shutil.rmtree(work, ignore_errors=True)

    rate = {"A generate+publish": n / wall_a, "A (run only)": n / a["wall_s"], "B replay": b["messages"] / wall_b,
            "C mosquitto_pub per gateway": n / wall_c}
    if wall_d:
        rate["D mosquitto_pub per topic"] = n / wall_d
    span = "3 h" if args.short else "24 h"
    print(f"\n{SCENARIO}: {span} of 500 devices on {len(gateways)} gateways = {n:,} messages, QoS 1, "
          "every PUBACK awaited\n")
    print(f"{'run':32} {'wall s':>8} {'msg/s':>9} {'x C':>6} {'x D':>6}")
    walls = {"A generate+publish": wall_a, "A (run only)": a["wall_s"], "B replay": wall_b,
             "C mosquitto_pub per gateway": wall_c, "D mosquitto_pub per topic": wall_d}
    for name, r in rate.items():
        x_d = f"{r / rate['D mosquitto_pub per topic']:6.2f}" if wall_d else "     -"
        print(f"{name:32} {walls[name]:8.2f} {r:9,.0f} {r / rate['C mosquitto_pub per gateway']:6.2f} {x_d}")
    ratio = rate["A generate+publish"] / rate["C mosquitto_pub per gateway"]
    day_s = wall_a * (1 if not args.short else 8)
    print(f"\ngoal A >= {GOAL_RATIO} x C (broker ceiling): {ratio:.2f} -> {'met' if ratio >= GOAL_RATIO else 'MISSED'}")
    if wall_d:
        ratio_d = rate["A generate+publish"] / rate["D mosquitto_pub per topic"]
        print(f"goal A >= {GOAL_RATIO} x D (same topics): {ratio_d:.2f} -> "
              f"{'met' if ratio_d >= GOAL_RATIO else 'MISSED'}")
    print(f"goal the day in < {GOAL_DAY_S:.0f} s: {day_s:.1f} s{' (3 h x 8, estimated)' if args.short else ''} -> "
          f"{'met' if day_s < GOAL_DAY_S else 'MISSED'}")
    print("all messages acknowledged" if ok else "SOME MESSAGES WERE NOT ACKNOWLEDGED")
    if args.json:
        args.json.write_text(json.dumps({"messages": n, "span": span, "wall_s": walls, "msg_per_s": rate,
                                         "ratio_a_to_c": ratio, "day_s": day_s, "all_acked": ok}, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
