"""Edge-agent footprint, outbox append rate and drain rate, each beside its goal or baseline.

Run it from the repository root:

    .venv/bin/python benchmarks/agent_footprint.py            # 60 s footprint window
    .venv/bin/python benchmarks/agent_footprint.py --short    # < 60 s in all

  A  footprint: `shouwang agent` as its own process reading 50 simulated devices every 10 s
     (40 CJ/T 188 meters on 2 RS-485 ptys, 5 Modbus gauges on socat pairs, 5 call buttons sending
     heartbeats) and publishing to a local Mosquitto; RSS and CPU% of one core, from /proc.
     Goals: <= 40 MB, <= 2 %.
  B  outbox append rate: Emitter.emit (wire.encode + SQLite insert + seq upsert, one transaction each)
     with synchronous=FULL (the default: fsync per append, survives power loss) and NORMAL.
  C  drain after a 1-hour outage: 50 devices x 6/min x 60 min = 18,000 readings queued, then the agent
     started: messages/s until the outbox is empty (QoS 1, deleted after PUBACK), with the default
     pacing and unpaced; baseline: a bare paho publisher sending the same 18,000 payloads at QoS 1 in
     the same run. Goal >= 2,000 msg/s. The agent's peak RSS while draining is printed too (ThingsBoard
     IoT Gateway users report OOM at ~5,000 data points/s; the paced drain sends 4,000/s).
The simulated devices run in this process; only the agent process is measured.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import sys
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edge_agent.clock import SystemClock
from edge_agent.emit import Emitter
from edge_agent.health import cpu_seconds_of, rss_mb
from edge_agent.outbox import Outbox
from fieldbus.callbutton_line import ButtonEvent
from firmware_sim.serial import CallButtonReceiver, MeterBus, ModbusGauge, PtyPort, SocatPort
from shouwang.procs import ChildProcess, free_port, port_open
from wire.models import Channel, Kind

OUTAGE_MESSAGES = 50 * 6 * 60
GATEWAY = "gw-bench"


def mosquitto(tmp: Path) -> tuple[ChildProcess, int]:
    port = free_port()
    (tmp / "m.conf").write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
                                "max_queued_messages 100000\n")
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    proc = ChildProcess("mosquitto", [exe, "-c", str(tmp / "m.conf")], tmp / "m.log",
                        ready=lambda: port_open("127.0.0.1", port))
    proc.start()
    return proc, port


def write_config(path: Path, state: Path, port: int, drivers: list[str], **mqtt_extra: object) -> Path:
    lines = [f'gateway = "{GATEWAY}"', f'state_dir = "{state}"', "[mqtt]", f'url = "mqtt://127.0.0.1:{port}"']
    lines += [f"{k} = {json.dumps(v)}" for k, v in mqtt_extra.items()]
    lines += ["[health]", "interval_s = 60.0", *drivers]
    path.write_text("\n".join(lines) + "\n")
    return path


def start_agent(tmp: Path, config: Path, name: str) -> ChildProcess:
    log = tmp / f"{name}.log"
    agent = ChildProcess(name, [sys.executable, "-m", "shouwang", "agent", "--config", str(config)], log,
                         ready=lambda: "connected to" in (log.read_text() if log.exists() else ""))
    agent.start(timeout=30)
    return agent


# --------------------------------------------------------------------------- A footprint

def footprint(tmp: Path, port: int, window_s: float) -> dict[str, float]:
    """RSS and CPU% of the agent reading 50 devices every 10 s."""
    meters = [[f"{b}{i:013d}" for i in range(1, 21)] for b in (1, 2)]
    buses = [MeterBus(PtyPort(tmp / f"rs485-{b}"), addrs, lambda a, now: (1000.0 + now % 1000, None)).start()
             for b, addrs in enumerate(meters)]
    gauges = [ModbusGauge(SocatPort(tmp / f"gauge-{g}"), lambda now: 2.0, mount_height_m=8.0).start()
              for g in range(5)]
    rx = CallButtonReceiver(PtyPort(tmp / "buttons")).start()
    drivers = []
    for b, addrs in enumerate(meters):
        entries = ", ".join(f'{{device = "wm-{b}-{i}", address = "{a}"}}' for i, a in enumerate(addrs))
        drivers += ["[[drivers]]", 'driver = "cjt188"', f'id = "meters-{b}"', f'port = "{buses[b].path}"',
                    "poll_s = 10.0", "timeout_s = 0.5", f"meters = [{entries}]"]
    for g, gauge in enumerate(gauges):
        drivers += ["[[drivers]]", 'driver = "modbus_gauge"', f'id = "river-{g}"', f'port = "{gauge.path}"',
                    "poll_s = 10.0", f'gauges = [{{device = "rg-{g}", mount_height_m = 8.0}}]']
    drivers += ["[[drivers]]", 'driver = "callbutton"', 'id = "buttons"', f'port = "{rx.path}"']
    stop = threading.Event()

    def heartbeats() -> None:
        while not stop.wait(10.0):
            for n in range(5):
                rx.emit(f"B{n}", ButtonEvent.HB)

    hb = threading.Thread(target=heartbeats, daemon=True)
    hb.start()
    agent = start_agent(tmp, write_config(tmp / "fp.toml", tmp / "fp-state", port, drivers), "agent-footprint")
    try:
        time.sleep(5.0)  # first poll cycle and imports done
        pid = agent.pid
        assert pid is not None
        cpu0, t0 = cpu_seconds_of(pid), time.monotonic()
        peak = 0.0
        while time.monotonic() - t0 < window_s:
            time.sleep(0.5)
            peak = max(peak, rss_mb(pid))
        cpu = cpu_seconds_of(pid) - cpu0
        wall = time.monotonic() - t0
        with open(f"/proc/{pid}/status") as fh:
            status = dict(line.split(":", 1) for line in fh)
        anon = int(status["RssAnon"].split()[0]) / 1024
        sent = _outbox_sent(tmp / "fp-state" / "outbox.db")
    finally:
        agent.stop()
        stop.set()
        hb.join()
        for dev in (*buses, *gauges, rx):
            dev.stop()
    return {"rss_mb": peak, "anon_mb": anon, "cpu_pct": 100 * cpu / wall, "window_s": wall, "queued_left": sent}


def _outbox_sent(db: Path) -> float:
    with sqlite3.connect(db) as conn:
        n = conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
    conn.close()
    return float(n)


# --------------------------------------------------------------------------- B append rate

def append_rate(tmp: Path, synchronous: str, n: int) -> float:
    """Messages/s through Emitter.emit with one durable transaction each."""
    clock = SystemClock()
    box = Outbox(tmp / f"append-{synchronous}.db", clock, max_messages=10**7, max_bytes=10**10, max_age_ms=10**12,
                 synchronous=synchronous)
    emitter = Emitter(GATEWAY, box, clock)
    t0 = time.perf_counter()
    for i in range(n):
        emitter.emit(f"wm-{i % 50}", Kind.WATER_METER, Channel.READING, {"total_l": float(i)})
    rate = n / (time.perf_counter() - t0)
    box.close()
    return rate


# --------------------------------------------------------------------------- C drain

def fill_outage(db: Path) -> list[tuple[str, bytes]]:
    """Queue one hour of 50 devices' readings; returns the (topic, payload) pairs for the baseline."""
    clock = SystemClock()
    box = Outbox(db, clock, max_messages=10**7, max_bytes=10**10, max_age_ms=10**12, synchronous="normal")
    emitter = Emitter(GATEWAY, box, clock)
    t0 = clock.now_ms() - 3_600_000
    for i in range(OUTAGE_MESSAGES):
        emitter.emit(f"wm-{i % 50}", Kind.WATER_METER, Channel.READING, {"total_l": float(i)},
                     ts_ms=t0 + (i // 50) * 10_000)
    _, rows = box.fetch(0, 0, 0, OUTAGE_MESSAGES)
    box.close()
    return [(r.topic, r.payload) for r in rows]


def agent_drain(tmp: Path, port: int, name: str,
                **mqtt_extra: object) -> tuple[float, float, list[tuple[str, bytes]]]:
    """(messages/s until the outbox is empty, peak RSS MB while draining, the queued messages)."""
    state = tmp / f"{name}-state"
    messages = fill_outage(state / "outbox.db")
    agent = start_agent(tmp, write_config(tmp / f"{name}.toml", state, port, [], **mqtt_extra), name)
    assert agent.pid is not None
    t0 = time.perf_counter()
    peak = rss_mb(agent.pid)
    try:
        with sqlite3.connect(state / "outbox.db") as conn:
            while conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] > 0:
                time.sleep(0.02)
                peak = max(peak, rss_mb(agent.pid))
                if time.perf_counter() - t0 > 120:
                    raise RuntimeError("drain did not finish in 120 s")
        conn.close()
        return OUTAGE_MESSAGES / (time.perf_counter() - t0), peak, messages
    finally:
        agent.stop()


def bare_paho(port: int, messages: list[tuple[str, bytes]]) -> float:
    """The same payloads from a bare paho client at QoS 1 (default in-flight 20), until the last PUBACK."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bare-paho", protocol=mqtt.MQTTv5)
    done = threading.Event()
    acked = [0]

    def on_publish(c, u, mid, rc, props) -> None:  # noqa: ANN001
        acked[0] += 1
        if acked[0] == len(messages):
            done.set()

    client.on_publish = on_publish
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", port)
    client.loop_start()
    time.sleep(0.3)
    t0 = time.perf_counter()
    for topic, payload in messages:
        client.publish(topic, payload, qos=1)
    ok = done.wait(120)
    rate = len(messages) / (time.perf_counter() - t0)
    client.disconnect()
    client.loop_stop()
    if not ok:
        raise RuntimeError("bare paho did not get every PUBACK")
    return rate


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--short", action="store_true", help="smoke run: 15 s footprint window, fewer appends")
    p.add_argument("--json", type=Path, help="also write the figures to this file")
    args = p.parse_args()
    window = 15.0 if args.short else 60.0
    n_append = 500 if args.short else 3000
    with tempfile.TemporaryDirectory(prefix="agent-bench-") as d:
        tmp = Path(d)
        broker, port = mosquitto(tmp)
        try:
            fp = footprint(tmp, port, window)
            full = append_rate(tmp, "full", n_append)
            normal = append_rate(tmp, "normal", n_append)
            paced, paced_rss, msgs = agent_drain(tmp, port, "drain-default")
            unpaced, unpaced_rss, _ = agent_drain(tmp, port, "drain-unpaced", drain_rate=1e9)
            bare = bare_paho(port, msgs)
        finally:
            broker.stop()
    print(f"A footprint, 50 devices every 10 s, {fp['window_s']:.0f} s window")
    print(f"  RSS peak        {fp['rss_mb']:6.1f} MB   goal 40 MB   ratio {fp['rss_mb'] / 40:.2f}"
          f"   (anonymous {fp['anon_mb']:.1f} MB; the rest is shared library pages)")
    print(f"  CPU             {fp['cpu_pct']:6.2f} %    goal 2 %     ratio {fp['cpu_pct'] / 2:.2f}")
    print(f"  left in outbox  {fp['queued_left']:6.0f}")
    print("B outbox append (wire.encode + insert + seq, one transaction each)")
    print(f"  synchronous=FULL   {full:8.0f} msg/s  (default: fsync per append, survives power loss)")
    print(f"  synchronous=NORMAL {normal:8.0f} msg/s  (survives a crash of the agent, not a power cut)")
    print(f"  need at 50 devices / 10 s: 5 msg/s -> FULL has {full / 5:.0f}x headroom")
    print(f"C drain of a 1-hour outage ({OUTAGE_MESSAGES} messages, QoS 1, delete after PUBACK)")
    print(f"  agent, default pacing (drain_rate 4000/s) {paced:8.0f} msg/s   goal 2000   ratio {paced / 2000:.2f}")
    print(f"  agent, unpaced                            {unpaced:8.0f} msg/s")
    print(f"  bare paho publisher (same run, baseline)  {bare:8.0f} msg/s   agent/bare {unpaced / bare:.2f} "
          f"(paced {paced / bare:.2f})")
    print(f"  agent RSS peak while draining: paced {paced_rss:.1f} MB, unpaced {unpaced_rss:.1f} MB   goal 40 MB")
    figures = {"rss_mb": fp["rss_mb"], "anon_mb": fp["anon_mb"], "cpu_pct": fp["cpu_pct"], "append_full": full,
               "append_normal": normal, "drain_paced": paced, "drain_unpaced": unpaced, "bare_paho": bare,
               "drain_paced_rss_mb": paced_rss, "drain_unpaced_rss_mb": unpaced_rss}
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
