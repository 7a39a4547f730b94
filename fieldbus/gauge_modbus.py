"""River gauge register map (Modbus RTU) with encode/decode helpers; docs/protocols/modbus-river-gauge.md.

Measurement block, readable with FC 04 (input registers) and FC 03 (holding registers) at 0..7:

    0-1  level_mm      int32   stage above the station datum, mm (high word first)
    2-3  distance_mm   uint32  sensor face to water surface, mm
    4    status        bits    0 sensor fault, 1 stuck, 2 low battery
    5    battery_mv    uint16
    6-7  sample_count  uint32  samples taken since power-up (wraps)

Configuration, holding registers (FC 03 / 06 / 16):

    16-17 mount_height_mm int32  sensor face above the datum; stage = mount height - distance
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum, IntFlag

from fieldbus.errors import BadLength, FieldError

DEFAULT_UNIT_ID = 1
MEASUREMENT_START = 0
MEASUREMENT_COUNT = 8
CONFIG_START = 16
CONFIG_COUNT = 2
INT32_MIN, INT32_MAX = -(2 ** 31), 2 ** 31 - 1
UINT32_MAX = 2 ** 32 - 1


class Register(IntEnum):
    """Register addresses (0-based, as in the PDU; mbpoll -r takes these plus 1 unless -0)."""

    LEVEL_MM = 0
    DISTANCE_MM = 2
    STATUS = 4
    BATTERY_MV = 5
    SAMPLE_COUNT = 6
    MOUNT_HEIGHT_MM = 16


class GaugeStatus(IntFlag):
    """Bits of the status register; bits 3-15 are reserved (sent as 0, ignored on read)."""

    SENSOR_FAULT = 0x0001   # no echo / sensor error: level and distance hold the last good values
    STUCK = 0x0002          # the distance has not changed for many samples
    LOW_BATTERY = 0x0004    # battery below the gauge's threshold


KNOWN_STATUS = GaugeStatus.SENSOR_FAULT | GaugeStatus.STUCK | GaugeStatus.LOW_BATTERY


@dataclass(frozen=True, slots=True)
class GaugeSample:
    """One decoded measurement block."""

    level_mm: int
    distance_mm: int
    status: GaugeStatus = GaugeStatus(0)
    battery_mv: int = 0
    sample_count: int = 0

    @property
    def level_m(self) -> float:
        """Stage above the datum in metres (contract field river_gauge.level_m)."""
        return self.level_mm / 1000

    @property
    def distance_m(self) -> float:
        """Raw distance in metres (contract field river_gauge.raw_distance_m)."""
        return self.distance_mm / 1000

    @property
    def valid(self) -> bool:
        """False when the sensor reports a fault: level and distance are then stale."""
        return not self.status & GaugeStatus.SENSOR_FAULT

    def stage_mm(self, mount_height_mm: int | None = None) -> int:
        """Stage from the distance and a mount height when one is given, else the gauge's own level."""
        if mount_height_mm is None:
            return self.level_mm
        return stage_from_distance(self.distance_mm, mount_height_mm)


def stage_from_distance(distance_mm: int, mount_height_mm: int) -> int:
    """Stage above the datum (mm) of a downward-looking sensor mounted at mount_height_mm."""
    if distance_mm < 0:
        raise FieldError("distance_mm", f"{distance_mm} is negative")
    return mount_height_mm - distance_mm


def distance_from_stage(level_mm: int, mount_height_mm: int) -> int:
    """Distance (mm) the sensor measures when the water stands at level_mm; FieldError if above the sensor."""
    distance = mount_height_mm - level_mm
    if distance < 0:
        raise FieldError("level_mm", f"{level_mm} mm is above the sensor mounted at {mount_height_mm} mm")
    return distance


def int32_to_registers(value: int, name: str = "value") -> list[int]:
    """Signed 32-bit value as two registers, high word first."""
    if not INT32_MIN <= value <= INT32_MAX:
        raise FieldError(name, f"{value} does not fit a signed 32-bit register pair")
    unsigned = value & UINT32_MAX
    return [unsigned >> 16, unsigned & 0xFFFF]


def uint32_to_registers(value: int, name: str = "value") -> list[int]:
    """Unsigned 32-bit value as two registers, high word first."""
    if not 0 <= value <= UINT32_MAX:
        raise FieldError(name, f"{value} does not fit an unsigned 32-bit register pair")
    return [value >> 16, value & 0xFFFF]


def registers_to_uint32(regs: Sequence[int]) -> int:
    """Two registers (high word first) as an unsigned 32-bit value."""
    return regs[0] << 16 | regs[1]


def registers_to_int32(regs: Sequence[int]) -> int:
    """Two registers (high word first) as a signed 32-bit value."""
    value = registers_to_uint32(regs)
    return value - 2 ** 32 if value & 0x8000_0000 else value


def encode_measurements(sample: GaugeSample) -> list[int]:
    """The 8 registers of the measurement block."""
    if not 0 <= sample.battery_mv <= 0xFFFF:
        raise FieldError("battery_mv", f"{sample.battery_mv} does not fit one register")
    return [
        *int32_to_registers(sample.level_mm, "level_mm"),
        *uint32_to_registers(sample.distance_mm, "distance_mm"),
        int(sample.status) & 0xFFFF,
        sample.battery_mv,
        *uint32_to_registers(sample.sample_count % (UINT32_MAX + 1), "sample_count"),
    ]


def decode_measurements(regs: Sequence[int]) -> GaugeSample:
    """Decode the 8 registers read from address 0; BadLength/FieldError say what is wrong."""
    if len(regs) != MEASUREMENT_COUNT:
        raise BadLength(f"measurement block is {MEASUREMENT_COUNT} registers, got {len(regs)}")
    _check_registers(regs)
    return GaugeSample(
        level_mm=registers_to_int32(regs[0:2]),
        distance_mm=registers_to_uint32(regs[2:4]),
        status=GaugeStatus(regs[4] & KNOWN_STATUS),
        battery_mv=regs[5],
        sample_count=registers_to_uint32(regs[6:8]),
    )


def encode_mount_height(mount_height_mm: int) -> list[int]:
    """The 2 configuration registers at 16."""
    return int32_to_registers(mount_height_mm, "mount_height_mm")


def decode_mount_height(regs: Sequence[int]) -> int:
    """Decode the 2 configuration registers read from address 16."""
    if len(regs) != CONFIG_COUNT:
        raise BadLength(f"mount height is {CONFIG_COUNT} registers, got {len(regs)}")
    _check_registers(regs)
    return registers_to_int32(regs)


def _check_registers(regs: Sequence[int]) -> None:
    for i, reg in enumerate(regs):
        if not isinstance(reg, int) or not 0 <= reg <= 0xFFFF:
            raise FieldError(f"register {i}", f"{reg!r} is not a 16-bit register value")
