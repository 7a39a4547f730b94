"""Call-button line protocol: good and bad lines, and the stream splitter."""

from __future__ import annotations

from functools import reduce
from operator import xor

import pytest

from fieldbus import BadLength, ChecksumError, FieldError, FrameError, GarbageSkipped
from fieldbus.callbutton_line import ButtonEvent, ButtonLine, LineDecoder, encode_line, parse_line


def line(body: str, check: str | None = None, end: str = "\r\n") -> bytes:
    """A line with an independently computed XOR checksum (or a given one)."""
    cs = check if check is not None else f"{reduce(xor, body.encode(), 0):02X}"
    return f"${body}*{cs}{end}".encode()


PRESS = ButtonLine("B0001", ButtonEvent.PRESS, 17, 2950, -67)


def test_literal_line():
    assert encode_line(PRESS) == b"$CB,B0001,PRESS,17,2950,-67*0D\r\n"
    assert parse_line(b"$CB,B0001,PRESS,17,2950,-67*0D\r\n") == PRESS


@pytest.mark.parametrize("event, action", [("PRESS", "press"), ("LONG", "long_press"), ("CANCEL", "cancel"),
                                           ("TEST", "test"), ("HB", None)])
def test_every_event(event, action):
    parsed = parse_line(line(f"CB,call-7,{event},65535,3000,0"))
    assert parsed.event.action == action
    assert parsed.seq == 65535 and parsed.battery_v == 3.0 and parsed.rssi_dbm == 0
    assert encode_line(parsed) == line(f"CB,call-7,{event},65535,3000,0")


def test_lenient_terminators_and_lowercase_checksum():
    assert parse_line(line("CB,B0001,PRESS,17,2950,-67", end="\n")) == PRESS
    assert parse_line(line("CB,B0001,PRESS,17,2950,-67", end="")) == PRESS
    assert parse_line(b"$CB,B0001,PRESS,17,2950,-67*0d\r\n") == PRESS


@pytest.mark.parametrize("raw, error, match", [
    (b"CB,B0001,PRESS,17,2950,-67*0D\r\n", FrameError, "start with '\\$'"),
    (b"$CB,B0001,PRESS,17,2950,-67\r\n", FrameError, "no '\\*'"),
    (b"$CB,B0001,PRESS,17,2950,-67*0G\r\n", FrameError, "two hex digits"),
    (b"$CB,B0001,PRESS,17,2950,-67*0E\r\n", ChecksumError, "XORs to 0D"),
    (b"$CB,B0001,PRESS,17,2950,-6\xe7*0D\r\n", FrameError, "E7h at offset 26"),
    (b"$CB,B0001,PRE\rSS,17,2950,-67*0D\r\n", FrameError, "line break"),
    (line("XX,B0001,PRESS,17,2950,-67"), FieldError, "sentence"),
    (line("CB,B0001,PRESS,17,2950"), FieldError, "4 fields"),
    (line("CB,B0001,PRESS,17,2950,-67,1"), FieldError, "6 fields"),
    (line("CB,B0001,PUSH,17,2950,-67"), FieldError, "event: 'PUSH'"),
    (line("CB,B0001,press,17,2950,-67"), FieldError, "event"),
    (line("CB,B00 01,PRESS,17,2950,-67"), FieldError, "device_id"),
    (line("CB,,PRESS,17,2950,-67"), FieldError, "device_id"),
    (line("CB,B0001,PRESS,1a,2950,-67"), FieldError, "seq: '1a'"),
    (line("CB,B0001,PRESS,-1,2950,-67"), FieldError, "seq"),
    (line("CB,B0001,PRESS,70000,2950,-67"), FieldError, "seq: 70000"),
    (line("CB,B0001,PRESS,17,99999,-67"), FieldError, "battery_mv: 99999"),
    (line("CB,B0001,PRESS,17,2950,5"), FieldError, "rssi_dbm: 5"),
    (line("CB,B0001,PRESS,17,2950,-151"), FieldError, "rssi_dbm"),
    (line("CB," + "B" * 70 + ",PRESS,17,2950,-67"), BadLength, "at most 82"),
])
def test_bad_lines(raw, error, match):
    with pytest.raises(error, match=match) as info:
        parse_line(raw)
    assert info.value.raw == raw


def test_encode_refuses_bad_values():
    with pytest.raises(FieldError, match="seq"):
        encode_line(ButtonLine("B1", ButtonEvent.HB, 65536, 3000, -50))
    with pytest.raises(FieldError, match="device_id"):
        encode_line(ButtonLine("B,1", ButtonEvent.HB, 1, 3000, -50))


def test_decoder_splits_reassembles_and_reports():
    good = encode_line(PRESS)
    hb = encode_line(ButtonLine("B0002", ButtonEvent.HB, 3, 3100, -80))
    dec = LineDecoder()
    out = []
    stream = b"\r\n" + b"\x00~" + good + good[:-4] + b"FF\r\n" + hb
    for i in range(0, len(stream), 7):
        out += dec.feed(stream[i:i + 7])
    assert isinstance(out[0], GarbageSkipped)
    assert out[0].raw == b"\x00~"
    assert out[1] == PRESS
    assert isinstance(out[2], ChecksumError)
    assert out[3] == ButtonLine("B0002", ButtonEvent.HB, 3, 3100, -80)
    assert len(out) == 4 and dec.flush() == []


def test_decoder_resyncs_on_last_dollar_and_drops_overlong_lines():
    dec = LineDecoder()
    out = dec.feed(b"$CB,B0001,PR" + encode_line(PRESS))
    assert isinstance(out[0], GarbageSkipped) and out[0].raw == b"$CB,B0001,PR"
    assert out[1] == PRESS
    out = dec.feed(b"#" * 200)
    assert len(out) == 1 and isinstance(out[0], BadLength)
    assert dec.feed(b"#" * 50) == []
    assert dec.feed(b"tail\r\n" + encode_line(PRESS)) == [PRESS]
    assert dec.feed(b"$CB,B0") == []
    (err,) = dec.flush()
    assert isinstance(err, FrameError) and err.raw == b"$CB,B0"
