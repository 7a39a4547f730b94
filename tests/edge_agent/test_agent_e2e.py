"""The agent as a process: simulated devices -> agent -> real Mosquitto -> real ingest -> real InfluxDB."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import time
from pathlib import Path

from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from broker_config import Account, service_credentials
from edge_agent.clock import SystemClock
from edge_agent.emit import Emitter
from edge_agent.outbox import Outbox
from fieldbus.callbutton_line import ButtonEvent
from fieldbus.cjt188 import Unit
from firmware_sim.serial import CallButtonReceiver, MeterBus, ModbusGauge, PtyPort, SimMeter, SocatPort
from tests.conftest import Services
from tests.edge_agent.conftest import AgentProcess, write_agent_config
from tests.helpers import IngestProcess, MqttPeer, wait_for
from wire.models import Channel, Kind

M1, M2 = "00000000000001", "00000000000002"


def litres(address: str, now: float):
    return 1000.0 + (now % 100_000), None


def seqs(services: Services, measurement: str, device: str) -> list[int]:
    rows = services.influx.rows(f"SELECT seq FROM {measurement} WHERE device = '{device}'")
    return sorted(int(r["seq"]) for r in rows)


def start_agent(agents: list, tmp_path: Path, name: str = "agent", **cfg) -> AgentProcess:
    path = write_agent_config(tmp_path / f"{name}.toml", gateway="gw-a", state_dir=tmp_path / "state", **cfg)
    agent = AgentProcess(path, tmp_path / f"{name}.log").start()
    agents.append(agent)
    return agent


def test_every_driver_end_to_end_into_influxdb(services: Services, ingest: IngestProcess, agents, tmp_path: Path,
                                               uid: str, agent_mqtt: dict, local_broker: int) -> None:
    wm1, wm2, rg, cb, cam = (f"{p}-{uid}" for p in ("wm1", "wm2", "rg", "cb", "cam"))
    bus = MeterBus(PtyPort(tmp_path / "meters"), [SimMeter(M1), SimMeter(M2, unit=Unit.L)], litres).start()
    rx = CallButtonReceiver(PtyPort(tmp_path / "buttons")).start()
    gauge = ModbusGauge(SocatPort(tmp_path / "gauge"), lambda now: 3.25, mount_height_m=9.0).start()
    cam_peer = MqttPeer(local_broker, None, None).start()
    try:
        agent = start_agent(agents, tmp_path, mqtt=agent_mqtt, health={"interval_s": 1.0}, drivers=[
            {"driver": "cjt188", "id": f"meters-{uid}", "port": str(bus.path), "poll_s": 0.5, "timeout_s": 0.3,
             "meters": [{"device": wm1, "address": M1}, {"device": wm2, "address": M2}]},
            {"driver": "modbus_gauge", "id": f"river-{uid}", "port": str(gauge.path), "poll_s": 0.5,
             "gauges": [{"device": rg, "mount_height_m": 9.0}]},
            {"driver": "callbutton", "id": f"buttons-{uid}", "port": str(rx.path), "buttons": {"B0001": cb}},
            {"driver": "local_mqtt", "id": f"cams-{uid}", "url": f"mqtt://127.0.0.1:{local_broker}",
             "devices": {"gate": {"device": cam, "kind": "camera"}}},
        ])
        wait_for(agent.connected_count, 15, what="agent connected to the broker")
        time.sleep(1.0)  # the drivers open their ports and the local subscription is granted
        rx.emit("B0001", ButtonEvent.PRESS)
        cam_peer.publish("local/gate/event", json.dumps({"type": "intrusion", "state": "start", "zone": "wall"}))
        wait_for(lambda: len(seqs(services, "water_meter", wm2)) >= 2, 20, what="water meter readings in InfluxDB")
        wait_for(lambda: seqs(services, "river_gauge", rg), 20, what="gauge readings in InfluxDB")
        press = wait_for(lambda: services.influx.rows(f"SELECT action FROM call_button WHERE device = '{cb}'"), 20,
                         what="button press in InfluxDB")
        alarm = wait_for(lambda: services.influx.rows(f"SELECT * FROM camera WHERE device = '{cam}'"), 20,
                         what="camera event in InfluxDB")
        health = wait_for(lambda: services.influx.rows(
            f"SELECT * FROM device_status WHERE device = 'gw-a' AND kind = 'gateway' AND time > now() - 1m"), 20,
            what="gateway health status in InfluxDB")
        drv = wait_for(lambda: services.influx.rows(
            f"SELECT * FROM device_status WHERE device = 'meters-{uid}' AND kind = 'gateway'"), 20,
            what="driver status in InfluxDB")
    finally:
        cam_peer.stop()
        bus.stop()
        rx.stop()
        gauge.stop()
    wm = services.influx.rows(f"SELECT total_l, valve_open FROM water_meter WHERE device = '{wm1}'")
    assert wm[0]["total_l"] > 1000 and wm[0]["valve_open"] is True
    level = services.influx.rows(f"SELECT level_m, raw_distance_m FROM river_gauge WHERE device = '{rg}'")[0]
    assert (level["level_m"], level["raw_distance_m"]) == (3.25, 5.75)
    assert press[0]["action"] == "press"
    assert (alarm[0]["type"], alarm[0]["state"], alarm[0]["zone"]) == ("intrusion", "start", "wall")
    h = health[-1]
    assert h["connected"] is True and h["uptime_s"] > 0 and h["rss_mb"] > 5 and h["outbox_depth"] >= 0
    assert drv[-1]["polls"] >= 1 and drv[-1]["port_down"] is False
    state = services.influx.rows("SELECT * FROM gateway_state WHERE gateway = 'gw-a' AND time > now() - 1m")
    assert any(r["online"] is True and r["version"] for r in state)


def test_broker_down_for_a_while_loses_nothing_and_keeps_order(services: Services, ingest: IngestProcess, agents,
                                                               tmp_path: Path, uid: str, agent_mqtt: dict) -> None:
    dev = f"wm-{uid}"
    watcher = MqttPeer(services.cfg.broker.service_port, *service_credentials(services.cfg, Account.SIM),
                       client_id=f"svc_sim_order_{uid}")
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 600
    watcher.client.connect("127.0.0.1", services.cfg.broker.service_port, clean_start=False, properties=props)
    watcher.client.loop_start()
    watcher.client.reconnect_delay_set(0.2, 1)
    assert watcher.connected.wait(10)
    watcher.client.subscribe(f"sw/v1/gw-a/{dev}/reading", qos=1)
    bus = MeterBus(PtyPort(tmp_path / "meters"), [M1], litres).start()
    try:
        agent = start_agent(agents, tmp_path, mqtt=agent_mqtt, drivers=[
            {"driver": "cjt188", "id": "meters", "port": str(bus.path), "poll_s": 0.1, "timeout_s": 0.5,
             "meters": [{"device": dev, "address": M1}]}])
        wait_for(lambda: len(seqs(services, "water_meter", dev)) >= 5, 20, what="readings before the outage")
        services.broker.stop()
        try:
            time.sleep(6)           # ~60 readings queue in the outbox meanwhile
            # Mosquitto 2.0.11 does not restore *shared* subscriptions from its persistence file, so ingest
            # ($share/ingest/...) misses what arrives before it resubscribes. Hold the agent (SIGSTOP, as a
            # slow gateway would be) until a fresh ingest has subscribed; the agent then reconnects by itself.
            os.kill(agent.child.pid, signal.SIGSTOP)
        finally:
            services.broker.start()
        try:
            ingest.stop()
            ingest.start()
        finally:
            os.kill(agent.child.pid, signal.SIGCONT)
        time.sleep(3)
        agent.stop()                # stop polling; every reading polled must arrive
        assert agent.connected_count() >= 2, "the agent did not reconnect by itself"
        with sqlite3.connect(tmp_path / "state" / "outbox.db") as db:
            polled = db.execute("SELECT value FROM seq WHERE device = ?", (dev,)).fetchone()[0]
        db.close()
        assert polled > 60
        start_agent(agents, tmp_path, "agent2", mqtt=agent_mqtt, drivers=[])   # sends what was still unacked

        def delivered() -> list[int]:   # a status (e.g. a meter slow under load) also takes a seq of the device
            return sorted(seqs(services, "water_meter", dev) + seqs(services, "device_status", dev))

        try:
            wait_for(lambda: delivered() == list(range(1, polled + 1)), 30,
                     what=f"all {polled} messages in InfluxDB, no gap")
        except AssertionError:
            missing = sorted(set(range(1, polled + 1)) - set(delivered()))
            routed = sorted({json.loads(m.payload)["seq"] for m in watcher.messages} & set(missing))
            raise AssertionError(f"messages missing from InfluxDB: {missing}; of these the broker routed to "
                                 f"another subscriber: {routed}") from None
        got = seqs(services, "water_meter", dev)
        assert len(got) > 60
        wait_for(lambda: {json.loads(m.payload)["seq"] for m in watcher.messages} >= set(got), 10,
                 what="every reading at the watching subscriber")
        arrival = [json.loads(m.payload)["seq"] for m in watcher.messages]
        first_seen = list(dict.fromkeys(arrival))               # redeliveries removed, first arrival kept
        assert first_seen == sorted(first_seen), "readings arrived out of order"
        assert first_seen == got
    finally:
        bus.stop()
        watcher.stop()
        if not services.broker.running():
            services.broker.start()


def test_agent_sigkilled_while_draining_loses_nothing(services: Services, ingest: IngestProcess, agents,
                                                      tmp_path: Path, uid: str, agent_mqtt: dict) -> None:
    dev = f"wm-{uid}"
    n = 6000
    box = Outbox(tmp_path / "state" / "outbox.db", SystemClock(), max_messages=10**6, max_bytes=10**9,
                 max_age_ms=10**9)
    emitter = Emitter("gw-a", box, SystemClock())
    t0 = int(time.time() * 1000) - n
    for i in range(n):   # a backlog as after an outage
        assert emitter.emit(dev, Kind.WATER_METER, Channel.READING, {"total_l": float(i)}, ts_ms=t0 + i)
    box.close()
    mqtt = agent_mqtt | {"drain_rate": 2000.0}
    agent = start_agent(agents, tmp_path, mqtt=mqtt, drivers=[])
    wait_for(lambda: len(seqs(services, "water_meter", dev)) > 500, 20, what="draining started")
    killed_ms = int(time.time() * 1000)
    agent.kill()                                           # SIGKILL mid-drain
    partial = len(seqs(services, "water_meter", dev))
    assert partial < n, "drain finished before the kill; the test proves nothing"
    wait_for(lambda: services.influx.rows("SELECT online FROM gateway_state WHERE gateway = 'gw-a' AND "
                                          f"online = false AND time >= {killed_ms}ms"), 20,
             what="the last will {online: false} in InfluxDB")
    start_agent(agents, tmp_path, "agent2", mqtt=agent_mqtt, drivers=[])
    wait_for(lambda: seqs(services, "water_meter", dev) == list(range(1, n + 1)), 60,
             what=f"all {n} readings after the restart")


def test_outbox_full_sheds_readings_keeps_events_and_counts(services: Services, ingest: IngestProcess, agents,
                                                            tmp_path: Path, uid: str, agent_mqtt: dict) -> None:
    dev, btn = f"wm-{uid}", f"cb-{uid}"
    bus = MeterBus(PtyPort(tmp_path / "meters"), [M1], litres).start()
    rx = CallButtonReceiver(PtyPort(tmp_path / "buttons")).start()
    drivers = [{"driver": "cjt188", "id": "meters", "port": str(bus.path), "poll_s": 0.05, "timeout_s": 0.3,
                "meters": [{"device": dev, "address": M1}]},
               {"driver": "callbutton", "id": "buttons", "port": str(rx.path), "buttons": {"B1": btn}}]
    try:
        # no broker reachable: everything stays in an outbox bounded to 40 messages
        offline = {"url": "mqtt://127.0.0.1:9", "reconnect_max_s": 1.0}
        agent = start_agent(agents, tmp_path, mqtt=offline, outbox={"max_messages": 40},
                            health={"interval_s": 0.5}, drivers=drivers)
        time.sleep(1.0)
        for _ in range(12):
            rx.emit("B1", ButtonEvent.PRESS)
            time.sleep(0.15)
        time.sleep(1.0)
        agent.stop()
        box = Outbox(tmp_path / "state" / "outbox.db", SystemClock(), max_messages=40, max_bytes=10**9,
                     max_age_ms=10**9)
        events, rest = box.fetch(0, 0, 1000, 1000)
        counters = dict(box.counters)
        box.close()
        assert len(events) == 12 and box.depth <= 41
        assert counters["shed_readings"] > 0 and counters["shed_events"] == 0
        # then the broker is reachable: the events and the newest readings land
        start_agent(agents, tmp_path, "agent2", mqtt=agent_mqtt, drivers=[])
        wait_for(lambda: len(seqs(services, "call_button", btn)) == 12, 20, what="all 12 presses in InfluxDB")
        kept = wait_for(lambda: seqs(services, "water_meter", dev), 20, what="the kept readings")
        assert kept[0] > 1                                   # the oldest readings were the ones shed
        shed = wait_for(lambda: services.influx.rows(
            "SELECT shed_readings FROM device_status WHERE device = 'gw-a' AND shed_readings > 0 "
            "AND time > now() - 1m"), 20, what="shed count reported in a status message")
        assert shed[-1]["shed_readings"] > 0
    finally:
        bus.stop()
        rx.stop()


def test_live_events_overtake_the_backlog(services: Services, agents, tmp_path: Path, uid: str, agent_mqtt: dict,
                                          local_broker: int) -> None:
    dev, cam = f"wm-{uid}", f"cam-{uid}"
    n = 4000
    box = Outbox(tmp_path / "state" / "outbox.db", SystemClock(), max_messages=10**6, max_bytes=10**9,
                 max_age_ms=10**9)
    emitter = Emitter("gw-a", box, SystemClock())
    t0 = int(time.time() * 1000) - n
    for i in range(n):
        emitter.emit(dev, Kind.WATER_METER, Channel.READING, {"total_l": float(i)}, ts_ms=t0 + i)
    box.close()
    watcher = services.service_peer()
    cam_peer = MqttPeer(local_broker, None, None).start()
    try:
        watcher.client.subscribe(f"sw/v1/gw-a/{dev}/reading", qos=1)
        watcher.client.subscribe(f"sw/v1/gw-a/{cam}/event", qos=1)
        time.sleep(0.3)
        start_agent(agents, tmp_path, mqtt=agent_mqtt | {"drain_rate": 1000.0}, drivers=[
            {"driver": "local_mqtt", "id": f"cams-{uid}", "url": f"mqtt://127.0.0.1:{local_broker}",
             "devices": {"gate": {"device": cam, "kind": "camera"}}}])
        wait_for(lambda: len(watcher.messages) > 300, 20, what="backlog draining")
        cam_peer.publish("local/gate/event", json.dumps({"type": "person", "state": "start"}))
        wait_for(lambda: len({m.payload for m in watcher.messages}) >= n + 1, 30, what="backlog and event delivered")
        topics = [m.topic for m in watcher.messages]
        at = topics.index(f"sw/v1/gw-a/{cam}/event")
        behind = sum(1 for t in topics[at:] if t.endswith("/reading"))
        assert behind > 1500, f"the event waited behind the backlog ({behind} readings after it)"
    finally:
        cam_peer.stop()
        watcher.stop()
