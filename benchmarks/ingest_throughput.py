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
import signal
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

from broker_config import Account, add_gateway, service_client
from shouwang.config import Config, load_config
from storage.influx import InfluxClient
from ground.logs import setup_logging
from shouwang.procs import ChildProcess, free_port, free_port_pair
from shouwang.services import influxd_process, mosquitto_process
from wire import Message, encode
from wire.models import Channel, Kind

log = logging.getLogger(__name__)
GATEWAY = "bench-gw"
GOAL_RATIO, GOAL_P99_MS = 0.8, 1000.0



def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmRSS:")) / 1024


def cpu_s(pid: int) -> float:
    """User + system CPU seconds a process has used so far."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def publish_readings(conn, port: int, password: str, device: str, n: int, rate: float | None,  # noqa: ANN001
                     ts_base: int) -> None:
    """Child process: publish n readings (flat out, or paced at rate/s), wait for the PUBACKs, report."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's business; it terminates us
    msgs = [encode(Message(GATEWAY, device, Channel.READING, Kind.WATER_METER, ts_base + i, i, {"total_l": float(i)}))
            for i in range(n)]
    # paho numbers messages with 16-bit ids: queueing more than 65535 unacknowledged messages
    # reuses ids and silently drops the older ones, so bound what waits in paho's own queue
    window, connected, all_acked = threading.BoundedSemaphore(5000), threading.Event(), threading.Event()
    acked, failed = [0], [0]

    def on_publish(client, userdata, mid, rc, props) -> None:  # noqa: ANN001
        window.release()
        acked[0] += 1
        failed[0] += rc.is_failure
        if acked[0] == n:
            all_acked.set()

    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{device}", protocol=mqtt.MQTTv5)
    c.username_pw_set(GATEWAY, password)
    c.on_publish = on_publish
    c.on_connect = lambda cl, u, f, rc, p: None if rc.is_failure else connected.set()
    c.connect("127.0.0.1", port, keepalive=60)
    c.loop_start()
    if not connected.wait(10):
        raise RuntimeError("publisher could not connect")
    times = array("d", bytes(8 * n) if rate else b"")
    t0, cpu0 = time.time(), time.process_time()
    for i, (topic, payload) in enumerate(msgs):
        if rate:
            ahead = t0 + i / rate - time.time()
            if ahead > 0:
                time.sleep(ahead)
            times[i] = time.time()
        window.acquire()
        c.publish(topic, payload, qos=1)
    last = -1
    while not all_acked.wait(10) and acked[0] != last:  # give up after 10 s without a PUBACK
        last = acked[0]
    conn.send({"t_first": t0, "t_end": time.time(), "acked": acked[0], "failed": failed[0],
               "cpu_s": time.process_time() - cpu0, "times": times.tobytes()})
    c.disconnect()
    c.loop_stop()


class Publisher:
    """A publisher process and the pipe its results come back on."""

    def __init__(self, port: int, password: str, device: str, n: int, rate: float | None = None) -> None:
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe(duplex=False)
        self.ts_base = time.time_ns() // 1_000_000 - n  # ts of seq i is ts_base + i: distinct, never future
        self.proc = ctx.Process(target=publish_readings, daemon=True,
                                args=(child, port, password, device, n, rate, self.ts_base))
        self.proc.start()
        self.n, self.result, self.times = n, None, array("d")

    def finished(self) -> bool:
        """True once the results are in; raises if the publisher died without them."""
        if self.result is None and self.conn.poll():
            try:
                self.result = self.conn.recv()
            except EOFError:
                raise RuntimeError(f"publisher exited with code {self.proc.exitcode}, no results") from None
            self.times = array("d", self.result["times"])
            if self.result["acked"] != self.n or self.result["failed"]:
                log.warning("publisher: %d of %d PUBACKs, %d refused", self.result["acked"], self.n,
                            self.result["failed"])
        return self.result is not None

    def __enter__(self) -> Publisher:
        return self

    def __exit__(self, exc_type: type | None, *_: object) -> None:
        """Wait for the results (sent after the last PUBACK) unless failing, then end the process."""
        timeout = 0 if exc_type else 15
        deadline = time.monotonic() + timeout
        try:
            while not self.finished() and self.proc.is_alive() and time.monotonic() < deadline:
                time.sleep(0.02)
            if timeout:
                self.finished()  # it may have sent them just before exiting
        except RuntimeError as exc:
            log.error("%s", exc)
        if self.proc.is_alive():
            self.proc.terminate()
        self.proc.join(5)


def wait_progress(current, target: int, pub: Publisher, stall_s: float, interval: float):  # noqa: ANN001, ANN201
    """Poll current() until it reaches target, or stalls for stall_s after publishing ended."""
    last, last_change = -1, time.monotonic()
    while True:
        value, now = current(), time.monotonic()
        if value != last:
            last, last_change = value, now
        if value >= target or (pub.finished() and now - last_change > stall_s):
            return value, time.time()
        time.sleep(interval)


def phase_baseline(cfg: Config, password: str, n: int) -> dict:
    """A: a subscriber that only counts: the best the broker and one publisher give."""
    count, t, subscribed = [0], [0.0, 0.0], threading.Event()

    def on_message(client, userdata, msg) -> None:  # noqa: ANN001
        t[1] = time.time()
        t[0] = t[0] or t[1]
        count[0] += 1

    sub = service_client(cfg, Account.SIM, "svc_sim_bench_baseline")
    sub.on_message = on_message
    sub.on_connect = lambda c, u, f, rc, p: c.subscribe("sw/v1/#", qos=1)
    sub.on_subscribe = lambda c, u, mid, rcs, p: subscribed.set()
    sub.connect("127.0.0.1", cfg.broker.service_port, keepalive=60)
    sub.loop_start()
    try:
        if not subscribed.wait(10):
            raise RuntimeError("baseline subscriber got no SUBACK")
        with Publisher(cfg.broker.port, password, "base-dev", n) as pub:
            got, _ = wait_progress(lambda: count[0], n, pub, stall_s=10, interval=0.05)
    finally:
        sub.disconnect()
        sub.loop_stop()
    return {"received": got, "rate": (got - 1) / (t[1] - t[0]) if got > 1 and t[1] > t[0] else 0.0}


def ingest_metrics(port: int) -> dict[str, float]:
    try:
        lines = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text.splitlines()
    except httpx.HTTPError:
        return {}
    return {name: float(v) for name, _, v in (ln.rpartition(" ") for ln in lines if ln and ln[0] != "#")}


def phase_ingest(cfg: Config, password: str, n: int, influx: InfluxClient, pids: dict[str, int]) -> dict:
    """B: publish flat out; how fast do points become queryable in InfluxDB?"""
    peak, cpu0 = [rss_mb(pids["ingest"])], {k: cpu_s(p) for k, p in pids.items()}

    def count() -> int:
        peak.append(rss_mb(pids["ingest"]))
        rows = influx.rows("SELECT count(total_l) FROM water_meter WHERE device='ingest-dev'")
        return int(rows[0]["count"]) if rows else 0

    with Publisher(cfg.broker.port, password, "ingest-dev", n) as pub:
        got, t_last = wait_progress(count, n, pub, stall_s=30, interval=0.2)
    res = pub.result or {}
    wall = t_last - res.get("t_first", t_last - 1)
    cpu = {k: round((cpu_s(p) - cpu0[k]) / wall * 100) for k, p in pids.items()}
    if res:  # its own CPU time over its own publishing time
        cpu["publisher"] = round(res["cpu_s"] / (res["t_end"] - res["t_first"]) * 100)
    return {"stored": got, "rate": got / wall, "peak_rss_mb": max(peak), "cpu_pct": cpu}


def phase_latency(cfg: Config, password: str, rate: float, seconds: float, influx: InfluxClient, pid: int) -> dict:
    """C: paced publishing; per message, the time from publish to queryable."""
    n = int(rate * seconds)
    pub = Publisher(cfg.broker.port, password, "lat-dev", n, rate=rate)
    seen: dict[int, float] = {}
    low, peak = [0], [rss_mb(pid)]

    def poll() -> int:  # everything from the lowest seq not yet seen (ts = ts_base + seq)
        rows = influx.rows(f"SELECT seq FROM water_meter WHERE device='lat-dev' AND time >= {pub.ts_base + low[0]}ms")
        now = time.time()
        for r in rows:
            seen.setdefault(int(r["seq"]), now)
        while low[0] in seen:
            low[0] += 1
        peak.append(rss_mb(pid))
        return len(seen)

    with pub:
        got, _ = wait_progress(poll, n, pub, stall_s=15, interval=0.05)
    lat = sorted((t - pub.times[s]) * 1000 for s, t in seen.items() if s < len(pub.times))
    qs = statistics.quantiles(lat, n=100, method="inclusive") if len(lat) > 1 else [float("nan")] * 99
    return {"sent": n, "stored": got, "p50_ms": qs[49], "p99_ms": qs[98], "max_ms": lat[-1] if lat else float("nan"),
            "peak_rss_mb": max(peak)}


def publish_queued(cfg: Config, password: str, device: str, n: int) -> None:
    """Publish n readings while their consumer is offline, so they wait in its persistent session."""
    with Publisher(cfg.broker.port, password, device, n) as pub:
        while not pub.finished() and pub.proc.is_alive():
            time.sleep(0.05)


def phase_drain_baseline(cfg: Config, password: str, n: int) -> dict:
    """D1: a bare paho subscriber draining n messages queued in its persistent session."""
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    count, t, subscribed = [0], [0.0, 0.0], threading.Event()

    def client() -> mqtt.Client:
        c = service_client(cfg, Account.SIM, "svc_sim_bench_drain_base")
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 3600
        c.connect("127.0.0.1", cfg.broker.service_port, keepalive=60, clean_start=False, properties=props)
        return c

    first = client()
    first.on_subscribe = lambda c, u, mid, rcs, p: subscribed.set()
    first.on_connect = lambda c, u, f, rc, p: c.subscribe(f"sw/v1/{GATEWAY}/drain-base/#", qos=1)
    first.loop_start()
    if not subscribed.wait(10):
        raise RuntimeError("drain subscriber got no SUBACK")
    first.disconnect()
    first.loop_stop()
    publish_queued(cfg, password, "drain-base", n)

    def on_message(c, u, msg) -> None:  # noqa: ANN001
        count[0] += 1
        t[1] = time.time()

    second = client()
    second.on_message = on_message
    t[0] = time.time()
    second.loop_start()
    try:
        deadline = time.monotonic() + 120
        while count[0] < n and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        second.disconnect()
        second.loop_stop()
    return {"received": count[0], "rate": count[0] / (t[1] - t[0]) if t[1] > t[0] else 0.0}


def phase_drain_ingest(cfg: Config, password: str, n: int, influx: InfluxClient, ingest: ChildProcess) -> dict:
    """D2: ingest restarted after n messages queued in its session: how fast do they become points?"""
    ingest.stop()
    publish_queued(cfg, password, "drain-ingest", n)

    def count() -> int:
        rows = influx.rows("SELECT count(total_l) FROM water_meter WHERE device='drain-ingest'")
        return int(rows[0]["count"]) if rows else 0

    ingest.start()  # returns once connected: the session's queue starts flowing at CONNACK
    t0 = time.time()
    deadline, got = time.monotonic() + 180, 0
    while got < n and time.monotonic() < deadline:
        got = count()
        time.sleep(0.1)
    return {"stored": got, "rate": got / (time.time() - t0)}


def run(args: argparse.Namespace, state: Path) -> dict:
    config_file, metrics_port = state / "shouwang.toml", free_port()
    config_file.write_text(f'state_dir = "{state}"\n[broker]\nport = {free_port()}\nservice_port = {free_port()}\n'
                           f"[influx]\nport = {free_port_pair()}\n"
                           f'[ingest]\nmetrics_port = {metrics_port}\nclient_id = "svc_ingest_bench"\n')
    cfg = load_config(config_file, env={})
    children: list[ChildProcess] = []
    influx = InfluxClient(cfg.influx)
    try:
        broker = mosquitto_process(cfg)
        _, password = add_gateway(cfg.state_path / "broker", GATEWAY)
        for child in (broker, influxd_process(cfg)):
            children.append(child)  # before start: stopped even if interrupted while starting
            child.start()
        influx.ensure_database()
        print(f"A  baseline: {args.messages} messages to a counting subscriber ...", flush=True)
        base = phase_baseline(cfg, password, args.messages)
        env = {k: v for k, v in os.environ.items() if not k.startswith("SHOUWANG_")}
        ingest = ChildProcess("ingest", [sys.executable, "-m", "shouwang", "--config", str(config_file), "ingest"],
                              state / "logs" / "ingest.log", env=env,
                              ready=lambda: ingest_metrics(metrics_port).get("ingest_mqtt_connected") == 1.0)
        children.append(ingest)
        ingest.start()
        idle_rss = rss_mb(ingest.pid)
        print(f"B  ingest: {args.messages} messages through `shouwang ingest` ...", flush=True)
        pids = {"ingest": ingest.pid, "mosquitto": children[0].pid, "influxd": children[1].pid}
        ing = phase_ingest(cfg, password, args.messages, influx, pids)
        print(f"C  latency: {args.rate:g} msg/s for {args.latency_seconds:g} s ...", flush=True)
        lat = phase_latency(cfg, password, args.rate, args.latency_seconds, influx, ingest.pid)
        m = ingest_metrics(metrics_port)
        batches = max(m.get("ingest_batch_points_count", 0), 1)
        print(f"D  backlog drain: {args.messages} queued messages, bare subscriber then ingest ...", flush=True)
        drain_base = phase_drain_baseline(cfg, password, args.messages)
        drain_ing = phase_drain_ingest(cfg, password, args.messages, influx, ingest)
        return {
            "messages": args.messages, "cores": os.cpu_count(), "loadavg_1m": round(os.getloadavg()[0], 2),
            "baseline": base, "ingest": ing, "latency": {"rate": args.rate, "seconds": args.latency_seconds, **lat},
            "ratio": ing["rate"] / base["rate"] if base["rate"] else 0.0,
            "ingest_idle_rss_mb": idle_rss, "ingest_peak_rss_mb": max(ing["peak_rss_mb"], lat["peak_rss_mb"]),
            "ingest_batches": {"count": m.get("ingest_batch_points_count", 0),
                               "mean_points": m.get("ingest_batch_points_sum", 0) / batches,
                               "mean_write_ms": 1000 * m.get("ingest_batch_write_seconds_sum", 0) / batches},
            "ingest_rejected": sum(v for k, v in m.items() if k.startswith("ingest_messages_rejected_total")),
            "drain": {"baseline": drain_base, "ingest": drain_ing,
                      "ratio": drain_ing["rate"] / drain_base["rate"] if drain_base["rate"] else 0.0},
        }
    finally:
        influx.close()
        for child in reversed(children):
            child.stop()


def report(r: dict) -> bool:
    """Print the summary; True when nothing was lost."""
    b, i, lt, bt, n = r["baseline"], r["ingest"], r["latency"], r["ingest_batches"], r["messages"]
    d = r["drain"]
    ok = (b["received"] == n and i["stored"] == n and lt["stored"] == lt["sent"] and not r["ingest_rejected"]
          and d["baseline"]["received"] == n and d["ingest"]["stored"] == n)

    goal = {True: "GOAL MET", False: "GOAL MISSED"}.get
    rows = [
        ("messages per phase (N)", f"{n}", ""),
        ("baseline receive rate", f"{b['rate']:,.0f} msg/s", f"received {b['received']}/{n}"),
        ("ingest rate (queryable)", f"{i['rate']:,.0f} msg/s", f"stored {i['stored']}/{n}"),
        ("ratio ingest/baseline", f"{r['ratio']:.2f}", f"goal >= {GOAL_RATIO}: {goal(r['ratio'] >= GOAL_RATIO)}"),
        (f"latency p50 @ {lt['rate']:g} msg/s", f"{lt['p50_ms']:,.0f} ms", f"{lt['seconds']:g} s run"),
        (f"latency p99 @ {lt['rate']:g} msg/s", f"{lt['p99_ms']:,.0f} ms",
         f"goal < {GOAL_P99_MS:.0f} ms: {goal(lt['p99_ms'] < GOAL_P99_MS)}"),
        ("latency max", f"{lt['max_ms']:,.0f} ms", f"stored {lt['stored']}/{lt['sent']}"),
        ("ingest peak RSS", f"{r['ingest_peak_rss_mb']:.0f} MB", f"idle {r['ingest_idle_rss_mb']:.0f} MB"),
        ("CPU during B, % of one core", " ".join(f"{k}={v}" for k, v in i["cpu_pct"].items()), ""),
        ("ingest batches written", f"{bt['count']:.0f}",
         f"mean {bt['mean_points']:.0f} points, {bt['mean_write_ms']:.1f} ms per write"),
        ("backlog drain: bare subscriber", f"{d['baseline']['rate']:,.0f} msg/s",
         f"received {d['baseline']['received']}/{n} queued"),
        ("backlog drain: ingest", f"{d['ingest']['rate']:,.0f} msg/s",
         f"stored {d['ingest']['stored']}/{n}, from its CONNACK"),
        ("drain ratio ingest/bare", f"{d['ratio']:.2f}", "consumer ceilings, no publisher in the way"),
        ("machine", f"{r['cores']} cores", f"load average (1 min) {r['loadavg_1m']}"),
    ]
    print("\nShouwang ingest benchmark (QoS 1, paho max_inflight 20, ingest default batching)")
    for name, value, note in rows:
        print(f"  {name:<30} {value:>26}   {note}")
    print("  latency includes up to 50 ms of polling granularity, the ingest rate up to 0.2 s")
    if r["loadavg_1m"] > r["cores"] * 0.75 or n < 20_000:
        print(f"  NOTE: {'short run' if n < 20_000 else 'a busy machine'}: figures are noisy")
    if r["ingest_rejected"]:
        print(f"  ingest dead-lettered {r['ingest_rejected']:.0f} messages")
    print("RESULT: " + ("every message stored" if ok else "MESSAGES LOST (see the counts above)"))
    return ok


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--short", action="store_true", help="CI smoke run: 5,000 messages, 5 s latency phase")
    p.add_argument("--messages", type=int, default=None, help="messages per throughput phase (default 100000)")
    p.add_argument("--rate", type=float, default=2000.0, help="steady rate of the latency phase, msg/s")
    p.add_argument("--latency-seconds", type=float, default=None, help="length of the latency phase (default 20)")
    p.add_argument("--json", type=Path, default=None, help="also write the figures as JSON to this file")
    args = p.parse_args(argv)
    args.messages = args.messages or (5000 if args.short else 100_000)
    args.latency_seconds = args.latency_seconds or (5.0 if args.short else 20.0)
    setup_logging("WARNING")
    state = Path(tempfile.mkdtemp(prefix="shouwang-bench-"))
    keep = True
    try:
        figures = run(args, state)
        keep = not report(figures)
        if args.json:
            args.json.write_text(json.dumps(figures, indent=2) + "\n")
        return 1 if keep else 0
    except KeyboardInterrupt:
        print("interrupted; every service stopped", file=sys.stderr)
        keep = False
        return 130
    finally:
        if not keep:
            shutil.rmtree(state, ignore_errors=True)
        else:
            print(f"state and logs kept in {state}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
