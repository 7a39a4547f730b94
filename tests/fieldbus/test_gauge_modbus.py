"""River gauge register map: encode/decode against register values worked out by hand."""

from __future__ import annotations

import pytest

from fieldbus import BadLength, FieldError
from fieldbus.gauge_modbus import (
    GaugeSample,
    GaugeStatus,
    decode_measurements,
    decode_mount_height,
    distance_from_stage,
    encode_measurements,
    encode_mount_height,
    registers_to_int32,
    stage_from_distance,
)

# level 2.345 m -> 2345 = 0x00000929; distance 4655 mm -> 0x0000122F; status stuck|low battery = 6;
# battery 3412 mV; 70000 samples = 0x00011170
HAND = [0x0000, 0x0929, 0x0000, 0x122F, 0x0006, 3412, 0x0001, 0x1170]


def test_decode_hand_registers():
    sample = decode_measurements(HAND)
    assert sample == GaugeSample(2345, 4655, GaugeStatus.STUCK | GaugeStatus.LOW_BATTERY, 3412, 70000)
    assert sample.level_m == 2.345 and sample.distance_m == 4.655
    assert sample.valid
    assert encode_measurements(sample) == HAND


def test_negative_level_is_twos_complement_over_two_registers():
    # -1.234 m below the datum: -1234 = 0xFFFFFB2E
    regs = encode_measurements(GaugeSample(-1234, 8234))
    assert regs[:2] == [0xFFFF, 0xFB2E]
    assert registers_to_int32(regs[:2]) == -1234


def test_fault_flag_makes_sample_invalid():
    sample = decode_measurements([0, 0, 0, 0, 0x0001, 3600, 0, 1])
    assert not sample.valid and sample.status is GaugeStatus.SENSOR_FAULT


def test_reserved_status_bits_are_ignored():
    assert decode_measurements([0, 0, 0, 0, 0xFFF8, 0, 0, 0]).status == GaugeStatus(0)


def test_stage_from_distance_and_back():
    assert stage_from_distance(4655, 7000) == 2345
    assert distance_from_stage(2345, 7000) == 4655
    assert decode_measurements(HAND).stage_mm(7500) == 2845
    assert decode_measurements(HAND).stage_mm() == 2345
    with pytest.raises(FieldError, match="above the sensor"):
        distance_from_stage(7001, 7000)
    with pytest.raises(FieldError, match="negative"):
        stage_from_distance(-1, 7000)


def test_mount_height_registers():
    assert encode_mount_height(7000) == [0, 7000]
    assert decode_mount_height([0x0001, 0x0000]) == 65536


@pytest.mark.parametrize("regs, error, match", [
    (HAND[:7], BadLength, "got 7"),
    ([*HAND, 0], BadLength, "got 9"),
    ([0x10000, *HAND[1:]], FieldError, "register 0"),
    ([-1, *HAND[1:]], FieldError, "register 0"),
])
def test_bad_register_blocks(regs, error, match):
    with pytest.raises(error, match=match):
        decode_measurements(regs)


def test_encode_refuses_out_of_range_values():
    with pytest.raises(FieldError, match="level_mm"):
        encode_measurements(GaugeSample(2 ** 31, 0))
    with pytest.raises(FieldError, match="distance_mm"):
        encode_measurements(GaugeSample(0, -5))
    with pytest.raises(FieldError, match="battery_mv"):
        encode_measurements(GaugeSample(0, 0, battery_mv=70000))
    with pytest.raises(BadLength):
        decode_mount_height([1])
