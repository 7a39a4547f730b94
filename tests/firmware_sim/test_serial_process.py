"""Simulated serial devices run as processes: killed (even with SIGKILL) they take the link down."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import serial

from fieldbus.callbutton_line import ButtonEvent, LineDecoder
from fieldbus.cjt188 import decode_stream, frames_only, parse_read_response, read_request


def wait_for(check, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return False


def spawn(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "firmware_sim.serial", *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)


def read_meter(link: Path, address: str) -> float:
    with serial.Serial(str(link), timeout=0.1) as master:
        master.write(read_request(address).encode())
        raw = b""
        for _ in range(20):
            raw += master.read(64)
            if frames_only(decode_stream(raw)):
                break
    (frame,) = frames_only(decode_stream(raw))
    return parse_read_response(frame, address=address).total_l


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_meter_bus_process_killed_and_restarted(tmp_path, sig):
    link = tmp_path / "rs485"
    args = ("meter-bus", "--socat", "--link", str(link), "--meter", "00000000000001:L", "--start-l", "500",
            "--flow-lpm", "0")
    proc = spawn(*args)
    try:
        assert wait_for(link.exists), proc.stderr
        assert read_meter(link, "00000000000001") == 500.0
        proc.send_signal(sig)
        proc.wait(timeout=10)
        assert wait_for(lambda: not link.exists())  # socat went with it: the port is gone
    finally:
        proc.kill()
        proc.wait()
        proc.stderr.close()
    proc = spawn(*args)
    try:
        assert wait_for(link.exists)
        assert read_meter(link, "00000000000001") == 500.0
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stderr.close()
    assert proc.returncode == 0


def test_callbutton_process_scripted_press(tmp_path):
    link = tmp_path / "buttons"
    proc = spawn("callbutton", "--link", str(link), "--press", "B0001@0.3")
    try:
        assert wait_for(link.exists)
        dec, items = LineDecoder(), []
        with serial.Serial(str(link), timeout=0.1) as master:
            wait_for(lambda: bool(items.extend(dec.feed(master.read(128))) or items), timeout=5)
        assert [(i.device_id, i.event) for i in items] == [("B0001", ButtonEvent.PRESS)]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stderr.close()
