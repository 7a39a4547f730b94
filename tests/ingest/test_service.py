"""Ingest against real Mosquitto and influxd: round trips, idempotency, outages, kills, bad input; and the worker
in process with an injected clock and line store."""

from __future__ import annotations

import json
import threading
import time

import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from ground.clock import ManualClock
from ingest.service import IngestService
from ingest.writer import MemoryLineStore
from shouwang.config import load_config
from tests.conftest import Services, now_ms, reading
from tests.helpers import IngestProcess, MqttPeer, wait_for
from wire import DEAD_LETTER_TOPIC, Message, encode
from wire.models import Channel, Kind, encode_state


def count(services: Services, measurement: str, field: str, device: str) -> int:
    rows = services.influx.rows(f"SELECT count({field}) FROM {measurement} WHERE device = '{device}'")
    return int(rows[0]["count"]) if rows else 0


def publish_all(gw: MqttPeer, items: list[tuple[str, bytes]]) -> None:
    mids = [gw.publish(t, p) for t, p in items]
    codes = gw.wait_acked(mids, timeout=60)
    assert not [c for c in codes.values() if c.is_failure]


CASES = [
    (Kind.WATER_METER, Channel.READING, {"total_l": 12345.5, "flow_lpm": 2.0, "battery_v": 3.6, "valve_open": True,
                                          "leak_flag": False}, "water_meter"),
    (Kind.CALL_BUTTON, Channel.EVENT, {"action": "press"}, "call_button"),
    (Kind.RIVER_GAUGE, Channel.READING, {"level_m": 4.25, "raw_distance_m": 1.75}, "river_gauge"),
    (Kind.CAMERA, Channel.EVENT, {"type": "person", "state": "start", "zone": "gate \"A\"", "score": 0.87,
                                   "event_id": "ev-9", "snapshot": "http://cam.local/s/9.jpg"}, "camera"),
    (Kind.CALL_BUTTON, Channel.STATUS, {"battery_v": 2.9, "rssi_dbm": -81.0, "heartbeat": True}, "device_status"),
    (Kind.WATER_METER, Channel.STATUS, {"fault": "valve stuck"}, "device_status"),
]


@pytest.mark.parametrize("kind,channel,data,measurement", CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_round_trip_every_kind_and_channel(services: Services, ingest: IngestProcess, uid: str,
                                           kind: Kind, channel: Channel, data: dict, measurement: str) -> None:
    device = f"rt-{uid}"
    ts = now_ms() - 5000
    gw = services.gateway("gw-a")
    try:
        publish_all(gw, [encode(Message("gw-a", device, channel, kind, ts, 42, data))])
    finally:
        gw.stop()
    def complete() -> list[dict]:
        # InfluxDB 1.6 may answer SELECT * right after a write with a field created by that write still missing
        rows = services.influx.rows(f"SELECT * FROM {measurement} WHERE device = '{device}'")
        return rows if rows and all(rows[0].get(k) is not None for k in ("seq", *data)) else []

    rows = wait_for(complete, what=f"{measurement} point with every field")
    assert len(rows) == 1
    row = rows[0]
    assert row["time"] == ts
    assert row["gateway"] == "gw-a" and row["device"] == device
    assert row["seq"] == 42
    for key, value in data.items():
        assert row[key] == value, key
    if measurement == "device_status":
        assert row["kind"] == kind.value


def test_gateway_birth_and_last_will(services: Services, ingest: IngestProcess) -> None:
    birth_ts = now_ms() - 1000
    gw = MqttPeer(services.port, "gw-b", services.passwords["gw-b"])
    gw.client.will_set("sw/v1/gw-b/state", encode_state(False), qos=1, retain=True)
    gw.start()
    gw.wait_acked([gw.publish("sw/v1/gw-b/state", encode_state(True, ts=birth_ts, version="t"), retain=True)])
    # v5 "disconnect with will message": the broker publishes the will as on a lost link
    gw.client.disconnect(reasoncode=ReasonCode(PacketTypes.DISCONNECT, "Disconnect with will message"))
    gw.client.loop_stop()
    rows = wait_for(lambda: (r := services.influx.rows(
        f"SELECT * FROM gateway_state WHERE gateway = 'gw-b' AND time >= {birth_ts}ms")) and len(r) >= 2 and r,
        what="birth and will in gateway_state")
    assert rows[0]["online"] is True and rows[0]["time"] == birth_ts and rows[0]["version"] == "t"
    assert rows[-1]["online"] is False


def test_same_message_twice_is_one_point(services: Services, ingest: IngestProcess, uid: str) -> None:
    device = f"dup-{uid}"
    item = reading("gw-a", device, now_ms() - 1000, 1, 5.0)
    gw = services.gateway("gw-a")
    try:
        publish_all(gw, [item, item])
        publish_all(gw, [reading("gw-a", device, now_ms() - 500, 2, 6.0)])
    finally:
        gw.stop()
    wait_for(lambda: count(services, "water_meter", "total_l", device) == 2, what="2 points")
    time.sleep(0.5)
    assert count(services, "water_meter", "total_l", device) == 2


BAD = [
    # (suffix, channel, payload, code, reason fragment)
    ("json", "reading", b'{"v":1,"kind":"water_meter"', "json", "malformed JSON"),
    ("missing", "reading", None, "schema", "data.total_l: required field missing"),
    ("extra", "reading", None, "schema", "data.colour: unknown field"),
    ("type", "reading", None, "schema", "data.total_l: expected number, got string"),
    ("nan", "reading", None, "json", "NaN is not allowed"),
    ("inf", "reading", None, "json", "Infinity is not allowed"),
    ("big", "reading", None, "size", "limit is 16384"),
    ("old", "reading", None, "ts", "before 2020-01-01"),
    ("future", "reading", None, "ts", "in the future"),
    ("kind", "reading", None, "schema", "kind: unknown kind 'toaster'"),
    ("garbage", "reading", bytes(range(256)) * 4, "json", "not UTF-8"),
    ("BAD_ID", "reading", None, "topic", "device id"),
    ("chan", "telemetry", None, "topic", "channel 'telemetry'"),
]


def _bad_payload(name: str, ts: int) -> bytes:
    base = {"v": 1, "kind": "water_meter", "ts": ts, "seq": 1, "data": {"total_l": 1.0}}
    if name == "missing":
        base["data"] = {}
    elif name == "extra":
        base["data"]["colour"] = "red"
    elif name == "type":
        base["data"]["total_l"] = "12"
    elif name == "nan":
        return json.dumps(base).replace("1.0", "NaN").encode()
    elif name == "inf":
        return json.dumps(base).replace("1.0", "-Infinity").encode()
    elif name == "big":
        base["pad"] = "x" * 17000
    elif name == "old":
        base["ts"] = 86_400_000
    elif name == "future":
        base["ts"] = ts + 86_400_000
    elif name == "kind":
        base["kind"] = "toaster"
    return json.dumps(base).encode()


def test_bad_input_is_dead_lettered_and_good_messages_land(services: Services, ingest: IngestProcess,
                                                           uid: str) -> None:
    spy = services.service_peer()
    spy.client.subscribe(DEAD_LETTER_TOPIC, qos=1)
    time.sleep(0.2)
    gw = services.gateway("gw-a")
    good_device = f"good-{uid}"
    ts = now_ms() - 10_000
    items: list[tuple[str, bytes]] = []
    expected = {}
    for i, (name, channel, body, code, fragment) in enumerate(BAD):
        items.append(reading("gw-a", good_device, ts + i, i))
        device = name if name == "BAD_ID" else f"bad-{name}-{uid}"
        topic = f"sw/v1/gw-a/{device}/{channel}"
        items.append((topic, body if body is not None else _bad_payload(name, ts)))
        expected[topic] = (code, fragment)
    items.append(reading("gw-a", good_device, ts + len(BAD), len(BAD)))
    try:
        publish_all(gw, items)
        wait_for(lambda: count(services, "water_meter", "total_l", good_device) == len(BAD) + 1,
                 what="every good message")

        def dead() -> dict[str, dict]:
            return {m["topic"]: m for m in (json.loads(x.payload) for x in list(spy.messages))
                    if m["topic"] in expected}

        got = wait_for(lambda: len(d := dead()) == len(expected) and d, what="a dead letter per bad message")
    finally:
        gw.stop()
        spy.stop()
    for topic, (code, fragment) in expected.items():
        assert got[topic]["code"] == code, (topic, got[topic])
        assert fragment in got[topic]["reason"], (topic, got[topic]["reason"])
    # kept durably in InfluxDB too, with the reason
    rows = services.influx.rows(f"SELECT * FROM dead_letter WHERE time >= {ts - 60_000}ms")
    stored = {r["topic"]: r for r in rows if r["topic"] in expected}
    assert set(stored) == set(expected)
    assert stored[f"sw/v1/gw-a/bad-garbage-{uid}/reading"]["encoding"] == "base64"
    m = ingest.metrics()
    assert m['ingest_messages_rejected_total{code="schema"}'] >= 4
    # nothing was lost or left unacknowledged
    wait_for(lambda: ingest.metrics().get("ingest_pending_messages") == 0, what="no pending messages")


def _publish_stream(services: Services, device: str, n: int, ts0: int, pace_s: float,
                    done: threading.Event) -> None:
    gw = services.gateway("gw-a", client_id=f"pub-{device}")
    try:
        mids = []
        for i in range(n):
            topic, body = reading("gw-a", device, ts0 + i, i, float(i))
            mids.append(gw.publish(topic, body))
            time.sleep(pace_s)
        gw.wait_acked(mids, timeout=120)
    finally:
        gw.stop()
        done.set()


def test_influxdb_down_mid_stream_loses_nothing(services: Services, ingest: IngestProcess, uid: str) -> None:
    device = f"outage-{uid}"
    n = 1500
    done = threading.Event()
    t = threading.Thread(target=_publish_stream, args=(services, device, n, now_ms() - 60_000, 0.002, done))
    t.start()
    wait_for(lambda: count(services, "water_meter", "total_l", device) > 100, what="stream flowing")
    services.influxd.stop()
    time.sleep(4)  # messages keep arriving; ingest must hold them unacknowledged
    retries_during = ingest.metrics()["ingest_write_retries_total"]
    services.influxd.start()
    t.join(120)
    assert done.is_set()
    wait_for(lambda: count(services, "water_meter", "total_l", device) == n, timeout=60, what=f"{n} points")
    assert retries_during > 0
    seqs = {r["seq"] for r in services.influx.rows(f"SELECT seq FROM water_meter WHERE device = '{device}'")}
    assert seqs == set(range(n))


def test_ingest_sigkill_mid_stream_loses_and_duplicates_nothing(services: Services, uid: str) -> None:
    device = f"kill-{uid}"
    n = 3000
    proc = IngestProcess(services.cfg, services.config_file).start()
    done = threading.Event()
    t = threading.Thread(target=_publish_stream, args=(services, device, n, now_ms() - 60_000, 0.001, done))
    t.start()
    try:
        wait_for(lambda: count(services, "water_meter", "total_l", device) > 200, what="stream flowing")
        proc.kill()
        landed_at_kill = count(services, "water_meter", "total_l", device)
        time.sleep(2)
        proc = IngestProcess(services.cfg, services.config_file).start()
        t.join(120)
        assert done.is_set()
        wait_for(lambda: count(services, "water_meter", "total_l", device) == n, timeout=60, what=f"{n} points")
        time.sleep(1)
        assert count(services, "water_meter", "total_l", device) == n  # distinct points: no duplicates
        assert landed_at_kill < n
        seqs = [r["seq"] for r in services.influx.rows(f"SELECT seq FROM water_meter WHERE device = '{device}'")]
        assert sorted(seqs) == list(range(n))
    finally:
        proc.stop()


def test_partial_write_rejects_only_the_offending_points(services: Services, uid: str, tmp_path) -> None:
    """A field type conflict makes InfluxDB answer 400 partial write: bisect, dead-letter, keep the rest."""
    db = f"conflict_{uid}"
    env = {"SHOUWANG_INFLUX__DATABASE": db, "SHOUWANG_INGEST__CLIENT_ID": f"svc_ingest_{uid}",
           "SHOUWANG_INGEST__SESSION_EXPIRY_S": "5",
           "SHOUWANG_INGEST__METRICS_PORT": str(_free())}
    cfg = load_config(services.config_file, env=env)
    proc = IngestProcess(cfg, services.config_file, env=env, name=f"ingest-{uid}").start()
    try:
        # poison: flow_lpm already exists as a string in this database's current shard
        from storage.influx import InfluxClient

        with InfluxClient(cfg.influx) as influx:
            influx.write(f'water_meter,device=poison,gateway=gw-a flow_lpm="oops" {(now_ms() - 3000) * 10**6}'.encode())
            device = f"pw-{uid}"
            ts = now_ms() - 2000
            items = []
            for i in range(20):
                data = {"total_l": float(i)} if i % 5 else {"total_l": float(i), "flow_lpm": 1.0}
                items.append(encode(Message("gw-a", device, Channel.READING, Kind.WATER_METER, ts + i, i, data)))
            gw = services.gateway("gw-a")
            try:
                publish_all(gw, items)
            finally:
                gw.stop()
            wait_for(lambda: len(influx.rows(f"SELECT total_l FROM water_meter WHERE device = '{device}'")) == 16,
                     what="the 16 good points")
            dead = wait_for(lambda: influx.rows("SELECT * FROM dead_letter WHERE code = 'influx'"),
                            what="dead letters for the conflicting points")
            assert len(dead) == 4
            assert all("field type conflict" in d["reason"] for d in dead)
        wait_for(lambda: proc.metrics().get("ingest_pending_messages") == 0, what="all acknowledged")
    finally:
        proc.stop()


def _free() -> int:
    from shouwang.procs import free_port

    return free_port()


def _restart_broker_then_publish(services: Services, device: str) -> None:
    services.broker.stop()
    services.broker.start()
    gw = services.gateway("gw-a")  # gateways often reconnect before ingest does
    try:
        publish_all(gw, [reading("gw-a", device, now_ms() - 1000, 1)])
    finally:
        gw.stop()


def test_plain_subscription_survives_a_broker_restart(services: Services, uid: str) -> None:
    """Ingest's plain persistent subscription outlives a Mosquitto restart, so a message published before
    ingest has reconnected is still delivered."""
    env = {"SHOUWANG_INGEST__CLIENT_ID": f"svc_ingest_plain_{uid}",
           "SHOUWANG_INGEST__METRICS_PORT": str(_free())}
    cfg = load_config(services.config_file, env=env)
    proc = IngestProcess(cfg, services.config_file, env=env, name=f"ingest-plain-{uid}").start()
    try:
        device = f"restart-{uid}"
        _restart_broker_then_publish(services, device)
        wait_for(lambda: count(services, "water_meter", "total_l", device) == 1, timeout=30,
                 what="the message published right after the broker restart")
    finally:
        proc.stop()


def test_in_process_with_an_injected_clock_and_store(services: Services, uid: str) -> None:
    """The worker on the real broker with a manual clock and the in-memory line store: arrival times, and so the
    future-ts check, the dead letters' times and the lag, come from the clock it was given."""
    env = {"SHOUWANG_INGEST__CLIENT_ID": f"svc_ingest_mem_{uid}", "SHOUWANG_INGEST__METRICS_PORT": "0",
           "SHOUWANG_INGEST__SESSION_EXPIRY_S": "5"}
    cfg = load_config(services.config_file, env=env)
    clock = ManualClock(now_ms() - 86_400_000)  # a day behind the devices
    store = MemoryLineStore()
    svc = IngestService(cfg, clock=clock, store=store)
    worker = threading.Thread(target=svc.run)
    worker.start()
    gw = services.gateway("gw-a")
    try:
        assert svc.consumer.ready.wait(20)
        device = f"mem-{uid}"
        ts = clock.now_ms() - 1000
        ahead = now_ms()  # the devices' "now" is a day ahead of the worker's clock
        publish_all(gw, [reading("gw-a", device, ts, 1, 5.0), reading("gw-a", device, ahead, 2, 6.0)])
        # (retained presences of earlier tests arrive too, and may be in the worker's future as well)
        dead = wait_for(lambda: [line for line in store.lines if line.startswith("dead_letter,code=ts ")
                                 and f'topic="sw/v1/gw-a/{device}/reading"' in line],
                        what="the dead letter of the message from the worker's future")
        assert int(dead[0].rsplit(" ", 1)[1]) // 1_000_000 == clock.now_ms()  # stamped at arrival, by the clock
        assert [line for line in store.lines if f"device={device}," in line] == [
            f"water_meter,device={device},gateway=gw-a total_l=5.0,seq=1i {ts * 1_000_000}"]
        m = svc.metrics.registry
        wait_for(lambda: m.get_sample_value("ingest_pending_messages") == 0
                 and m.get_sample_value("ingest_messages_acked_total") >= 2, what="both messages acknowledged")
        assert m.get_sample_value("ingest_consumer_lag_seconds") == 1.0
        assert m.get_sample_value("ingest_mqtt_connected") == 1.0 and m.get_sample_value("ingest_subscribed") == 1.0
    finally:
        gw.stop()
        svc.stop()
        worker.join(30)
    assert not worker.is_alive() and store.closed
