"""The simulated CJ/T 188 meter bus on a pty, read by a pyserial master."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

import pytest
import serial

from fieldbus import AbnormalResponse, ChecksumError, GarbageSkipped
from fieldbus.cjt188 import (
    BROADCAST,
    DiOrder,
    Frame,
    MeterStatus,
    StreamDecoder,
    Unit,
    ValveState,
    decode_frame,
    parse_read_response,
    read_request,
)
from firmware_sim.serial import CHINA_TZ, MeterBus, MeterFaults, PtyPort, SimMeter, SocatPort

NOW = datetime(2024, 7, 15, 8, 30, 5, tzinfo=CHINA_TZ).timestamp()
LITRES = {"00000000000001": 1234567.0, "00000000000002": 42.0, "00000000000003": 123450.0}

# Meter 00000000000001 read with SER 07 (request written by hand: CS = 68+10+01+01+03+90+1F+07 = 133h -> 33)
REQUEST_1 = bytes.fromhex("FE FE FE 68 10 01 00 00 00 00 00 00 01 03 90 1F 07 33 16")
# Its answer, by hand: 1234567 L = 1234.56 m3 (truncated) -> 56 34 12 00 2C twice (the settlement register
# latches at the month's first read), clock 2024-07-15 08:30:05 -> 05 30 08 15 07 24 20, ST 05 00
# (valve closed, battery low). CS = 3F8h -> F8.
ANSWER_1 = bytes.fromhex("FE FE FE 68 10 01 00 00 00 00 00 00 81 16 90 1F 07 56 34 12 00 2C 56 34 12 00 2C"
                         " 05 30 08 15 07 24 20 05 00 F8 16")


def total_l(address: str, now: float) -> tuple[float, MeterStatus | None]:
    status = MeterStatus(ValveState.CLOSED, battery_low=True) if address.endswith("1") else None
    return LITRES[address], status


def make_bus(link: Path, faults: MeterFaults | None = None, port=None, seed: int = 7) -> MeterBus:
    meters = ["00000000000001", "00000000000002", SimMeter("00000000000003", unit=Unit.L)]
    return MeterBus(port or PtyPort(link), meters, total_l, faults=faults, clock=lambda: NOW, seed=seed)


def read_reply(master: serial.Serial, timeout: float = 1.0) -> list:
    """Everything the bus sends until a frame completes or the timeout passes."""
    dec = StreamDecoder()
    items: list = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        items += dec.feed(master.read(64))
        if any(isinstance(i, Frame | ChecksumError) for i in items):
            return items
    return items + dec.flush()


def ask(master: serial.Serial, address: str, ser: int = 0, timeout: float = 1.0, **kw) -> list:
    master.reset_input_buffer()
    master.write(read_request(address, ser, **kw).encode())
    return read_reply(master, timeout)


@pytest.fixture
def bus(tmp_path):
    with make_bus(tmp_path / "meters") as b:
        yield b
    b.check()


@pytest.fixture
def master(bus):
    with serial.Serial(str(bus.path), 2400, parity=serial.PARITY_EVEN, timeout=0.05) as m:
        yield m


def test_answers_hand_built_request_with_hand_built_frame(bus, master):
    master.write(REQUEST_1)
    raw = b""
    deadline = time.monotonic() + 2
    while len(raw) < len(ANSWER_1) and time.monotonic() < deadline:
        raw += master.read(64)
    assert raw == ANSWER_1
    reading = parse_read_response(decode_frame(raw), address="00000000000001", ser=7)
    assert reading.total_l == 1234560.0


def test_each_meter_answers_for_itself(bus, master):
    for n, (address, litres) in enumerate(LITRES.items()):
        (frame,) = ask(master, address, ser=n)
        reading = parse_read_response(frame, address=address, ser=n)
        if address.endswith("3"):
            assert reading.current.unit is Unit.L and reading.total_l == litres
        else:
            assert reading.current.unit is Unit.M3 and reading.total_l == int(litres / 10) * 10
    assert bus.stats.counters["requests"] == 3


def test_silent_for_other_addresses_and_broadcast(bus, master):
    assert ask(master, "00000000000009", timeout=0.3) == []
    assert ask(master, BROADCAST, timeout=0.3) == []  # three meters would collide: none answers
    assert bus.stats.counters["other_address"] == 2
    assert "requests" not in bus.stats.counters


def test_accepts_both_di_orders_unless_strict(tmp_path):
    strict = SimMeter("00000000000002", accepts=frozenset({DiOrder.LOW_FIRST}))
    with MeterBus(PtyPort(tmp_path / "m"), [strict], total_l, clock=lambda: NOW) as b, \
            serial.Serial(str(b.path), timeout=0.05) as m:
        assert ask(m, strict.address, timeout=0.3) == []
        (frame,) = ask(m, strict.address, di_order=DiOrder.LOW_FIRST)
        assert parse_read_response(frame).di_order is DiOrder.LOW_FIRST
        (frame,) = ask(m, BROADCAST, di_order=DiOrder.LOW_FIRST)  # a lone meter answers the broadcast
        assert frame.address == strict.address


@pytest.mark.parametrize("faults, check", [
    (MeterFaults(bad_checksum=1.0), lambda items: isinstance(items[-1], ChecksumError)),
    (MeterFaults(garbage=1.0), lambda items: isinstance(items[0], GarbageSkipped) and isinstance(items[-1], Frame)),
    (MeterFaults(split=1.0), lambda items: len(items) == 1 and isinstance(items[0], Frame)),
    (MeterFaults(no_answer=1.0), lambda items: items == []),
    (MeterFaults(reply_delay_s=2.0), lambda items: items == []),   # later than the master's timeout
    (MeterFaults(silent=frozenset({"00000000000001"})), lambda items: items == []),
])
def test_fault_injection(tmp_path, faults, check):
    with make_bus(tmp_path / "m", faults) as b, serial.Serial(str(b.path), timeout=0.05) as m:
        assert check(ask(m, "00000000000001", timeout=0.4))
        if faults.silent:
            assert isinstance(ask(m, "00000000000002")[-1], Frame)  # the other meters still answer


def test_abnormal_reply(tmp_path):
    with make_bus(tmp_path / "m", MeterFaults(abnormal=1.0)) as b, serial.Serial(str(b.path), timeout=0.05) as m:
        (frame,) = ask(m, "00000000000001", ser=9)
        with pytest.raises(AbnormalResponse) as info:
            parse_read_response(frame)
        assert info.value.status.battery_low


def test_cut_and_restore_keeps_state(bus, tmp_path):
    with serial.Serial(str(bus.path), timeout=0.05) as m:
        (frame,) = ask(m, "00000000000002")
        bus.cut()
        assert not bus.path.exists()
        with pytest.raises(serial.SerialException):
            m.write(read_request("00000000000002").encode())
            m.read(64)
    bus.restore()
    with serial.Serial(str(bus.path), timeout=0.05) as m:
        (again,) = ask(m, "00000000000002")
    assert again == frame
    assert bus.stats.counters["requests"] == 2


def test_socat_link_killed_and_restarted(tmp_path):
    port = SocatPort(tmp_path / "rs485")
    with make_bus(tmp_path / "unused", port=port) as b:
        with serial.Serial(str(port.path), timeout=0.05) as m:
            assert isinstance(ask(m, "00000000000001")[-1], Frame)
        port.kill()            # the link dies under the running device
        deadline = time.monotonic() + 2
        while b.stats.link_losses == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert b.stats.link_losses == 1
        port.start()           # ... and comes back: the device reopens its end by itself
        deadline = time.monotonic() + 2
        while not b.connected and time.monotonic() < deadline:
            time.sleep(0.01)
        with serial.Serial(str(port.path), timeout=0.05) as m:
            assert isinstance(ask(m, "00000000000001", timeout=2)[-1], Frame)
    assert not port.running()


def _faulty_session(link: Path, seed: int) -> tuple[bytes, dict[str, int]]:
    faults = MeterFaults(no_answer=0.3, bad_checksum=0.3, garbage=0.3, abnormal=0.1)
    with make_bus(link, faults, seed=seed) as b, serial.Serial(str(b.path), timeout=0.05) as m:
        raw = b""
        for i in range(20):
            m.write(read_request(f"0000000000000{1 + i % 3}", ser=i).encode())
            time.sleep(0.005)  # one request at a time, as on a half-duplex line
            raw += m.read(m.in_waiting)
        deadline = time.monotonic() + 0.2
        while time.monotonic() < deadline:
            raw += m.read(256)
        return raw, dict(b.stats.counters)


def test_seeded_faults_are_repeatable(tmp_path):
    first = _faulty_session(tmp_path / "a", 11)
    assert first == _faulty_session(tmp_path / "b", 11)
    assert first != _faulty_session(tmp_path / "c", 12)
    counters = first[1]
    assert counters["requests"] == 20
    assert 0 < counters.get("no_answer", 0) < 20 and counters.get("bad_checksum", 0) > 0
