"""CJ/T 188 codec against frames written out by hand from the standard's layout."""

from __future__ import annotations

import random
from datetime import datetime
from decimal import Decimal

import pytest

from fieldbus import (
    AbnormalResponse,
    BadBcd,
    BadLength,
    BadPreamble,
    BadTerminator,
    ChecksumError,
    FieldError,
    FrameError,
    GarbageSkipped,
    IncompleteFrame,
)
from fieldbus.cjt188 import (
    DiOrder,
    FlowRegister,
    Frame,
    MeterReading,
    MeterStatus,
    StreamDecoder,
    Unit,
    ValveState,
    abnormal_response,
    address_bytes,
    decode_frame,
    decode_stream,
    frames_only,
    parse_read_request,
    parse_read_response,
    read_request,
    read_response,
)


def hexb(text: str) -> bytes:
    return bytes.fromhex(text)


# Read request to meter 12345678901234, SER 07. Address A0..A6 low byte first: 34 12 90 78 56 34 12.
# CS = 68+10+34+12+90+78+56+34+12+01+03+90+1F+07 = 31Ch -> 1C.
REQUEST = hexb("FE FE FE 68 10 34 12 90 78 56 34 12 01 03 90 1F 07 1C 16")

# Normal response from meter 00000000000001, SER 07: current 1234.56 m3 (56 34 12 00 2C), settlement 1200.00 m3
# (00 00 12 00 2C), clock 2024-07-15 08:30:05 (05 30 08 15 07 24 20), ST1 = 05 (valve closed, battery low), ST2 = 00.
# CS = 36Eh -> 6E.
RESPONSE = hexb("68 10 01 00 00 00 00 00 00 81 16 90 1F 07 56 34 12 00 2C 00 00 12 00 2C"
                " 05 30 08 15 07 24 20 05 00 6E 16")

# Response in litres from meter 20250101000042 with DI sent low byte first (1F 90), SER 00, no clock (zeros):
# current 00 50 34 12 29 = 123450.00 L, settlement 00 00 34 12 29 = 123400.00 L. CS = 375h -> 75.
RESPONSE_LITRES = hexb("68 10 42 00 00 01 01 25 20 81 16 1F 90 00 00 50 34 12 29 00 00 34 12 29"
                       " 00 00 00 00 00 00 00 00 00 75 16")

# Abnormal response from meter 00000000000001: C1 03, SER 07, ST1 03 (valve abnormal), ST2 00. CS = 147h -> 47.
ABNORMAL = hexb("68 10 01 00 00 00 00 00 00 C1 03 07 03 00 47 16")


def test_request_matches_hand_built_frame():
    assert read_request("12345678901234", ser=7).encode() == REQUEST
    frame = decode_frame(REQUEST)
    assert frame == Frame(0x10, "12345678901234", 0x01, hexb("90 1F 07"))
    assert parse_read_request(frame) == (7, DiOrder.AS_WRITTEN)


def test_request_with_low_first_di_and_no_preamble():
    raw = read_request("12345678901234", ser=7, di_order=DiOrder.LOW_FIRST).encode(preamble=0)
    # same sum as REQUEST: the DI bytes only swap places
    assert raw == hexb("68 10 34 12 90 78 56 34 12 01 03 1F 90 07 1C 16")
    assert parse_read_request(decode_frame(raw)) == (7, DiOrder.LOW_FIRST)


def test_response_decodes_to_the_values_written_by_hand():
    frame = decode_frame(RESPONSE)
    assert frame.is_response and not frame.is_abnormal
    reading = parse_read_response(frame, address="00000000000001", ser=7)
    assert reading.current == FlowRegister(123456, Unit.M3)
    assert reading.current.value == Decimal("1234.56")
    assert reading.total_l == 1234560.0
    assert reading.settlement.litres == 1200000.0
    assert reading.clock == datetime(2024, 7, 15, 8, 30, 5)
    assert reading.status == MeterStatus(ValveState.CLOSED, battery_low=True)
    assert reading.di_order is DiOrder.AS_WRITTEN


def test_encoder_reproduces_the_hand_built_response():
    reading = MeterReading(FlowRegister.from_litres(1234560), FlowRegister.from_litres(1200000),
                           datetime(2024, 7, 15, 8, 30, 5), MeterStatus(ValveState.CLOSED, True), ser=7)
    assert read_response("00000000000001", reading).encode(preamble=0) == RESPONSE
    litres = MeterReading(FlowRegister(12345000, Unit.L), FlowRegister(12340000, Unit.L), None, MeterStatus(),
                          ser=0, di_order=DiOrder.LOW_FIRST)
    assert read_response("20250101000042", litres).encode(preamble=0) == RESPONSE_LITRES


def test_litre_response_with_swapped_di_and_no_clock():
    reading = parse_read_response(decode_frame(RESPONSE_LITRES), address="20250101000042")
    assert reading.total_l == 123450.0
    assert reading.settlement.litres == 123400.0
    assert reading.clock is None
    assert reading.status.valve is ValveState.OPEN and not reading.status.battery_low
    assert reading.di_order is DiOrder.LOW_FIRST


def test_abnormal_response_raises_with_status():
    frame = decode_frame(ABNORMAL)
    assert abnormal_response("00000000000001", 7, MeterStatus(ValveState.ABNORMAL)).encode(0) == ABNORMAL
    with pytest.raises(AbnormalResponse) as info:
        parse_read_response(frame)
    assert info.value.status == MeterStatus(ValveState.ABNORMAL)
    assert info.value.raw == ABNORMAL


@pytest.mark.parametrize("preamble", [0, 1, 2, 3, 4])
def test_preamble_zero_to_four_is_accepted(preamble):
    assert decode_frame(b"\xFE" * preamble + RESPONSE).address == "00000000000001"


def test_five_preamble_bytes_are_refused():
    with pytest.raises(BadPreamble, match="5 FE"):
        decode_frame(b"\xFE" * 5 + RESPONSE)


def test_bad_checksum_names_both_values():
    bad = RESPONSE[:-2] + b"\x6F\x16"
    with pytest.raises(ChecksumError) as info:
        decode_frame(bad)
    assert (info.value.expected, info.value.actual) == (0x6E, 0x6F)
    assert "6Fh" in str(info.value) and "6Eh" in str(info.value)


def test_bad_lengths_and_terminators():
    with pytest.raises(BadTerminator, match="L=21"):  # L one short: the end byte lands on CS
        decode_frame(RESPONSE[:10] + b"\x15" + RESPONSE[11:])
    with pytest.raises(BadLength, match="L=240"):
        decode_frame(RESPONSE[:10] + b"\xF0" + RESPONSE[11:])
    with pytest.raises(BadLength, match="bytes follow"):
        decode_frame(RESPONSE + b"\x00")
    with pytest.raises(IncompleteFrame):
        decode_frame(RESPONSE[:-1])
    with pytest.raises(IncompleteFrame):
        decode_frame(b"\xFE\xFE")
    with pytest.raises(FrameError, match="start byte"):
        decode_frame(b"\x69" + RESPONSE[1:])


def _fix_cs(frame_wo_cs_end: bytes) -> bytes:
    return frame_wo_cs_end + bytes((sum(frame_wo_cs_end) & 0xFF, 0x16))


def test_bad_bcd_in_flow_names_field_and_byte():
    body = bytearray(RESPONSE[:-2])
    body[15] = 0x5A  # second byte of the current flow
    frame = decode_frame(_fix_cs(bytes(body)))
    with pytest.raises(BadBcd) as info:
        parse_read_response(frame)
    assert info.value.field == "current flow" and info.value.offset == 1 and info.value.byte == 0x5A
    assert "5Ah" in str(info.value)


def test_bad_bcd_in_address_and_clock():
    body = bytearray(RESPONSE[:-2])
    body[3] = 0x0B  # A1
    with pytest.raises(BadBcd, match="address"):
        decode_frame(_fix_cs(bytes(body)))
    body = bytearray(RESPONSE[:-2])
    body[28] = 0x13  # month 13 is BCD but not a date
    with pytest.raises(FieldError, match="clock"):
        parse_read_response(decode_frame(_fix_cs(bytes(body))))


def test_unknown_unit_wrong_di_wrong_address_wrong_ser():
    body = bytearray(RESPONSE[:-2])
    body[18] = 0x99
    with pytest.raises(FieldError, match="current flow unit: unknown unit code 99h"):
        parse_read_response(decode_frame(_fix_cs(bytes(body))))
    body = bytearray(RESPONSE[:-2])
    body[11:13] = b"\x90\x2F"
    with pytest.raises(FieldError, match="DI"):
        parse_read_response(decode_frame(_fix_cs(bytes(body))))
    with pytest.raises(FieldError, match="address"):
        parse_read_response(decode_frame(RESPONSE), address="00000000000002")
    with pytest.raises(FieldError, match="SER"):
        parse_read_response(decode_frame(RESPONSE), ser=8)
    with pytest.raises(FieldError, match="not a read response"):
        parse_read_response(decode_frame(REQUEST))


def test_energy_unit_has_no_litres():
    with pytest.raises(FieldError, match="not a volume"):
        FlowRegister(100, Unit.KWH).litres


def test_register_from_litres_truncates_and_wraps():
    assert FlowRegister.from_litres(12345.6) == FlowRegister(1234, Unit.M3)   # 12.34 m3: never rounds up
    assert FlowRegister.from_litres(12345.6, Unit.L) == FlowRegister(1234560, Unit.L)
    with pytest.raises(FieldError, match="does not fit"):
        FlowRegister.from_litres(1_000_000.0, Unit.L)
    assert FlowRegister.from_litres(1_000_000.5, Unit.L, wrap=True) == FlowRegister(50, Unit.L)


def test_addresses():
    assert address_bytes("12345678901234") == hexb("34 12 90 78 56 34 12")
    assert address_bytes("aaaaaaaaaaaaaa") == b"\xAA" * 7
    for bad in ("1234", "1234567890123A", "12345678901234 5"):
        with pytest.raises(FieldError, match="address"):
            address_bytes(bad)


# ---------------------------------------------------------------- stream decoder

def test_stream_finds_frames_among_garbage():
    items = decode_stream(b"\x00\x13\x37" + b"\xFE\xFE" + RESPONSE + b"\xA5\x5A" + REQUEST + b"\x01")
    frames = frames_only(items)
    assert [f.control for f in frames] == [0x81, 0x01]
    garbage = [i for i in items if isinstance(i, GarbageSkipped)]
    assert [g.raw for g in garbage] == [b"\x00\x13\x37", b"\xA5\x5A", b"\x01"]


def test_stream_reassembles_frames_split_byte_by_byte():
    dec = StreamDecoder()
    out = []
    for byte in REQUEST + RESPONSE:
        out += dec.feed(bytes((byte,)))
    assert out == [decode_frame(REQUEST), decode_frame(RESPONSE)]
    assert dec.pending == 0


def test_stream_reports_checksum_and_keeps_the_next_frame():
    bad = RESPONSE[:-2] + b"\x00\x16"
    items = decode_stream(bad + RESPONSE)
    assert isinstance(items[0], ChecksumError) and items[0].raw == bad
    assert items[1:] == [decode_frame(RESPONSE)]


def test_stream_noise_start_byte_before_a_real_frame():
    # a stray 68 whose "L" (FE) would swallow the real frame: the decoder must not wait for it
    dec = StreamDecoder(max_data_len=255)
    items = dec.feed(b"\x68\x10\x01\x00\x00\x00\x00\x00\x00\x81\xFE" + RESPONSE)
    assert frames_only(items) == [decode_frame(RESPONSE)]
    assert any(isinstance(i, GarbageSkipped) for i in items)


def test_stream_bad_length_then_resync():
    items = decode_stream(RESPONSE[:10] + b"\xF0" + b"\x00" * 3 + RESPONSE)
    assert isinstance(items[0], BadLength)
    assert frames_only(items) == [decode_frame(RESPONSE)]


def test_stream_flush_reports_partial_frame():
    dec = StreamDecoder()
    assert dec.feed(RESPONSE[:20]) == []
    assert dec.pending == 20
    (err,) = dec.flush()
    assert isinstance(err, IncompleteFrame) and err.raw == RESPONSE[:20]
    assert dec.flush() == []
    assert dec.feed(b"\xFE\xFE") == [] and dec.flush() == []  # a lone preamble is not an error


def test_stream_fuzz_recovers_every_frame():
    rng = random.Random(188)
    frames = [read_response(f"{n:014d}", MeterReading(FlowRegister(rng.randrange(10**8)),
                                                       FlowRegister(rng.randrange(10**8)), ser=n % 256))
              for n in range(200)]
    stream = bytearray()
    for frame in frames:
        stream += bytes(rng.randrange(256) for _ in range(rng.randrange(12)))
        stream += frame.encode(preamble=rng.randrange(5))
    dec = StreamDecoder()
    found = []
    pos = 0
    while pos < len(stream):
        step = rng.randrange(1, 40)
        found += frames_only(dec.feed(bytes(stream[pos:pos + step])))
        pos += step
    assert found == frames

