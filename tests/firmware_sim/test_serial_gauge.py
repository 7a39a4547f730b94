"""The simulated river gauge read by a real Modbus master: Debian's mbpoll over a socat pty pair."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from fieldbus.gauge_modbus import GaugeStatus, decode_measurements
from firmware_sim.serial import GaugeInput, ModbusGauge, SocatPort

pytestmark = pytest.mark.skipif(not (shutil.which("mbpoll") and shutil.which("socat")),
                                reason="needs Debian mbpoll and socat (scripts/setup.sh installs them)")
VALUE = re.compile(r"^\[(\d+)\]:\s+(-?\d+)", re.M)


def mbpoll(path, *args: str, unit: int = 1, write: tuple[int, ...] = ()) -> subprocess.CompletedProcess[str]:
    """One mbpoll poll (or write): RTU, 9600 8N1, 0-based register numbers, 0.5 s timeout."""
    argv = ["mbpoll", "-m", "rtu", "-a", str(unit), "-b", "9600", "-P", "none", "-0", "-1", "-o", "0.5",
            *args, str(path)]
    if write:
        argv += ["--", *map(str, write)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=15)


def values(result: subprocess.CompletedProcess[str]) -> dict[int, int]:
    assert result.returncode == 0, result.stdout + result.stderr
    return {int(k): int(v) for k, v in VALUE.findall(result.stdout)}


class Level:
    """A level source the test can steer."""

    def __init__(self, value: float | GaugeInput | None) -> None:
        self.value = value
        self.calls = 0

    def __call__(self, now: float) -> float | GaugeInput | None:
        self.calls += 1
        return self.value


@pytest.fixture
def level():
    return Level(2.345)


@pytest.fixture
def gauge(tmp_path, level):
    with ModbusGauge(SocatPort(tmp_path / "gauge"), level, mount_height_m=7.0, battery_mv=3412) as g:
        yield g
    g.check()


def test_mbpoll_reads_the_register_map(gauge):
    regs = values(mbpoll(gauge.path, "-t", "3", "-r", "0", "-c", "8"))   # FC 04 input registers
    # 2.345 m stage, mount 7.000 m -> distance 4655 mm; battery 3412 mV; the second sample since start
    assert regs == {0: 0, 1: 2345, 2: 0, 3: 4655, 4: 0, 5: 3412, 6: 0, 7: 2}
    sample = decode_measurements([regs[i] for i in range(8)])
    assert sample.level_m == 2.345 and sample.valid


def test_signed_32bit_level_and_holding_mirror(gauge, level):
    level.value = -1.25                                   # below the datum
    regs = values(mbpoll(gauge.path, "-t", "3:int", "-B", "-r", "0", "-c", "2"))
    assert regs == {0: -1250, 2: 8250}
    held = values(mbpoll(gauge.path, "-t", "4", "-r", "0", "-c", "8"))  # FC 03 mirrors the block
    assert (held[0], held[1]) == (0xFFFF, 0x10000 - 1250)


def test_mount_height_written_by_the_master(gauge):
    write = mbpoll(gauge.path, "-t", "4:int", "-B", "-r", "16", write=(7500,))
    assert write.returncode == 0, write.stdout + write.stderr
    assert values(mbpoll(gauge.path, "-t", "4:int", "-B", "-r", "16")) == {16: 7500}
    assert values(mbpoll(gauge.path, "-t", "3:int", "-B", "-r", "2")) == {2: 5155}
    assert gauge.mount_height_mm == 7500


def test_illegal_accesses_are_refused(gauge):
    for args, write, message in ((("-t", "3", "-r", "8"), (), "Illegal data address"),    # gap 8..15
                                 (("-t", "4", "-r", "0"), (1,), "Illegal data address"),  # read-only block
                                 (("-t", "4:int", "-B", "-r", "16"), (-5,), "Illegal data value"),
                                 (("-t", "0", "-r", "0"), (), "Illegal function")):       # no coils
        result = mbpoll(gauge.path, *args, write=write)
        assert message in result.stdout + result.stderr, (args, result.stdout + result.stderr)


def test_other_unit_id_gets_no_answer(gauge):
    result = mbpoll(gauge.path, "-t", "3", "-r", "0", unit=2)
    assert "Connection timed out" in result.stdout + result.stderr


def test_status_bits(gauge, level):
    level.value = GaugeInput(3.0, battery_mv=3100)
    regs = values(mbpoll(gauge.path, "-t", "3", "-r", "0", "-c", "8"))
    assert regs[4] == GaugeStatus.LOW_BATTERY and regs[5] == 3100 and regs[1] == 3000
    level.value = None                                     # no echo: fault, last good values kept
    regs = values(mbpoll(gauge.path, "-t", "3", "-r", "0", "-c", "8"))
    assert regs[4] == GaugeStatus.SENSOR_FAULT and regs[1] == 3000


def test_stuck_sensor_flag(tmp_path):
    with ModbusGauge(SocatPort(tmp_path / "g"), lambda now: 1.0, stuck_after=3) as g:
        statuses = [values(mbpoll(g.path, "-t", "3", "-r", "4"))[4] for _ in range(4)]
    # start-up sample, then reads 1..4: the distance is unchanged from the 2nd sample on
    assert statuses == [0, 0, GaugeStatus.STUCK, GaugeStatus.STUCK]


def test_cut_and_restore(gauge):
    before = values(mbpoll(gauge.path, "-t", "3", "-r", "6", "-c", "2"))[7]
    gauge.cut()
    assert not gauge.path.exists()
    assert mbpoll(gauge.path, "-t", "3", "-r", "0").returncode != 0
    gauge.restore()
    # a master retries a poll that timed out, as a real one does: under load the reopened port may miss the first
    for _ in range(10):
        result = mbpoll(gauge.path, "-t", "3", "-r", "6", "-c", "2")
        if result.returncode == 0:
            break
    after = values(result)[7]
    assert after > before  # same device, counter kept


def test_broken_level_source_answers_device_failure(tmp_path):
    calls = iter([1.0])

    def level(now: float) -> float:
        return next(calls)  # StopIteration (a RuntimeError subclass inside async code) after the first call

    with ModbusGauge(SocatPort(tmp_path / "g"), level) as g:
        result = mbpoll(g.path, "-t", "3", "-r", "0")
        assert "Slave device or server failure" in result.stdout + result.stderr
        with pytest.raises(RuntimeError, match="failed"):
            g.check()
