"""Line protocol of contract messages, gateway presence and dead letters: exact bytes, no InfluxDB."""

from __future__ import annotations

import base64

import pytest

from ingest.lineproto import dead_letter_line, message_line, payload_text, state_line
from wire.models import Channel, Kind, Message, StateMessage

TS = 1_795_450_000_123
NS = TS * 1_000_000


def test_a_reading_is_a_point_of_its_kind_with_numbers_as_floats_and_seq_as_integer() -> None:
    msg = Message("gw-a", "wm-1", Channel.READING, Kind.WATER_METER, TS, 4711,
                  {"total_l": 12, "flow_lpm": 2.5, "valve_open": True, "leak_flag": False})
    assert message_line(msg) == (f"water_meter,device=wm-1,gateway=gw-a "
                                 f"total_l=12.0,flow_lpm=2.5,valve_open=true,leak_flag=false,seq=4711i {NS}")


def test_integer_and_float_of_the_same_field_have_one_type() -> None:
    """A meter that sends 12 once and 12.5 next never causes a field type conflict."""
    lines = [message_line(Message("gw-a", "wm-1", Channel.READING, Kind.WATER_METER, TS, 1, {"total_l": v}))
             for v in (12, 12.5)]
    assert [line.split(" ")[1].split(",")[0] for line in lines] == ["total_l=12.0", "total_l=12.5"]


def test_status_goes_to_device_status_with_the_kind_as_tag() -> None:
    msg = Message("gw-a", "btn-1", Channel.STATUS, Kind.CALL_BUTTON, TS, 3, {"battery_v": 2.9, "heartbeat": True})
    assert message_line(msg) == (f"device_status,device=btn-1,gateway=gw-a,kind=call_button "
                                 f"battery_v=2.9,heartbeat=true,seq=3i {NS}")


def test_string_fields_are_quoted_and_escaped() -> None:
    msg = Message("gw-a", "cam-1", Channel.EVENT, Kind.CAMERA, TS, 9,
                  {"type": "person", "state": "start", "zone": 'gate "A" \\ east'})
    line = message_line(msg)
    assert 'zone="gate \\"A\\" \\\\ east"' in line
    assert line.startswith("camera,device=cam-1,gateway=gw-a type=\"person\",state=\"start\",")
    assert line.endswith(f",seq=9i {NS}")


def test_gateway_state_uses_its_ts_or_the_arrival_time_for_a_last_will() -> None:
    birth = StateMessage("gw-a", True, TS, {"online": True, "ts": TS, "version": "1.2"})
    assert state_line(birth, received_ms=TS + 5000) == f'gateway_state,gateway=gw-a online=true,version="1.2" {NS}'
    will = StateMessage("gw-a", False, None, {"online": False})
    assert state_line(will, received_ms=TS + 5000) == f"gateway_state,gateway=gw-a online=false {NS + 5_000_000_000}"


@pytest.mark.parametrize("payload,expected", [
    (b'{"a": 1}', ('{"a": 1}', "utf-8")),
    (bytes([0xff, 0x00, 0x10]), (base64.b64encode(bytes([0xff, 0x00, 0x10])).decode(), "base64")),
])
def test_payload_text_is_utf8_when_it_is_else_base64(payload: bytes, expected: tuple[str, str]) -> None:
    assert payload_text(payload) == expected


def test_payload_text_is_clipped() -> None:
    assert payload_text(b"x" * 20, limit=8) == ("x" * 8, "utf-8")


def test_dead_letter_keeps_topic_reason_and_payload_on_one_line() -> None:
    line = dead_letter_line("schema", 'data.total_l: expected number, got "x"', "sw/v1/gw-a/wm-1/reading",
                            b'{"v":1,\n"kind":"water_meter"}', 42)
    assert line == ('dead_letter,code=schema topic="sw/v1/gw-a/wm-1/reading",'
                    'reason="data.total_l: expected number, got \\"x\\"",'
                    'payload="{\\"v\\":1, \\"kind\\":\\"water_meter\\"}",encoding="utf-8",size=29i 42')
    assert "\n" not in line


def test_dead_letter_makes_control_characters_in_topic_and_reason_printable() -> None:
    line = dead_letter_line("topic", "bad\x00reason", "sw/v1/\x07/x", b"", 1)
    assert 'topic="sw/v1/?/x"' in line and 'reason="bad?reason"' in line
