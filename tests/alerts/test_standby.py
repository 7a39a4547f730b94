"""Standby and partitioned alerts engines as real `shouwang alerts run` processes on one PostgreSQL store, real
Mosquitto and InfluxDB, under load from simulated gateways: kill -9 of the active engine, SIGSTOP of it past its
lease and SIGCONT, one of three partitioned engines dying. Every press must be alerted exactly once.

Each engine has its own state directory (as on its own machine): nothing passes between them but the store and
the broker."""

from __future__ import annotations

import csv
import io
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterable
from pathlib import Path

from alerts import partition
from alerts.store import AlertStore
from alerts.types import Rule
from broker_config import add_gateway
from ground.heartbeat import read_beats
from registry.csvio import COLUMNS, import_rows
from shouwang.procs import free_port
from storage.sql import Database
from tests.conftest import Services, now_ms
from tests.helpers import MqttPeer, wait_for
from wire import Message, encode
from wire.models import Channel, Kind, encode_state
from wire.topics import state_topic


def registry_csv(households: int, button_gw: str | Iterable[str], meter_gw: str, uid: str) -> str:
    """A community of `households` with a call button each (on button_gw, or spread over several gateways:
    household i on the i-th modulo) and a water meter each on meter_gw; device ids end in -uid."""
    rows: list[dict[str, str]] = []

    def add(**kw: str) -> None:
        rows.append({c: kw.get(c, "") for c in COLUMNS})

    gws = [button_gw] if isinstance(button_gw, str) else list(button_gw)
    add(record="street", code="st-f")
    add(record="community", code="cm-f", parent="st-f")
    add(record="contact", code="duty-cm", parent="cm-f", role="community_duty", channels="ntfy://f-cm")
    add(record="grid", code="gr-f", parent="cm-f")
    add(record="contact", code="worker-f", parent="gr-f", role="grid_worker", channels="ntfy://f-worker")
    add(record="building", code="bd-f", parent="gr-f")
    for i in range(households):
        hh = f"hh-{i:05d}"
        add(record="household", code=hh, parent="bd-f", window_h="7")
        add(record="device", code=f"btn-{i:05d}-{uid}", parent=hh, gateway=gws[i % len(gws)], kind="call_button",
            interval_s="86400")
        add(record="device", code=f"wm-{i:05d}-{uid}", parent=hh, gateway=meter_gw, kind="water_meter",
            interval_s="3600", step_l="1")
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS)
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


class EngineProc:
    """`shouwang alerts run` as a child with a state directory of its own, on a shared store and broker."""

    def __init__(self, name: str, root: Path, broker_port: int, service_port: int, influx_port: int, db_url: str,
                 client_id: str, *, partitions: int = 1, ttl_s: float = 5.0, renew_s: float = 1.0,
                 escalate_after_min: tuple[float, float] | None = None, metrics_port: int = 0,
                 source: Path | None = None) -> None:
        """source: run the engine from another checkout of the project (a benchmark's baseline)."""
        self.name = name
        self.source = source
        self.state = root / name
        self.state.mkdir(parents=True, exist_ok=True)
        self.log_file = root / f"{name}.log"
        lines = [f'state_dir = "{self.state}"', "[broker]", f"port = {broker_port}", f"service_port = {service_port}",
                 "[influx]", f"port = {influx_port}", "[alerts]", f'database_url = "{db_url}"',
                 f'client_id = "{client_id}"', "tick_s = 0.2", f"partitions = {partitions}",
                 f"lease_ttl_s = {ttl_s}", f"lease_renew_s = {renew_s}", f"metrics_port = {metrics_port}"]
        if escalate_after_min is not None:
            a, b = escalate_after_min
            lines += ["[alerts.escalation]",
                      f'critical = [{{after_min = 0, roles = ["grid_worker", "family"]}}, '
                      f'{{after_min = {a}, roles = ["community_duty"]}}, {{after_min = {b}, roles = ["street_duty"]}}]']
        self.config = root / f"{name}.toml"
        self.config.write_text("\n".join(lines) + "\n")
        self.proc: subprocess.Popen | None = None

    def start(self) -> EngineProc:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SHOUWANG_")}
        env["PYTHONFAULTHANDLER"] = "1"  # a SIGABRT (a hung engine) dumps every thread's stack into its log
        self.out = open(self.log_file, "ab")  # noqa: SIM115 -- the child writes into it for its life
        self.proc = subprocess.Popen([sys.executable, "-m", "shouwang", "--config", str(self.config), "alerts", "run"],
                                     stdout=self.out, stderr=subprocess.STDOUT, env=env, cwd=self.source)
        return self

    def log(self, since: int = 0) -> str:
        with open(self.log_file, "rb") as fh:
            fh.seek(since)
            return fh.read().decode(errors="replace")

    def log_size(self) -> int:
        return self.log_file.stat().st_size

    def progress(self) -> dict:
        beat = read_beats(self.state).get("alerts")
        return dict(beat.progress) if beat is not None and self.alive() else {}

    def role(self) -> str | None:
        return self.progress().get("role")

    def partitions(self) -> set[int]:
        held = str(self.progress().get("partitions", "-")).split(" of ")[0]
        return {int(k) for k in held.split(",")} if held not in ("-", "") else set()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def kill(self) -> None:
        if self.alive():
            self.signal(signal.SIGKILL)
            self.proc.wait(10)  # type: ignore[union-attr]

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.alive():
            self.signal(signal.SIGCONT)
            self.signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()
        self.out.close()


class PressLoad:
    """Simulated gateways: a press on the next household every `press_every` s, and water readings meanwhile.

    Each message is QoS 1 on the gateway listener and counted when the broker PUBACKs it with success."""

    def __init__(self, button_peers: dict[str, MqttPeer], meter_peer: MqttPeer, households: int, uid: str,
                 button_gw_of: dict[int, str], press_every: float = 0.2, readings_per_press: int = 5) -> None:
        self.buttons, self.meter, self.uid = button_peers, meter_peer, uid
        self.households, self.gw_of = households, button_gw_of
        self.press_every, self.readings_per_press = press_every, readings_per_press
        self.pressed: dict[int, tuple[int, str, int]] = {}  # household -> (press ts, gateway, mid)
        self.readings: list[int] = []
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, name="press-load", daemon=True)
        self.next = 0

    def _run(self) -> None:
        seq = 0
        while not self.stop_event.is_set() and self.next < self.households:
            i = self.next
            gw = self.gw_of[i]
            ts = now_ms()
            topic, body = encode(Message(gw, f"btn-{i:05d}-{self.uid}", Channel.EVENT, Kind.CALL_BUTTON, ts, 1,
                                         {"action": "press"}))
            self.pressed[i] = (ts, gw, self.buttons[gw].publish(topic, body))
            self.next += 1
            for _ in range(self.readings_per_press):
                seq += 1
                j = seq % self.households
                topic, body = encode(Message("gw-b", f"wm-{j:05d}-{self.uid}", Channel.READING, Kind.WATER_METER,
                                             now_ms(), seq, {"total_l": 100.0 + seq}))
                self.readings.append(self.meter.publish(topic, body))
                time.sleep(self.press_every / self.readings_per_press)

    def start(self) -> PressLoad:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(10)

    def wait_acked(self) -> None:
        by_gw: dict[str, list[int]] = {}
        for _ts, gw, mid in self.pressed.values():
            by_gw.setdefault(gw, []).append(mid)
        for gw, mids in by_gw.items():
            assert all(not rc.is_failure for rc in self.buttons[gw].wait_acked(mids, 30).values())
        assert all(not rc.is_failure for rc in self.meter.wait_acked(self.readings, 30).values())


class AlertWatch:
    """Polls the store: when each household's call-button alert was first seen (the time a person could see it)."""

    def __init__(self, url: str) -> None:
        self.db = Database(url, migrate_schema=False)
        self.store = AlertStore(self.db)
        self.seen: dict[int, float] = {}
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, name="alert-watch", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop_event.wait(0.05):
            t = time.time()
            for a in self.store.all():
                if a.rule is Rule.CALL_BUTTON and a.subject.startswith("hh-"):  # (not an unregistered button's)
                    self.seen.setdefault(int(a.subject.split("-")[1]), t)

    def per_household(self) -> dict[int, int]:
        out: dict[int, int] = {}
        for a in self.store.all():
            if a.rule is Rule.CALL_BUTTON and a.subject.startswith("hh-"):
                i = int(a.subject.split("-")[1])
                out[i] = out.get(i, 0) + 1
        return out

    def close(self) -> None:
        self.stop_event.set()
        self.thread.join(5)
        self.db.close()


def _setup(services: Services, postgres, tmp_path: Path, uid: str, households: int,  # noqa: ANN001
           button_gws: Iterable[str] = ("gw-a",)) -> str:
    url = postgres.create_database()
    with Database(url) as db:
        assert import_rows(db, registry_csv(households, list(button_gws), "gw-b", uid)).errors == []
    return url


def _engine(name: str, services: Services, tmp_path: Path, url: str, uid: str, **kw) -> EngineProc:  # noqa: ANN003
    return EngineProc(name, tmp_path, services.port, services.cfg.broker.service_port, services.cfg.influx.port, url,
                      f"svc_alerts_{uid}", **kw)


def test_kill_9_of_the_active_engine_under_load_every_press_alerted_once(services: Services, postgres, tmp_path: Path,
                                                                          uid: str) -> None:
    households = 80
    url = _setup(services, postgres, tmp_path, uid, households)
    a = _engine("engine-a", services, tmp_path, url, uid).start()
    b = None
    gw_a, gw_b = services.gateway("gw-a"), services.gateway("gw-b")
    watch = AlertWatch(url)
    try:
        wait_for(lambda: a.role() == "active" and "subscribed to sw/v1/#" in a.log(), 40, what="engine a active")
        b = _engine("engine-b", services, tmp_path, url, uid).start()
        wait_for(lambda: b.role() == "standby", 40, what="engine b standing by")
        assert "svc_alerts" not in b.log()  # a standby has no MQTT session at all
        load = PressLoad({"gw-a": gw_a}, gw_b, households, uid, {i: "gw-a" for i in range(households)}).start()
        wait_for(lambda: len(watch.seen) >= 10, 30, what="ten presses alerted by engine a")
        t_kill = time.monotonic()
        killed_at_press = load.next
        a.kill()
        wait_for(lambda: b.role() == "active", 30, what="engine b taking over")
        failover = time.monotonic() - t_kill
        wait_for(lambda: load.next >= households, 60, what="every press sent")
        load.stop()
        load.wait_acked()
        wait_for(lambda: len(watch.per_household()) == households, 40, what="every press alerted")
        counts = watch.per_household()
        assert counts == {i: 1 for i in range(households)}  # every press alerted, none twice
        after = [watch.seen[i] - load.pressed[i][0] / 1000 for i in range(killed_at_press, households)]
        print(f"failover {failover:.2f} s (lease TTL 5 s); presses after the kill alerted within {max(after):.2f} s")
        assert "lost partition" not in b.log()
    finally:
        watch.close()
        gw_a.stop()
        gw_b.stop()
        a.stop()
        if b is not None:
            b.stop()


def test_sigstop_past_the_lease_then_sigcont_the_old_engine_does_not_act(services: Services, postgres, tmp_path: Path,
                                                                          uid: str) -> None:
    """Engine a is paused with a press just alerted (its escalation due in 12 s) and more presses on their way to its
    socket; b takes over and handles them. a is woken before the escalation is due, and stops: no alert, escalation
    or notification of a's after the SIGCONT, no press alerted twice, the ladder's step climbed once (by b)."""
    households = 6
    url = _setup(services, postgres, tmp_path, uid, households)
    kw = {"escalate_after_min": (0.2, 10.0)}
    a = _engine("engine-a", services, tmp_path, url, uid, **kw).start()
    b = None
    gw_a = services.gateway("gw-a")
    watch = AlertWatch(url)

    def press(i: int) -> None:
        topic, body = encode(Message("gw-a", f"btn-{i:05d}-{uid}", Channel.EVENT, Kind.CALL_BUTTON, now_ms(), 1,
                                     {"action": "press"}))
        gw_a.wait_acked([gw_a.publish(topic, body)])

    try:
        wait_for(lambda: a.role() == "active" and "subscribed to sw/v1/#" in a.log(), 40, what="engine a active")
        b = _engine("engine-b", services, tmp_path, url, uid, **kw).start()
        wait_for(lambda: b.role() == "standby", 40, what="engine b standing by")
        press(0)
        wait_for(lambda: 0 in watch.seen, 20, what="the first press alerted by a")
        a.signal(signal.SIGSTOP)
        for i in range(1, households):
            press(i)  # acknowledged by the broker, delivered to a paused engine's socket
        wait_for(lambda: b.role() == "active", 30, what="engine b taking over from the paused a")
        wait_for(lambda: len(watch.per_household()) == households, 30, what="b alerting the presses a held")
        [first] = [x for x in watch.store.all() if x.subject == "hh-00000"]
        # woken before the first alert's escalation is due (12 s after the press; b took over after ~6 s): a
        # zombie's timer would escalate it at the same moment as b's, and neither would see the other's
        mark = a.log_size()
        a.signal(signal.SIGCONT)
        wait_for(lambda: "lost partition 0 of 1" in a.log(mark), 20, what="a noticing it lost its lease")
        wait_for(lambda: a.role() == "standby", 20, what="a standing by")
        wait_for(lambda: watch.store.get(first.id).escalation_step >= 1, 40, what="b escalating a's alert")
        time.sleep(2.0)  # give a zombie the time it would need to act
        woke = a.log(mark)
        for act in ("opened", "escalated", "merged", "upgraded"):
            assert f" {act}" not in woke.replace("lost partition", ""), woke
        assert watch.per_household() == {i: 1 for i in range(households)}
        steps = [e["note"] for e in watch.store.events(first.id) if e["action"] == "escalated"]
        assert steps == ["step 1: community_duty"]
        deliveries = [d for d in watch.store.deliveries(first.id) if d.event == "escalated"]
        assert [d.role for d in deliveries] == ["community_duty"]
        assert b.role() == "active"
    finally:
        watch.close()
        gw_a.stop()
        a.stop()
        if b is not None:
            b.stop()


def _gateways_by_partition(n: int, per: int) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {k: [] for k in range(n)}
    i = 0
    while any(len(v) < per for v in out.values()):
        g = f"gw-part{i}"
        k = partition.partition_of(g, n)
        if len(out[k]) < per:
            out[k].append(g)
        i += 1
    return out


def _connected(peer: MqttPeer) -> MqttPeer | None:
    peer.start()
    if peer.connected.is_set():
        return peer
    peer.stop()
    return None


def test_three_partitioned_engines_one_dies_its_partitions_move_and_every_press_is_alerted_once(
        services: Services, postgres, tmp_path: Path, uid: str) -> None:
    n = 3
    by_part = _gateways_by_partition(n, 2)
    gws = [g for k in range(n) for g in by_part[k]]
    broker_dir = services.cfg.state_path / "broker"
    passwords = {g: add_gateway(broker_dir, g)[1] for g in gws}
    os.kill(services.broker.pid, signal.SIGHUP)  # the session's broker rereads its password file
    households = 60
    url = _setup(services, postgres, tmp_path, uid, households, gws)
    engines = [_engine(f"engine-{x}", services, tmp_path, url, uid, partitions=n) for x in "abc"]
    peers = {}
    for g in gws:  # the reload is asynchronous: a refused gateway tries again
        peers[g] = wait_for(lambda g=g: _connected(MqttPeer(services.port, g, passwords[g])), 10, what=f"{g} in")
    gw_b = services.gateway("gw-b")
    watch = AlertWatch(url)
    try:
        for e in engines:
            e.start()
        wait_for(lambda: sorted(len(e.partitions()) for e in engines) == [1, 1, 1], 120,
                 what="three engines holding one partition each")
        held = {k: e for e in engines for k in e.partitions()}
        assert set(held) == {0, 1, 2}
        for e in engines:  # each subscribed to its own gateways only (the buttons' 2 and maybe the meters' gw-b)
            [k] = e.partitions()
            mine = len(by_part[k]) + (partition.partition_of("gw-b", n) == k)
            wait_for(lambda e=e, mine=mine: f"consuming {mine} gateways" in e.log(), 20, what=f"{e.name}'s gateways")
        load = PressLoad(peers, gw_b, households, uid, {i: gws[i % len(gws)] for i in range(households)},
                         press_every=0.25).start()
        wait_for(lambda: len(watch.seen) >= 12, 30, what="presses alerted by the three engines")
        victim = held[1]
        t_kill = time.monotonic()
        victim.kill()
        survivors = [e for e in engines if e is not victim]
        wait_for(lambda: set().union(*(e.partitions() for e in survivors)) == {0, 1, 2}, 40,
                 what="partition 1 taken over by a survivor")
        rebalance = time.monotonic() - t_kill
        wait_for(lambda: load.next >= households, 60, what="every press sent")
        load.stop()
        load.wait_acked()
        wait_for(lambda: len(watch.per_household()) == households, 40, what="every press alerted")
        assert watch.per_household() == {i: 1 for i in range(households)}
        assert sorted(len(e.partitions()) for e in survivors) == [1, 2]
        print(f"partition 1 of 3 moved to a survivor {rebalance:.2f} s after its engine was killed")
    finally:
        watch.close()
        for p in peers.values():
            p.stop()
        gw_b.stop()
        for e in engines:
            e.stop()


def _metrics(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    return {name: float(value) for name, value in
            (line.rsplit(" ", 1) for line in text.splitlines() if line.startswith("alerts_") and " " in line)}


def test_partitioned_engines_consume_a_gateway_the_registry_does_not_name_and_say_what_they_hold(
        services: Services, postgres, tmp_path: Path, uid: str) -> None:
    """A gateway with a broker account but no device in the registry announces its presence; the engine holding its
    partition subscribes to it, and a press through it is alerted once (without a location). Each engine's
    /metrics says it is active and which partition it holds."""
    n = 2
    stray = next(f"gw-stray{i}" for i in range(100) if partition.partition_of(f"gw-stray{i}", n) == 1)
    password = add_gateway(services.cfg.state_path / "broker", stray)[1]
    os.kill(services.broker.pid, signal.SIGHUP)
    url = _setup(services, postgres, tmp_path, uid, 4)
    ports = [free_port(), free_port()]
    engines = [_engine(f"engine-{x}", services, tmp_path, url, uid, partitions=n, metrics_port=p)
               for x, p in zip("ab", ports, strict=True)]
    peer = wait_for(lambda: _connected(MqttPeer(services.port, stray, password)), 10, what=f"{stray} in")
    gw_a = services.gateway("gw-a")
    watch = AlertWatch(url)
    try:
        for e in engines:
            e.start()
        wait_for(lambda: sorted(len(e.partitions()) for e in engines) == [1, 1], 120, what="one partition each")
        [owner] = [e for e in engines if e.partitions() == {1}]
        for e, port in zip(engines, ports, strict=True):
            [k] = e.partitions()
            m = wait_for(lambda port=port: _metrics(port), 10, what=f"{e.name}'s metrics")
            assert m["alerts_engine_active"] == 1 and m["alerts_partitions"] == n
            assert m[f'alerts_partition_held{{partition="{k}"}}'] == 1
            assert m[f'alerts_partition_held{{partition="{1 - k}"}}'] == 0
        peer.wait_acked([peer.publish(state_topic(stray), encode_state(True), retain=True)])
        wait_for(lambda: f"gateway {stray}, not in the registry, announced itself" in owner.log(), 20,
                 what="the stray gateway's partition taking it")
        mark = owner.log().index("announced itself")
        wait_for(lambda: "subscribed to" in owner.log()[mark:], 20, what="the stray gateway subscribed")
        ts = now_ms()
        topic, body = encode(Message(stray, f"btn-stray-{uid}", Channel.EVENT, Kind.CALL_BUTTON, ts, 1,
                                     {"action": "press"}))
        peer.wait_acked([peer.publish(topic, body)])
        topic, body = encode(Message("gw-a", f"btn-00000-{uid}", Channel.EVENT, Kind.CALL_BUTTON, ts, 1,
                                     {"action": "press"}))
        gw_a.wait_acked([gw_a.publish(topic, body)])
        wait_for(lambda: len(watch.store.all()) >= 2, 30, what="both presses alerted")
        time.sleep(1.0)  # the other engine, had it heard the stray press, would have raised it by now
        subjects = sorted(a.subject for a in watch.store.all() if a.rule is Rule.CALL_BUTTON)
        assert subjects == sorted([f"device:btn-stray-{uid}", "hh-00000"])
    finally:
        watch.close()
        peer.publish(state_topic(stray), b"", retain=True)  # no retained presence left for later tests
        peer.stop()
        gw_a.stop()
        for e in engines:
            e.stop()
