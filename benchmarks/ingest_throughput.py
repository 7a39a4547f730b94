"""Ingest throughput and latency against real services: Mosquitto, influxd and `shouwang ingest`.

Run it from the repository root:

    .venv/bin/python benchmarks/ingest_throughput.py            # 100,000 messages, 20 s latency run
    .venv/bin/python benchmarks/ingest_throughput.py --short    # CI smoke run, well under a minute
    .venv/bin/python benchmarks/ingest_throughput.py --messages 50000 --rate 3000 --json out.json

Every service is started from the project's own code, in a temp state dir on free ports.
  A  baseline: a bare paho subscriber (service account, QoS 1, sw/v1/#) that only counts;
     rate = messages received from first to last.
  B  ingest: the real ingest worker as a child process, default batching; rate = N / (time the
     InfluxDB count reached N - time of the first publish), polled every 0.2 s.
  C  latency: a paced publisher at --rate for --latency-seconds; per message, the time from
     publish until its point is queryable (polled every 50 ms, which adds up to 50 ms).
Publishers run in their own process (no GIL shared with the measuring side), QoS 1, paho
defaults (max_inflight 20), as gateway bench-gw. Goals are reported, not enforced: the exit
status is 0 when every message arrived and every point was stored, 1 when any was lost.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing as mp
import os
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
from array import array
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from broker_config import add_gateway
from shouwang.config import load_config
from shouwang.influx import InfluxClient
from shouwang.logs import setup_logging
from shouwang.procs import ChildProcess, free_port
from shouwang.services import influxd_process, mosquitto_process
from wire import Message, encode
from wire.models import Channel, Kind

log = logging.getLogger(__name__)
GATEWAY = "bench-gw"
GOAL_RATIO, GOAL_P99_MS = 0.8, 1000.0
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port_pair() -> int:
    """A port p with p and p+1 both free (influxd uses p+1 for its RPC)."""
    for _ in range(100):
        p = free_port()
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", p + 1))
                return p
            except OSError:
                continue
    raise RuntimeError("no free port pair")


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmRSS:")) / 1024


def cpu_s(pid: int | None) -> float:
    """User + system CPU seconds of a process so far."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, TypeError):
        return 0.0


def publisher(conn, port: int, password: str, device: str, n: int, rate: float | None, ts_base: int) -> None:  # noqa: ANN001
    """Child process: publish n readings (flat out, or paced at rate/s), wait for every PUBACK."""
    msgs = [encode(Message(GATEWAY, device, Channel.READING, Kind.WATER_METER, ts_base + i, i,
                           {"total_l": float(i)})) for i in range(n)]
    acked, failed, all_acked, connected = [0], [0], threading.Event(), threading.Event()

    def on_publish(client, userdata, mid, rc, props) -> None:  # noqa: ANN001
        acked[0] += 1
        failed[0] += rc.is_failure
        if acked[0] == n:
            all_acked.set()

    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{device}", protocol=mqtt.MQTTv5)
    c.username_pw_set(GATEWAY, password)
    c.on_publish = on_publish
    c.on_connect = lambda cl, u, f, rc, p: connected.set() if not rc.is_failure else None
    c.connect("127.0.0.1", port, keepalive=60)
    c.loop_start()
    if not connected.wait(10):
        conn.send(("error", "publisher could not connect"))
        return
    times = array("d", bytes(8 * n))
    t0 = time.time()
    conn.send(("started", t0))
    for i, (topic, payload) in enumerate(msgs):
        if rate:
            ahead = t0 + i / rate - time.time()
            if ahead > 0:
                time.sleep(ahead)
            times[i] = time.time()
        c.publish(topic, payload, qos=1)
    all_acked.wait(60 + n / 500)
    conn.send(("done", time.time(), acked[0], failed[0], times.tobytes() if rate else b""))
    c.disconnect()
    c.loop_stop()


class Publisher:
    """A publisher process and the pipe its start time and results come back on."""

    def __init__(self, port: int, password: str, device: str, n: int, rate: float | None = None) -> None:
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe(duplex=False)
        self.ts_base = time.time_ns() // 1_000_000 - n  # ts of seq i is ts_base + i: distinct, never future
        self.proc = ctx.Process(target=publisher, args=(child, port, password, device, n, rate, self.ts_base),
                                daemon=True)
        self.n, self.t_first, self.done, self.times = n, None, None, None

    def start(self) -> Publisher:
        self.proc.start()
        return self

    def poll(self) -> None:
        while not self.conn.closed and self.conn.poll():
            try:
                msg = self.conn.recv()
            except EOFError:  # the publisher has exited
                self.conn.close()
                if self.done is None:
                    raise RuntimeError(f"publisher exited (code {self.proc.exitcode}) without results") from None
                return
            if msg[0] == "error":
                raise RuntimeError(msg[1])
            if msg[0] == "started":
                self.t_first = msg[1]
            else:
                _, t_end, acked, failed, raw = msg
                self.done = {"t_end": t_end, "acked": acked, "failed": failed}
                self.times = array("d", raw)
                if acked != self.n or failed:
                    log.warning("publisher: %d of %d PUBACKs, %d refused", acked, self.n, failed)

    def stop(self, timeout: float = 10.0) -> None:
        """Collect the publisher's results (it sends them after the last PUBACK), then end it."""
        deadline = time.monotonic() + timeout
        while self.done is None and self.proc.is_alive() and time.monotonic() < deadline:
            self.poll()
            time.sleep(0.02)
        self.poll()
        if self.proc.is_alive():
            self.proc.terminate()
        self.proc.join(5)


def wait_progress(current, target: int, pub: Publisher, stall_s: float, interval: float, on_poll=None):  # noqa: ANN001
    """Poll current() until it reaches target or makes no progress for stall_s after publishing ended."""
    last, last_change = -1, time.monotonic()
    while True:
        pub.poll()
        value = current()
        if on_poll:
            on_poll()
        now = time.monotonic()
        if value != last:
            last, last_change = value, now
        if value >= target or (pub.done and now - last_change > stall_s):
            return value, time.time()
        time.sleep(interval)


def phase_baseline(cfg, password: str, n: int) -> dict:  # noqa: ANN001
    """A: a subscriber that only counts; its receive rate is the best the broker + publisher give."""
    count, t = [0], [0.0, 0.0]
    subscribed = threading.Event()

    def on_message(client, userdata, msg) -> None:  # noqa: ANN001
        now = time.time()
        if count[0] == 0:
            t[0] = now
        count[0] += 1
        t[1] = now

    sub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-baseline", protocol=mqtt.MQTTv5)
    sub.username_pw_set(cfg.broker.service_user, cfg.broker.service_password.get_secret_value())
    sub.on_message = on_message
    sub.on_connect = lambda c, u, f, rc, p: c.subscribe("sw/v1/#", qos=1)
    sub.on_subscribe = lambda c, u, mid, rcs, p: subscribed.set()
    sub.connect("127.0.0.1", cfg.broker.port, keepalive=60)
    sub.loop_start()
    pub = None
    try:
        if not subscribed.wait(10):
            raise RuntimeError("baseline subscriber got no SUBACK")
        pub = Publisher(cfg.broker.port, password, "base-dev", n).start()
        got, _ = wait_progress(lambda: count[0], n, pub, stall_s=10, interval=0.05)
    finally:
        sub.disconnect()
        sub.loop_stop()
        if pub:
            pub.stop()
    rate = (got - 1) / (t[1] - t[0]) if got > 1 and t[1] > t[0] else 0.0
    return {"received": got, "rate": rate}


def ingest_metrics(port: int) -> dict[str, float]:
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
    except httpx.HTTPError:
        return {}
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


def phase_ingest(cfg, password: str, n: int, influx: InfluxClient, ingest: ChildProcess, pids: dict) -> dict:  # noqa: ANN001
    """B: publish flat out; measure how fast points become queryable in InfluxDB."""
    peak = [rss_mb(ingest.pid)]
    cpu0 = {k: cpu_s(p) for k, p in pids.items()}
    q = "SELECT count(total_l) FROM water_meter WHERE device='ingest-dev'"

    def count() -> int:
        rows = influx.rows(q)
        return int(rows[0]["count"]) if rows else 0

    pub = Publisher(cfg.broker.port, password, "ingest-dev", n).start()
    try:
        got, t_last = wait_progress(count, n, pub, stall_s=30, interval=0.2,
                                    on_poll=lambda: peak.append(rss_mb(ingest.pid)))
    finally:
        pub.stop()
    wall = t_last - pub.t_first
    cpu = {k: round((cpu_s(p) - cpu0[k]) / wall * 100) for k, p in pids.items()}
    return {"stored": got, "rate": n / wall if got == n else got / wall, "peak_rss_mb": max(peak),
            "cpu_pct": cpu}


def phase_latency(cfg, password: str, rate: float, seconds: float, influx: InfluxClient,  # noqa: ANN001
                  ingest: ChildProcess) -> dict:
    """C: paced publishing; latency from publish to queryable, per message."""
    n = int(rate * seconds)
    pub = Publisher(cfg.broker.port, password, "lat-dev", n, rate=rate)
    ts_base = pub.ts_base
    seen: dict[int, float] = {}
    low, peak = [0], [rss_mb(ingest.pid)]

    def poll() -> int:
        rows = influx.rows(f"SELECT seq FROM water_meter WHERE device='lat-dev' AND time >= {ts_base + low[0]}ms")
        now = time.time()
        for r in rows:
            seen.setdefault(int(r["seq"]), now)
        while low[0] in seen:
            low[0] += 1
        peak.append(rss_mb(ingest.pid))
        return len(seen)

    pub.start()
    try:
        got, _ = wait_progress(poll, n, pub, stall_s=15, interval=0.05)
    finally:
        pub.stop()
    lat = sorted((t - pub.times[s]) * 1000 for s, t in seen.items() if pub.times and s < n)
    qs = statistics.quantiles(lat, n=100, method="inclusive") if len(lat) > 1 else [float("nan")] * 99
    return {"sent": n, "stored": got, "p50_ms": qs[49], "p99_ms": qs[98], "max_ms": lat[-1] if lat else None,
            "peak_rss_mb": max(peak)}


def run(args: argparse.Namespace, state: Path) -> dict:
    config_file = state / "shouwang.toml"
    metrics_port = free_port()
    config_file.write_text(f'state_dir = "{state}"\n[broker]\nport = {free_port()}\n[influx]\nport = {free_port_pair()}\n'
                           f'[ingest]\nmetrics_port = {metrics_port}\nclient_id = "bench-ingest"\n')
    cfg = load_config(config_file, env={})
    children: list[ChildProcess] = []
    influx = InfluxClient(cfg.influx)
    try:
        broker = mosquitto_process(cfg)
        _, password = add_gateway(cfg.state_path / "broker", GATEWAY)
        broker.start()
        children.append(broker)
        influxd = influxd_process(cfg)
        influxd.start()
        children.append(influxd)
        influx.ensure_database()

        print(f"A  baseline: {args.messages} messages to a counting subscriber ...", flush=True)
        base = phase_baseline(cfg, password, args.messages)
        env = {k: v for k, v in os.environ.items() if not k.startswith("SHOUWANG_")}
        ingest = ChildProcess("ingest", [sys.executable, "-m", "shouwang", "--config", str(config_file), "ingest"],
                              state / "logs" / "ingest.log", env=env,
                              ready=lambda: ingest_metrics(metrics_port).get("ingest_mqtt_connected") == 1.0)
        ingest.start()
        children.append(ingest)
        idle_rss = rss_mb(ingest.pid)
        print(f"B  ingest: {args.messages} messages through `shouwang ingest` ...", flush=True)
        pids = {"ingest": ingest.pid, "mosquitto": broker.pid, "influxd": influxd.pid}
        ing = phase_ingest(cfg, password, args.messages, influx, ingest, pids)
        print(f"C  latency: {args.rate:g} msg/s for {args.latency_seconds:g} s ...", flush=True)
        lat = phase_latency(cfg, password, args.rate, args.latency_seconds, influx, ingest)
        m = ingest_metrics(metrics_port)
        batches = m.get("ingest_batch_points_count", 0)
        return {
            "messages": args.messages, "cores": os.cpu_count(), "loadavg_1m": round(os.getloadavg()[0], 2),
            "baseline": base, "ingest": ing, "latency": {"rate": args.rate, "seconds": args.latency_seconds, **lat},
            "ratio": ing["rate"] / base["rate"] if base["rate"] else 0.0,
            "ingest_idle_rss_mb": idle_rss,
            "ingest_batches": {"count": batches,
                               "mean_points": m.get("ingest_batch_points_sum", 0) / batches if batches else 0,
                               "mean_write_ms": 1000 * m.get("ingest_batch_write_seconds_sum", 0) / batches
                               if batches else 0},
            "ingest_rejected": sum(v for k, v in m.items() if k.startswith("ingest_messages_rejected_total")),
        }
    finally:
        influx.close()
        for child in reversed(children):
            child.stop()


def report(r: dict) -> bool:
    """Print the summary; True when nothing was lost."""
    b, i, lt = r["baseline"], r["ingest"], r["latency"]
    ok = b["received"] == r["messages"] and i["stored"] == r["messages"] and lt["stored"] == lt["sent"]

    def goal(met: bool) -> str:
        return "GOAL MET" if met else "GOAL MISSED"

    rows = [
        ("messages per phase (N)", f"{r['messages']}", ""),
        ("baseline receive rate", f"{b['rate']:,.0f} msg/s", f"received {b['received']}/{r['messages']}"),
        ("ingest rate (queryable)", f"{i['rate']:,.0f} msg/s", f"stored {i['stored']}/{r['messages']}"),
        ("ratio ingest/baseline", f"{r['ratio']:.2f}", f"goal >= {GOAL_RATIO}: {goal(r['ratio'] >= GOAL_RATIO)}"),
        (f"latency p50 @ {lt['rate']:g} msg/s", f"{lt['p50_ms']:,.0f} ms", f"{lt['seconds']:g} s run"),
        (f"latency p99 @ {lt['rate']:g} msg/s", f"{lt['p99_ms']:,.0f} ms",
         f"goal < {GOAL_P99_MS:.0f} ms: {goal(lt['p99_ms'] < GOAL_P99_MS)}"),
        ("latency max", f"{lt['max_ms'] or 0:,.0f} ms", f"stored {lt['stored']}/{lt['sent']}"),
        ("ingest peak RSS", f"{max(i['peak_rss_mb'], lt['peak_rss_mb']):.0f} MB",
         f"idle {r['ingest_idle_rss_mb']:.0f} MB"),
        ("CPU during B (% of 1 core)", " ".join(f"{k}={v}" for k, v in i["cpu_pct"].items()), ""),
        ("ingest batches", f"{r['ingest_batches']['count']:.0f}",
         f"mean {r['ingest_batches']['mean_points']:.0f} points, {r['ingest_batches']['mean_write_ms']:.0f} ms/write"),
        ("machine", f"{r['cores']} cores", f"load avg 1 min {r['loadavg_1m']}"),
    ]
    print("\nShouwang ingest benchmark (QoS 1, paho max_inflight 20, ingest default batching)")
    for name, value, note in rows:
        print(f"  {name:<30} {value:>26}   {note}")
    print("  latency includes up to 50 ms of polling granularity; ingest rate up to 0.2 s (poll interval)")
    if r["loadavg_1m"] > r["cores"]:
        print(f"  NOTE: load average {r['loadavg_1m']} exceeds {r['cores']} cores: other work was running, "
              "figures are noisy")
    print("RESULT: " + ("all messages stored" if ok else "MESSAGES LOST (see counts above)"))
    return ok


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--short", action="store_true", help="CI smoke run: 5,000 messages, 5 s latency phase")
    p.add_argument("--messages", type=int, default=None, help="messages per throughput phase (default 100000)")
    p.add_argument("--rate", type=float, default=2000.0, help="steady rate of the latency phase, msg/s")
    p.add_argument("--latency-seconds", type=float, default=None, help="length of the latency phase (default 20)")
    p.add_argument("--json", type=Path, default=None, help="also write the figures as JSON here")
    args = p.parse_args(argv)
    args.messages = args.messages or (5000 if args.short else 100_000)
    args.latency_seconds = args.latency_seconds or (5.0 if args.short else 20.0)
    setup_logging("WARNING")
    state = Path(tempfile.mkdtemp(prefix="shouwang-bench-"))
    ok = False
    try:
        figures = run(args, state)
        ok = report(figures)
        if args.json:
            args.json.write_text(json.dumps(figures, indent=2) + "\n")
        return 0 if ok else 1
    except KeyboardInterrupt:
        print("interrupted; services stopped", file=sys.stderr)
        return 130
    finally:
        if ok:
            shutil.rmtree(state, ignore_errors=True)
        else:
            print(f"state and logs kept in {state}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
