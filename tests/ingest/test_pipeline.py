"""The pure pipeline: topic + payload + arrival time + limits -> a point line or a dead letter."""

from __future__ import annotations

import json

import pytest

from ingest.pipeline import DeadLetter, DeadLetterStamps, Limits, Point, clears_retained, process
from wire import encode
from wire.models import Channel, Kind, Message, encode_state

NOW = 1_795_450_000_000
LIMITS = Limits(max_future_ms=300_000, max_age_ms=730 * 86_400_000)


def reading(ts: int = NOW - 1000, total_l: float = 12.5) -> tuple[str, bytes]:
    return encode(Message("gw-a", "wm-1", Channel.READING, Kind.WATER_METER, ts, 7, {"total_l": total_l}))


def test_a_valid_reading_becomes_its_point_at_the_device_time() -> None:
    topic, payload = reading()
    out = process(topic, payload, NOW, LIMITS)
    assert out == Point(f"water_meter,device=wm-1,gateway=gw-a total_l=12.5,seq=7i {(NOW - 1000) * 10**6}", NOW - 1000)


def test_the_same_message_twice_is_the_same_line() -> None:
    """Redelivery overwrites the point instead of duplicating it: the line does not depend on arrival."""
    topic, payload = reading()
    assert process(topic, payload, NOW, LIMITS) == process(topic, payload, NOW + 60_000, LIMITS)


def test_a_last_will_without_ts_is_stamped_at_arrival() -> None:
    out = process("sw/v1/gw-a/state", encode_state(False), NOW, LIMITS)
    assert out == Point(f"gateway_state,gateway=gw-a online=false {NOW * 10**6}", None)


def test_a_birth_keeps_its_own_ts() -> None:
    out = process("sw/v1/gw-a/state", encode_state(True, ts=NOW - 5, version="1"), NOW, LIMITS)
    assert isinstance(out, Point) and out.ts_ms == NOW - 5 and out.line.endswith(f" {(NOW - 5) * 10**6}")


@pytest.mark.parametrize("topic,payload,code,fragment", [
    ("sw/v1/gw-a/wm-1/reading", b'{"v":1,', "json", "malformed JSON"),
    ("sw/v1/gw-a/wm-1/reading", json.dumps({"v": 1, "kind": "water_meter", "ts": NOW, "seq": 1,
                                            "data": {"total_l": "12"}}).encode(),
     "schema", "data.total_l: expected number, got string"),
    ("sw/v1/gw-a/WM_1/reading", reading()[1], "topic", "device id"),
    ("sw/v1/gw-a/wm-1/reading", reading(ts=NOW + 300_001)[1], "ts", "in the future"),
])
def test_a_message_that_breaks_the_contract_is_a_dead_letter(topic: str, payload: bytes, code: str,
                                                             fragment: str) -> None:
    out = process(topic, payload, NOW, LIMITS)
    assert isinstance(out, DeadLetter)
    assert (out.topic, out.payload, out.code, out.received_ms) == (topic, payload, code, NOW)
    assert fragment in out.reason


def test_limits_are_measured_from_the_arrival_time() -> None:
    topic, payload = reading(ts=NOW + 300_000)
    assert isinstance(process(topic, payload, NOW, LIMITS), Point)
    assert isinstance(process(topic, payload, NOW, Limits(max_future_ms=0)), DeadLetter)
    old_topic, old = reading(ts=NOW - 3_600_001)
    assert isinstance(process(old_topic, old, NOW, Limits(300_000, max_age_ms=3_600_000)), DeadLetter)
    assert isinstance(process(old_topic, old, NOW, Limits(300_000, max_age_ms=None)), Point)


def test_a_dead_letter_body_names_topic_code_reason_and_keeps_the_payload() -> None:
    dl = DeadLetter("sw/v1/gw-a/wm-1/reading", b"\xff\xfe", "json", "payload is not UTF-8", NOW)
    assert json.loads(dl.body()) == {"topic": "sw/v1/gw-a/wm-1/reading", "code": "json",
                                     "reason": "payload is not UTF-8", "received_ms": NOW, "size": 2,
                                     "payload": "//4=", "encoding": "base64"}
    assert dl.line(123).startswith("dead_letter,code=json ") and dl.line(123).endswith(" 123")


def test_dead_letter_stamps_never_repeat() -> None:
    stamps = DeadLetterStamps()
    got = [stamps.next(NOW) for _ in range(3)] + [stamps.next(NOW - 10), stamps.next(NOW + 1)]
    base = NOW * 10**6
    assert got == [base, base + 1, base + 2, base + 3, base + 1_000_000]


@pytest.mark.parametrize("topic,payload,retain,clear", [
    ("sw/v1/gw-a/wm-1/reading", b"{}", True, True),
    ("sw/v1/gw-a/state", b"{}", True, False),  # a gateway's presence is meant to stay retained
    ("sw/v1/gw-a/wm-1/reading", b"", True, False),  # already the clearing message
    ("sw/v1/gw-a/wm-1/reading", b"{}", False, False),
    ("sw/v1/NOT_AN_ID/state", b"{}", True, True),
])
def test_only_a_gateways_presence_may_stay_retained(topic: str, payload: bytes, retain: bool, clear: bool) -> None:
    assert clears_retained(topic, payload, retain) is clear
