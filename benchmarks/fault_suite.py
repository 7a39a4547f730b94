"""Fault suite: what gateways were promised (a success PUBACK) against what InfluxDB and the alert store hold,
through one fault at a time under steady load.

Run it from the repository root:

    .venv/bin/python benchmarks/fault_suite.py            # about 10 minutes (60 s recovery periods, 60 s SIGSTOP)
    .venv/bin/python benchmarks/fault_suite.py --short    # about 2 minutes; the test suite runs this
    .venv/bin/python benchmarks/fault_suite.py --short --compound --json figures.json --keep

Stack, in a temp state dir on free ports: real Mosquitto (project config: gateway and service listeners,
persistence with autosave every 10 s), influxd, `shouwang ingest` and `shouwang alerts` as child processes; the
registry (a call button per household, stackrig.registry_csv) is imported first. Load: four gateways x 25 water
meters, --rate msg/s in all (50), and every --press-every s (2) a press on a different household's call button
from a fifth gateway. Each gateway is a paho MQTT v5 client with its own credentials on the gateway listener,
QoS 1, persistent session, 500 handed to paho and 20 in flight, reconnect backoff 1-30 s, like the edge agent's
uplink. Every message has a fixed (device, seq, ts) and stays in the gateway's outbox until a PUBACK with a
success reason code (< 0x80): paho resends what was in flight across a reconnect; a failure PUBACK puts the
message back (resent after 1 s; the real agent drops it and counts it).

Faults, one at a time, the load running throughout. A window runs from a fault's start to the next one's:
the fault, then a quiet period of --quiet s (60; --short 10) counted from the fault's end, longer while the
pipeline has not caught up (at most --catch-up s). In order: none (baseline); SIGKILL of ingest, influxd,
Mosquitto (same config and persistence), the alerts engine, each down for --down s then started again;
SIGSTOP of influxd for --stop-s s (60; --short 10) then SIGCONT; hijack (an attacker gateway with its own
valid credentials subscribes $share/ingest/sw/v1/#, $share/g/sw/v1/# and sw/v1/# with a persistent session,
then disconnects leaving it alive for the window); takeover (the attacker connects again and again for 2 s with
ingest's, the alerts engine's and a victim gateway's client id). --compound adds two faults at once: ingest and
the alerts engine SIGKILLed, --down s later Mosquitto too, all three restarted --down s after that.

Per window, over the messages created in it (readings and presses): sent; acked (success PUBACK, however late);
resent (in flight at a disconnect, or refused); stored (distinct (device, seq) in InfluxDB once everything has
drained); lost = acked but never stored; dup = (device, seq) stored as more than one point. down = fault start to
fault end, the end being when the restarted process passes its readiness check (ingest: subscription granted;
alerts: its log says subscribed; Mosquitto: service listener open; influxd: /ping), the SIGCONT, or the
attacker's last disconnect. recover = fault end until every reading created in the window before the fault end,
and at least one created after it, is queryable (polled every 0.25 s). Presses: sent; alerted (an alert of rule
call_button on the household); multi (more than one alert for one press); alert rec = the longer of: fault end
to the opening of the last alert for a press made before it, and press to alert of the first press after it
(times from the alert's "opened" audit record); worst = the longest press-to-alert time of the window.

Goals (../shared/DESIGN.md, Trust boundaries: a success PUBACK means the message will be stored, across broker,
ingest and InfluxDB restarts): lost = 0 for every fault, and every press an alert. Timings are figures, not
goals; there is no baseline to divide by except the first row. Exit status 0 when both goals are met, else 1
(the state dir with every log is then kept and named).

Measured 2026-11-28 (2 cores, load average 2-3): every single fault met both goals (28,647 messages and 284 presses
in the full run). --compound does not: Mosquitto PUBACKs a message once it is in memory and writes its state only
every 10 s, so what it acknowledged since its last save and had not yet handed to a live consumer (queued for the
dead ingest and alerts engine, or in flight to ingest and unwritten) is gone after a SIGKILL: 109 messages and one
press lost with the consumers down 2 s; with --down 0 (a power cut's "all at once"), 9 messages, ingest's
unwritten batch.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository, for `tests.helpers` too

from stackrig import registry_csv  # benchmarks/ is sys.path[0] for a script

from registry.csvio import import_rows
from storage.sql import Database, database_url
from alerts.service import subscribed_check
from alerts.tables import Alert, AlertEvent
from broker_config import add_gateway
from shouwang.config import load_config
from ground.errors import InfluxRejected, InfluxUnavailable
from storage.influx import InfluxClient
from shouwang.procs import ChildProcess, free_port, free_port_pair
from shouwang.services import influxd_process, mosquitto_process
from tests.helpers import IngestProcess, MqttPeer, wait_for
from wire import Message, encode
from wire.models import Channel, Kind

LOAD_GATEWAYS = ("fs-gw-1", "fs-gw-2", "fs-gw-3", "fs-gw-4")
BUTTON_GATEWAY, ATTACKER = "fs-btn", "fs-evil"
METERS, WINDOW, INFLIGHT = 100, 500, 20
Key = tuple[str, int]  # (device, seq)


def connect_props(expiry_s: int) -> Properties:
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = expiry_s
    return props


class Gateway:
    """A simulated gateway: an outbox of messages kept until a success PUBACK, as the edge agent's uplink.
    paho's thread only records events; step() (the load thread) settles them and feeds paho."""

    def __init__(self, gw: str, password: str, port: int) -> None:
        self.events: deque[tuple[int | None, int, float]] = deque()  # (mid, reason, time); mid None = disconnect
        self.outbox: dict[Key, tuple[str, bytes]] = {}
        self.waiting: deque[Key] = deque()
        self.retry: deque[tuple[float, Key]] = deque()
        self.inflight: dict[int, Key] = {}
        self.acked: dict[Key, float] = {}
        self.resent: set[Key] = set()
        self.reasons: Counter[int] = Counter()
        self.disconnects = 0
        c = self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=gw, protocol=mqtt.MQTTv5)
        c.username_pw_set(gw, password)
        c.reconnect_delay_set(1, 30)
        c.max_inflight_messages_set(INFLIGHT)
        c.on_publish = lambda cl, u, mid, rc, p: self.events.append((mid, rc.value, time.time()))
        c.on_disconnect = lambda cl, u, f, rc, p: self.events.append((None, rc.value, time.time()))
        c.connect_async("127.0.0.1", port, keepalive=30, clean_start=False, properties=connect_props(7 * 86400))
        c.loop_start()

    def add(self, key: Key, topic: str, payload: bytes) -> None:
        self.outbox[key] = (topic, payload)
        self.waiting.append(key)

    def step(self, now: float) -> None:
        while self.events:
            mid, reason, t = self.events.popleft()
            if mid is None:
                self.disconnects += 1
                self.resent.update(self.inflight.values())  # paho sends them again after the reconnect
                continue
            key = self.inflight.pop(mid, None)
            if key is None:
                continue
            self.reasons[reason] += 1
            if reason < 0x80:
                self.acked[key] = t
                del self.outbox[key]
            else:
                self.resent.add(key)
                self.retry.append((now + 1.0, key))
        while self.retry and self.retry[0][0] <= now:
            self.waiting.append(self.retry.popleft()[1])
        while self.waiting and len(self.inflight) < WINDOW and self.client.is_connected():
            key = self.waiting.popleft()
            self.inflight[self.client.publish(*self.outbox[key], qos=1).mid] = key

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class Load(threading.Thread):
    """Readings at `rate` msg/s over METERS meters, a press on a new household every `every` s."""

    def __init__(self, gateways: dict[str, Gateway], rate: float, every: float, households: int) -> None:
        super().__init__(name="load", daemon=True)
        self.gateways, self.rate, self.every, self.households = gateways, rate, every, households
        self.window = 0  # set by the main thread at each window's start
        self.creating = True
        self.sent: dict[Key, tuple[int, int]] = {}  # key -> (ts, window)
        self.presses: dict[str, Key] = {}  # household -> its press
        self.reading_ts: list[int] = []  # appended here, copied by the main thread (a slice is atomic; a dict is not)
        self.stop_event = threading.Event()

    def _add(self, gw: str, msg: Message) -> None:
        self.sent[(msg.device, msg.seq)] = (msg.ts, self.window)
        if msg.kind is Kind.WATER_METER:
            self.reading_ts.append(msg.ts)
        self.gateways[gw].add((msg.device, msg.seq), *encode(msg))

    def run(self) -> None:
        t0 = next_press = time.time()
        n, seqs, last_ts = 0, Counter(), {}
        while not self.stop_event.is_set():
            now = time.time()
            while self.creating and n < int((now - t0) * self.rate):
                i, n = n % METERS, n + 1
                dev, gw = f"wm-{i:05d}", LOAD_GATEWAYS[i % len(LOAD_GATEWAYS)]
                seqs[dev] += 1
                ts = last_ts[dev] = max(time.time_ns() // 1_000_000, last_ts.get(dev, 0) + 1)
                self._add(gw, Message(gw, dev, Channel.READING, Kind.WATER_METER, ts, seqs[dev],
                                      {"total_l": 1000 + seqs[dev] * 0.5}))
            if self.creating and now >= next_press and len(self.presses) < self.households:
                k = len(self.presses)
                msg = Message(BUTTON_GATEWAY, f"btn-{k:05d}", Channel.EVENT, Kind.CALL_BUTTON,
                              time.time_ns() // 1_000_000, 1, {"action": "press"})
                self.presses[f"hh-{k:05d}"] = (msg.device, msg.seq)
                self._add(BUTTON_GATEWAY, msg)
                next_press += self.every
            for g in self.gateways.values():
                g.step(now)
            time.sleep(0.01)

    def unacked(self) -> int:
        return sum(len(g.outbox) for g in self.gateways.values())


class Stack:
    """Mosquitto, influxd, ingest and the alerts engine, each a child process that can be killed and restarted."""

    def __init__(self, state: Path, households: int) -> None:
        cfg_file = state / "shouwang.toml"
        cfg_file.write_text(f'state_dir = "{state}"\n[broker]\nport = {free_port()}\nservice_port = {free_port()}\n'
                            f"[influx]\nport = {free_port_pair()}\n[ingest]\nmetrics_port = {free_port()}\n")
        self.cfg = cfg = load_config(cfg_file, env={})
        self.broker = mosquitto_process(cfg)
        self.passwords = {gw: add_gateway(cfg.state_path / "broker", gw)[1]
                          for gw in (*LOAD_GATEWAYS, BUTTON_GATEWAY, ATTACKER)}
        self.influxd = influxd_process(cfg)
        self.ingest = IngestProcess(cfg, cfg_file)
        env = {k: v for k, v in os.environ.items() if not k.startswith("SHOUWANG_")}
        self.alerts = ChildProcess("alerts", [sys.executable, "-m", "shouwang", "--config", str(cfg_file), "alerts",
                                              "run"], state / "logs" / "alerts.log", ready=lambda: False, env=env)
        self.children = [self.broker, self.influxd, self.ingest.child, self.alerts]
        self.logs = {"mosquitto": self.broker.log_file, "ingest": self.ingest.child.log_file,
                     "alerts": self.alerts.log_file}
        self.influx = InfluxClient(cfg.influx)
        with Database.from_config(cfg) as db:
            rep = import_rows(db, registry_csv(households, LOAD_GATEWAYS, BUTTON_GATEWAY, meters=METERS, flags=""))
            if rep.errors:
                raise RuntimeError(f"registry import: {rep.errors[:3]}")

    def start(self, child: ChildProcess) -> float:
        if child is self.alerts:  # its readiness reads the log from now on
            child.ready = subscribed_check(child.log_file)
        child.start(timeout=90)
        return time.time()

    def stop(self) -> None:
        self.influx.close()
        if self.influxd.running():
            os.kill(self.influxd.pid, signal.SIGCONT)  # if interrupted while it was stopped
        for child in reversed(self.children):
            child.stop()


def attacker(stack: Stack, client_id: str = "", clean: bool = True, expiry: int = 0) -> MqttPeer:
    """The attacker gateway logged in with its own valid credentials."""
    peer = MqttPeer(stack.cfg.broker.port, ATTACKER, stack.passwords[ATTACKER], client_id=client_id)
    peer.client.connect("127.0.0.1", stack.cfg.broker.port, clean_start=clean, properties=connect_props(expiry))
    peer.client.loop_start()
    if not peer.connected.wait(10):
        raise RuntimeError(f"attacker not connected: {peer.connack}")
    return peer


def faults(stack: Stack, args: argparse.Namespace, notes: dict[str, list[str]]) -> list[tuple[str, Callable]]:
    """(name, action) pairs; an action injects its fault and returns the time the fault ended."""

    def kill(child: ChildProcess) -> Callable[[], float]:
        def run() -> float:
            child.kill()
            time.sleep(args.down)
            return stack.start(child)
        return run

    def sigstop() -> float:
        os.kill(stack.influxd.pid, signal.SIGSTOP)
        time.sleep(args.stop_s)
        os.kill(stack.influxd.pid, signal.SIGCONT)
        return time.time()

    def hijack() -> float:
        peer = attacker(stack, expiry=3600)
        peer.client.subscribe([(f, 1) for f in ("$share/ingest/sw/v1/#", "$share/g/sw/v1/#", "sw/v1/#")])
        wait_for(lambda: peer.suback, what="the attacker's SUBACK")
        notes["hijack"].append(f"SUBACK {[rc.value for rc in peer.suback]}; {len(peer.messages)} messages read "
                               "while connected")
        peer.stop()
        return time.time()

    def takeover() -> float:
        ids = (stack.cfg.ingest.client_id, stack.cfg.alerts.client_id, LOAD_GATEWAYS[0])
        accepted, t_end = 0, time.time() + 2
        while time.time() < t_end:
            for cid in ids:
                attacker(stack, client_id=cid).stop()
                accepted += 1
        notes["takeover"].append(f"{accepted} connections with client ids {', '.join(ids)} accepted")
        return time.time()

    def compound() -> float:  # two faults at once: the broker dies while its consumers are down
        for child in (stack.ingest.child, stack.alerts, stack.broker):
            child.kill()
            time.sleep(args.down if child is stack.alerts else 0)
        time.sleep(args.down)
        return max(stack.start(child) for child in (stack.broker, stack.ingest.child, stack.alerts))

    return [("none (steady)", time.time), ("SIGKILL ingest", kill(stack.ingest.child)),
            ("SIGKILL influxd", kill(stack.influxd)), ("SIGKILL mosquitto", kill(stack.broker)),
            ("SIGKILL alerts", kill(stack.alerts)), (f"SIGSTOP influxd {args.stop_s:g}s", sigstop),
            ("hijack", hijack), ("takeover", takeover)] + ([("mosquitto+consumers", compound)] if args.compound else [])


def readings_between(influx: InfluxClient, lo_ms: int, hi_ms: int | None) -> int:
    where = f"time >= {lo_ms}ms" + (f" AND time <= {hi_ms}ms" if hi_ms is not None else "")
    rows = influx.rows(f"SELECT count(seq) FROM water_meter WHERE {where}")
    return int(rows[0]["count"]) if rows else 0


def wait_caught_up(stack: Stack, load: Load, start_ms: int, end_ms: int, cap: float) -> float | None:
    """Seconds from the fault's end until the window's readings up to it, and one after it, are queryable."""
    end = end_ms / 1000
    while time.time() < end + cap:
        time.sleep(0.25)
        expected = sum(1 for ts in load.reading_ts[:] if start_ms <= ts <= end_ms)
        try:
            if (readings_between(stack.influx, start_ms, end_ms) >= expected
                    and readings_between(stack.influx, end_ms + 1, None) > 0):
                return time.time() - end
        except (InfluxUnavailable, InfluxRejected):
            continue  # InfluxDB still coming back (a query may time out): keep polling
    return None


def log_sizes(stack: Stack) -> dict[str, int]:
    return {k: p.stat().st_size if p.exists() else 0 for k, p in stack.logs.items()}


EVIDENCE = {"mosquitto": ("already connected", "Error", "Socket error"),
            "ingest": ("disconnected from broker", "InfluxDB unavailable", "ERROR"),
            "alerts": ("disconnected from broker", "ERROR")}


def log_evidence(stack: Stack, since: dict[str, int]) -> list[str]:
    """What the services' logs say since the window's start: reconnects, takeovers, errors (counts)."""
    out = []
    for name, needles in EVIDENCE.items():
        with open(stack.logs[name], "rb") as fh:
            fh.seek(since[name])
            text = fh.read().decode(errors="replace")
        out += [f"{name} log: {n}x '{needle}'" for needle in needles if (n := text.count(needle))]
    return out


def stored_points(influx: InfluxClient) -> Counter[Key]:
    points: Counter[Key] = Counter()
    for measurement in ("water_meter", "call_button"):
        for r in influx.rows(f'SELECT seq FROM "{measurement}" GROUP BY device'):
            points[(r["device"], int(r["seq"]))] += 1
    return points


def press_alerts(stack: Stack) -> tuple[Counter[str], dict[str, int]]:
    """Call-button alerts per household (each has one "opened" audit record) and when the first was opened (ms)."""
    db = Database(database_url(stack.cfg), migrate_schema=False)
    try:
        with db.session() as s:
            rows = s.execute(select(Alert.subject, func.count(), func.min(AlertEvent.at))
                             .join(AlertEvent, AlertEvent.alert_id == Alert.id)
                             .where(Alert.rule == "call_button", AlertEvent.action == "opened")
                             .group_by(Alert.subject)).all()
    finally:
        db.close()
    return Counter({subject: n for subject, n, _ in rows}), {subject: at for subject, _, at in rows}


def settle(load: Load, stack: Stack, timeout: float) -> None:
    """Stop creating; wait for every PUBACK, then for InfluxDB and the alert store to stop changing."""
    load.creating = False
    deadline = time.monotonic() + timeout
    while load.unacked() and time.monotonic() < deadline:
        time.sleep(0.5)
    acked = sum(len(g.acked) for g in load.gateways.values())
    last, still = None, time.monotonic()
    while time.monotonic() < deadline and time.monotonic() - still < 10:
        now = (sum(stored_points(stack.influx).values()), sum(press_alerts(stack)[0].values()))
        if now[0] >= acked and now[1] >= len(load.presses):
            break
        if now != last:
            last, still = now, time.monotonic()
        time.sleep(1)
    load.stop_event.set()
    load.join(5)


def figures(load: Load, windows: list[dict], stack: Stack) -> dict:
    points = stored_points(stack.influx)
    alerts, opened = press_alerts(stack)
    acked = {k: t for g in load.gateways.values() for k, t in g.acked.items()}
    resent = set().union(*(g.resent for g in load.gateways.values()))
    keys_of: list[list[Key]] = [[] for _ in windows]
    for key, (_ts, index) in load.sent.items():
        keys_of[index].append(key)
    press_of = [[] for _ in windows]
    for hh, key in load.presses.items():
        press_of[load.sent[key][1]].append((load.sent[key][0], hh))
    for w, keys, presses in zip(windows, keys_of, press_of, strict=True):
        lost = sorted(k for k in keys if k in acked and k not in points)
        w.update(sent=len(keys), acked=sum(k in acked for k in keys), resent=sum(k in resent for k in keys),
                 stored=sum(k in points for k in keys), lost=len(lost), lost_sample=lost[:10],
                 dup=sum(points[k] > 1 for k in keys), presses=len(presses),
                 alerted=sum(alerts[hh] > 0 for _, hh in presses), multi=sum(alerts[hh] > 1 for _, hh in presses),
                 unalerted=sorted(hh for _, hh in presses if not alerts[hh])[:10])
        waits = [(opened[hh] - w["end_ms"]) if hh in opened else None for ts, hh in presses if ts <= w["end_ms"]]
        waits += [(opened[hh] - ts) if hh in opened else None for ts, hh in sorted(presses)
                  if ts > w["end_ms"]][:1]
        w["alert_recover_s"] = max(0, *waits) / 1000 if waits and None not in waits else None
        latency = [opened[hh] - ts for ts, hh in presses if hh in opened]
        w["alert_worst_s"] = max(latency) / 1000 if latency else None
    total = {k: sum(w[k] for w in windows) for k in ("sent", "acked", "resent", "stored", "lost", "dup", "presses",
                                                      "alerted", "multi")}
    reasons = sum((g.reasons for g in load.gateways.values()), Counter())
    return {"windows": windows, "total": total, "unacked_at_end": load.unacked(),
            "puback_reasons": {str(k): v for k, v in sorted(reasons.items())},
            "goal_lost_zero": all(w["lost"] == 0 for w in windows),
            "goal_every_press_alerted": total["alerted"] == total["presses"]}


def report(r: dict, args: argparse.Namespace) -> None:
    def s(v: float | None) -> str:
        return "never" if v is None else f"{v:.1f}"

    cols = ("fault", "down s", "sent", "acked", "resent", "stored", "lost", "dup", "recover s", "presses", "alerted",
            "multi", "alert rec s", "worst s")
    print(f"\nShouwang fault suite: {args.rate:g} msg/s from {len(LOAD_GATEWAYS)} gateways, a press every "
          f"{args.press_every:g} s, quiet {args.quiet:g} s after each fault (QoS 1, success PUBACK = acked)")
    line = "  {:<20} {:>6} {:>6} {:>6} {:>6} {:>6} {:>5} {:>4} {:>9} {:>7} {:>7} {:>5} {:>11} {:>7}"
    print(line.format(*cols))
    for w in r["windows"]:
        print(line.format(w["name"], f"{w['down_s']:.1f}", w["sent"], w["acked"], w["resent"], w["stored"], w["lost"],
                          w["dup"], s(w["recover_s"]), w["presses"], w["alerted"], w["multi"], s(w["alert_recover_s"]),
                          s(w["alert_worst_s"])))
    t = r["total"]
    print(line.format("total", "", t["sent"], t["acked"], t["resent"], t["stored"], t["lost"], t["dup"],
                      s(max((w["recover_s"] or 0) for w in r["windows"])), t["presses"], t["alerted"], t["multi"],
                      s(max((w["alert_recover_s"] or 0) for w in r["windows"])),
                      s(max((w["alert_worst_s"] or 0) for w in r["windows"]))))
    print(f"  PUBACK reason codes seen: {r['puback_reasons']}; unacknowledged at the end: {r['unacked_at_end']}")
    for w in r["windows"]:
        for note in w["notes"]:
            print(f"  {w['name']}: {note}")
        if w["lost"]:
            print(f"  {w['name']}: LOST (device, seq), first ones: {w['lost_sample']}")
        if w["unalerted"]:
            print(f"  {w['name']}: presses without an alert: {w['unalerted']}")
    met = {True: "MET", False: "NOT MET"}
    print(f"GOAL lost = 0 for every fault: {met[r['goal_lost_zero']]} ({t['lost']} lost of {t['acked']} acknowledged)")
    print(f"GOAL every press an alert: {met[r['goal_every_press_alerted']]} ({t['alerted']} of {t['presses']} "
          f"presses alerted, {t['multi']} more than once)")


def run(args: argparse.Namespace, state: Path) -> dict:
    households = int(3600 / args.press_every)  # an hour of presses, one household each: never a merge
    stack = Stack(state, households)
    gateways: dict[str, Gateway] = {}
    try:
        for child in stack.children:
            stack.start(child)
        for gw in (*LOAD_GATEWAYS, BUTTON_GATEWAY):
            gateways[gw] = Gateway(gw, stack.passwords[gw], stack.cfg.broker.port)
        load = Load(gateways, args.rate, args.press_every, households)
        load.start()
        time.sleep(2)
        notes: dict[str, list[str]] = {"hijack": [], "takeover": []}
        windows: list[dict] = []
        for name, action in faults(stack, args, notes):
            load.window = len(windows)
            since, disc = log_sizes(stack), {g: gw.disconnects for g, gw in gateways.items()}
            start = time.time()
            print(f"{time.strftime('%H:%M:%S')} {name} ...", flush=True)
            end = action()
            w = {"name": name, "start_ms": int(start * 1000), "end_ms": int(end * 1000), "down_s": end - start}
            w["recover_s"] = wait_caught_up(stack, load, w["start_ms"], w["end_ms"], args.catch_up)
            time.sleep(max(0.0, end + args.quiet - time.time()))
            if name == "hijack":  # what its session collected, then end it
                peer = attacker(stack, clean=False, expiry=0)
                time.sleep(1)
                notes["hijack"].append(f"{len(peer.messages)} messages waiting in the attacker's session")
                peer.stop()
            dropped = {g: gw.disconnects - disc[g] for g, gw in gateways.items() if gw.disconnects > disc[g]}
            w["notes"] = notes.get(name.split()[0], []) + log_evidence(stack, since) + (
                [f"gateway disconnects: {dropped}"] if dropped else [])
            windows.append(w)
        print(f"{time.strftime('%H:%M:%S')} draining ...", flush=True)
        settle(load, stack, timeout=180)
        return figures(load, windows, stack)
    finally:
        for g in gateways.values():
            g.close()
        stack.stop()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--short", action="store_true", help="CI run: 10 s quiet periods and SIGSTOP, 2 s down")
    p.add_argument("--rate", type=float, default=50.0, help="readings per second from all gateways")
    p.add_argument("--press-every", type=float, default=2.0, help="seconds between call-button presses")
    p.add_argument("--quiet", type=float, default=None, help="recovery period after each fault (60; short 10)")
    p.add_argument("--down", type=float, default=None, help="how long a killed process stays down (5; short 2)")
    p.add_argument("--stop-s", type=float, default=None, help="how long influxd is SIGSTOPped (60; short 10)")
    p.add_argument("--catch-up", type=float, default=None, help="longest wait for the pipeline to catch up (120; 30)")
    p.add_argument("--json", type=Path, default=None, help="also write the figures as JSON to this file")
    p.add_argument("--keep", action="store_true", help="keep the state dir (logs) even when both goals are met")
    p.add_argument("--compound", action="store_true", help="add a last window: ingest and alerts SIGKILLed, --down s "
                                                            "later Mosquitto too, all restarted after --down s")
    args = p.parse_args(argv)
    for name, full, short in (("quiet", 60.0, 10.0), ("down", 5.0, 2.0), ("stop_s", 60.0, 10.0),
                              ("catch_up", 120.0, 30.0)):
        if getattr(args, name) is None:
            setattr(args, name, short if args.short else full)
    state = Path(tempfile.mkdtemp(prefix="shouwang-faults-"))
    keep, t0 = True, time.monotonic()
    try:
        r = run(args, state)
        r.update(elapsed_s=round(time.monotonic() - t0, 1), short=args.short, rate=args.rate, quiet_s=args.quiet,
                 down_s=args.down, stop_s=args.stop_s, cores=os.cpu_count(), loadavg_1m=round(os.getloadavg()[0], 2))
        report(r, args)
        print(f"  run took {r['elapsed_s']:.0f} s on {r['cores']} cores, load average {r['loadavg_1m']}")
        if args.json:
            args.json.write_text(json.dumps(r, indent=2) + "\n")
        ok = r["goal_lost_zero"] and r["goal_every_press_alerted"]
        keep = args.keep or not ok
        return 0 if ok else 1
    except KeyboardInterrupt:
        print("interrupted; every service stopped", file=sys.stderr)
        return 130
    finally:
        if keep:
            print(f"state and logs kept in {state}", file=sys.stderr)
        else:
            shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
