"""The simulated call-button receiver on a pty, read by a pyserial master and the line decoder."""

from __future__ import annotations

import time

import pytest
import serial

from fieldbus import ChecksumError, GarbageSkipped
from fieldbus.callbutton_line import ButtonEvent, ButtonLine, LineDecoder
from firmware_sim.serial import CallButtonReceiver, LineFaults, PtyPort, ScriptedEvent


def read_items(master: serial.Serial, count: int, timeout: float = 2.0) -> list:
    dec = LineDecoder()
    items: list = []
    deadline = time.monotonic() + timeout
    while len(items) < count and time.monotonic() < deadline:
        items += dec.feed(master.read(256))
    return items


def test_scripted_and_emitted_events_arrive_as_lines(tmp_path):
    t0 = time.time()
    script = [ScriptedEvent(t0 + 0.05, "B0001", ButtonEvent.PRESS, 2950, -67),
              ScriptedEvent(t0 + 0.10, "B0001", ButtonEvent.CANCEL, 2950, -66),
              ScriptedEvent(t0 + 0.10, "B0002", ButtonEvent.HB, 3100, -80)]
    with CallButtonReceiver(PtyPort(tmp_path / "cb"), script) as rx, \
            serial.Serial(str(rx.path), 9600, timeout=0.05) as master:
        items = read_items(master, 3)
        assert items == [ButtonLine("B0001", ButtonEvent.PRESS, 0, 2950, -67),
                         ButtonLine("B0001", ButtonEvent.CANCEL, 1, 2950, -66),
                         ButtonLine("B0002", ButtonEvent.HB, 0, 3100, -80)]
        assert rx.pending() == 0
        sent = rx.emit("B0001", ButtonEvent.LONG, 2900, -70)
        assert read_items(master, 1) == [sent] and sent.seq == 2
        assert rx.sent == [*items, sent]
    rx.check()


def test_exact_bytes_on_the_wire(tmp_path):
    with CallButtonReceiver(PtyPort(tmp_path / "cb")) as rx, serial.Serial(str(rx.path), timeout=0.05) as m:
        rx.emit("B0001", ButtonEvent.PRESS, 2950, -67)
        raw = b""
        deadline = time.monotonic() + 2
        while not raw.endswith(b"\n") and time.monotonic() < deadline:
            raw += m.read(64)
    # checksum: the literal line in tests/fieldbus has seq "17" and XOR 0D; "17" XORs to 31h^37h = 06h and
    # "0" to 30h, so this line's XOR is 0Dh ^ 06h ^ 30h = 3Bh
    assert raw == b"$CB,B0001,PRESS,0,2950,-67*3B\r\n"


@pytest.mark.parametrize("faults, expect", [
    (LineFaults(bad_checksum=1.0), [ChecksumError]),
    (LineFaults(garbage=1.0), [GarbageSkipped, ButtonLine]),
    (LineFaults(split=1.0), [ButtonLine]),
])
def test_faults(tmp_path, faults, expect):
    with CallButtonReceiver(PtyPort(tmp_path / "cb"), faults=faults, seed=3) as rx, \
            serial.Serial(str(rx.path), timeout=0.05) as m:
        rx.emit("B0009", ButtonEvent.TEST)
        items = read_items(m, len(expect))
    assert [type(i) for i in items] == expect


def test_dropped_lines_never_arrive_but_are_counted(tmp_path):
    with CallButtonReceiver(PtyPort(tmp_path / "cb"), faults=LineFaults(drop=1.0)) as rx, \
            serial.Serial(str(rx.path), timeout=0.05) as m:
        rx.emit("B0009", ButtonEvent.PRESS)
        assert read_items(m, 1, timeout=0.3) == []
        assert rx.stats.counters == {"dropped": 1}


def test_cut_link_then_restore(tmp_path):
    rx = CallButtonReceiver(PtyPort(tmp_path / "cb")).start()
    try:
        rx.cut()
        assert not rx.path.exists()
        rx.restore()
        with serial.Serial(str(rx.path), timeout=0.05) as m:
            rx.emit("B0001")
            assert read_items(m, 1)[0].seq == 0
    finally:
        rx.stop()
