"""Wire contract v1: ids, topics, payload validation and its precise reasons."""

from __future__ import annotations

import json

import pytest

from wire import ContractError, Message, decode, device_topic, encode, parse_topic, state_topic
from wire.models import MAX_PAYLOAD_BYTES, Channel, Kind, StateMessage, encode_state
from wire.topics import DeviceTopic, StateTopic

NOW = 1_795_450_000_000


def payload(kind: str = "water_meter", data: object = None, **over: object) -> bytes:
    obj = {"v": 1, "kind": kind, "ts": NOW - 1000, "seq": 1, "data": {"total_l": 1.0} if data is None else data}
    obj.update(over)
    return json.dumps(obj).encode()


def reject(topic: str, body: bytes) -> ContractError:
    with pytest.raises(ContractError) as exc:
        decode(topic, body, now_ms=NOW)
    return exc.value


@pytest.mark.parametrize("good", ["a", "gw-1", "0", "a" * 64, "x-y-z9"])
def test_valid_ids_build_topics(good: str) -> None:
    assert device_topic(good, good, "reading") == f"sw/v1/{good}/{good}/reading"
    assert parse_topic(f"sw/v1/{good}/{good}/event") == DeviceTopic(good, good, Channel.EVENT)
    assert parse_topic(state_topic(good)) == StateTopic(good)


@pytest.mark.parametrize("bad", ["", "-a", "A", "a_b", "a" * 65, "张三", "a b", "a/b", "+", "#"])
def test_invalid_ids_are_refused(bad: str) -> None:
    with pytest.raises(ContractError) as exc:
        device_topic("gw", bad, "reading")
    assert exc.value.code == "id"


@pytest.mark.parametrize("topic,fragment", [
    ("other/v1/gw/dev/reading", "not under sw/v1"),
    ("sw/v2/gw/dev/reading", "not under sw/v1"),
    ("sw/v1/GW/dev/reading", "gateway id"),
    ("sw/v1/gw/Dev/reading", "device id"),
    ("sw/v1/gw/dev/telemetry", "channel 'telemetry'"),
    ("sw/v1/gw/dev/reading/extra", "6 levels"),
    ("sw/v1/gw/status", "unknown gateway topic"),
])
def test_bad_topics_say_why(topic: str, fragment: str) -> None:
    err = reject(topic, payload())
    assert err.code == "topic"
    assert fragment in err.reason


@pytest.mark.parametrize("kind,channel,data", [
    ("water_meter", "reading", {"total_l": 12345.6, "flow_lpm": 0.5, "battery_v": 3.6, "valve_open": True,
                                "leak_flag": False}),
    ("call_button", "event", {"action": "press"}),
    ("river_gauge", "reading", {"level_m": 3.21, "raw_distance_m": 4.0}),
    ("camera", "event", {"type": "intrusion", "state": "start", "zone": "embankment", "score": 0.9,
                         "event_id": "e-1", "snapshot": "http://cam/1.jpg"}),
    ("camera", "status", {"battery_v": 12.1, "rssi_dbm": -70, "heartbeat": True, "fault": "lens"}),
])
def test_every_kind_and_channel_round_trips(kind: str, channel: str, data: dict) -> None:
    msg = Message("gw-1", "dev-1", Channel(channel), Kind(kind), NOW, 7, data)
    topic, body = encode(msg)
    back = decode(topic, body, now_ms=NOW)
    assert back == Message("gw-1", "dev-1", Channel(channel), Kind(kind), NOW, 7,
                           {k: float(v) if isinstance(v, int) and not isinstance(v, bool) else v
                            for k, v in data.items()})


def test_state_messages_round_trip() -> None:
    back = decode("sw/v1/gw-1/state", encode_state(True, ts=NOW, version="1.0"), now_ms=NOW)
    assert back == StateMessage("gw-1", True, NOW, {"online": True, "ts": NOW, "version": "1.0"})
    will = decode("sw/v1/gw-1/state", encode_state(False), now_ms=NOW)
    assert will.online is False and will.ts is None


@pytest.mark.parametrize("body,code,reason", [
    (payload(data={"total_l": "12"}), "schema", "data.total_l: expected number, got string"),
    (payload(data={"total_l": True}), "schema", "data.total_l: expected number, got boolean"),
    (payload(data={"total_l": None}), "schema", "data.total_l: expected number, got null"),
    (payload(data={}), "schema", "data.total_l: required field missing"),
    (payload(data={"total_l": 1, "colour": "red"}), "schema", "data.colour: unknown field"),
    (payload(data={"total_l": -5}), "schema", "data.total_l: input should be greater than or equal to 0"),
    (payload(extra=1), "schema", "extra: unknown field"),
    (payload(kind="toaster"), "schema", "kind: unknown kind 'toaster'"),
    (payload(kind="call_button", data={"action": "press"}), "schema", "channel reading is not defined for kind call_button"),
    (payload(v=2), "schema", "v: unsupported schema version 2"),
    (payload(ts="1795450000000"), "schema", "ts: expected integer, got string"),
    (payload(ts=1795450000000.5), "schema", "ts: expected integer, got number"),
    (payload(seq=-1), "schema", "seq: input should be greater than or equal to 0"),
    (payload(ts=0), "ts", "before 2020-01-01"),
    (payload(ts=NOW + 3_600_000), "ts", "3600 s in the future"),
    (b'{"v":1,"kind":"water_meter","ts":1795449999000,"seq":1,"data":{"total_l":NaN}}', "json", "NaN is not allowed"),
    (b'{"v":1,"kind":"water_meter","ts":1795449999000,"seq":1,"data":{"total_l":Infinity}}', "json",
     "Infinity is not allowed"),
    (b'{"v":1,"kind":"water_meter","ts":1795449999000,"seq":1,"data":{"total_l":1e999}}', "schema",
     "finite number"),
    (b"{not json", "json", "malformed JSON"),
    (b"\x00\xff\xfe garbage", "json", "not UTF-8"),
    (b"[1, 2]", "schema", "must be a JSON object, got array"),
    (b"[" * 5000, "json", "malformed JSON"),
    (b" " * (MAX_PAYLOAD_BYTES + 1), "size", f"limit is {MAX_PAYLOAD_BYTES}"),
])
def test_bad_payloads_are_rejected_with_a_precise_reason(body: bytes, code: str, reason: str) -> None:
    err = reject("sw/v1/gw-1/dev-1/reading", body)
    assert err.code == code
    assert reason in err.reason, err.reason


def test_camera_event_values_are_checked() -> None:
    body = payload(kind="camera", data={"type": "fire", "state": "start", "score": 1.5})
    err = reject("sw/v1/gw-1/cam-1/event", body)
    assert "data.type: 'fire' is not one of" in err.reason
    assert "data.score: input should be less than or equal to 1" in err.reason


def test_control_characters_in_strings_are_refused() -> None:
    body = payload(kind="camera", data={"type": "motion", "state": "pulse", "zone": "a\nb"})
    assert "data.zone" in reject("sw/v1/gw-1/cam-1/event", body).reason


@pytest.mark.parametrize("field", ["zone", "event_id", "snapshot"])
def test_a_final_newline_is_a_control_character_too(field: str) -> None:
    """Python's `$` matches before a final newline; the contract's patterns must not."""
    body = payload(kind="camera", data={"type": "motion", "state": "pulse", field: "gate\n"})
    assert f"data.{field}: should match pattern" in reject("sw/v1/gw-1/cam-1/event", body).reason


def test_encode_refuses_what_decode_would() -> None:
    with pytest.raises(ContractError):
        encode(Message("gw-1", "dev-1", Channel.READING, Kind.WATER_METER, NOW, 1, {"total_l": "x"}))
    with pytest.raises(ContractError):
        encode(Message("gw-1", "Bad Id", Channel.READING, Kind.WATER_METER, NOW, 1, {"total_l": 1}))


def test_encode_refuses_bad_envelope() -> None:
    with pytest.raises(ContractError, match="ts: expected integer"):
        encode(Message("gw-1", "dev-1", Channel.READING, Kind.WATER_METER, 1.5e12, 1, {"total_l": 1}))  # type: ignore[arg-type]
    with pytest.raises(ContractError, match="before 2020"):
        encode(Message("gw-1", "dev-1", Channel.READING, Kind.WATER_METER, 5, 1, {"total_l": 1}))


# --- gateway/status: an edge agent's health (added for the edge agent, issue 4) ----------------

AGENT_HEALTH = {"uptime_s": 3600.5, "outbox_depth": 12, "outbox_bytes": 2400, "outbox_oldest_s": 4.5, "sent": 9000,
                "shed_readings": 3, "shed_events": 0, "shed_status": 1, "rejected": 2, "cpu_pct": 1.2,
                "rss_mb": 31.5, "temp_c": 48.2, "connected": True, "drivers_down": 0}
DRIVER_HEALTH = {"polls": 100, "ok": 95, "errors": 7, "timeouts": 3, "checksum_errors": 2, "bad_frames": 1,
                 "garbage": 4, "bad_values": 1, "out_of_range": 0, "devices_down": 1, "port_down": False,
                 "restarts": 1, "last_error": "ChecksumError"}


@pytest.mark.parametrize("data", [AGENT_HEALTH, DRIVER_HEALTH, {}])
def test_gateway_status_round_trips(data: dict) -> None:
    msg = Message("gw-1", "gw-1", Channel.STATUS, Kind.GATEWAY, NOW, 3, data)
    topic, body = encode(msg)
    assert topic == "sw/v1/gw-1/gw-1/status"
    assert decode(topic, body, now_ms=NOW) == msg


@pytest.mark.parametrize("data,reason", [
    ({"outbox_depth": -1}, "data.outbox_depth: input should be greater than or equal to 0"),
    ({"outbox_depth": 1.5}, "data.outbox_depth: expected integer, got number"),
    ({"port_down": "no"}, "data.port_down: expected boolean, got string"),
    ({"battery_v": 3.0}, "data.battery_v: unknown field"),     # device fields stay on device kinds
    ({"last_error": "a\nb"}, "data.last_error"),
])
def test_gateway_status_is_strict(data: dict, reason: str) -> None:
    err = reject("sw/v1/gw-1/gw-1/status", payload(kind="gateway", data=data))
    assert err.code == "schema" and reason in err.reason, err.reason


@pytest.mark.parametrize("channel", ["reading", "event"])
def test_gateway_kind_has_only_a_status_channel(channel: str) -> None:
    err = reject(f"sw/v1/gw-1/gw-1/{channel}", payload(kind="gateway", data={}))
    assert f"channel {channel} is not defined for kind gateway" in err.reason


def test_device_kinds_keep_their_status_model() -> None:
    for kind in ("water_meter", "call_button", "river_gauge", "camera"):
        err = reject("sw/v1/gw-1/dev-1/status", payload(kind=kind, data={"outbox_depth": 1}))
        assert "data.outbox_depth: unknown field" in err.reason
