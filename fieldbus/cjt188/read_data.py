"""CJ/T 188 "read meter data" (DI 901FH) for water meters: request, response, abnormal response.

Response DATA (L = 16h, 22 bytes), numbers low byte first:

    DI0 DI1 SER | current flow: 4 BCD (2 decimals) + unit | settlement-day flow: 4 BCD + unit
    | real time: ss mm hh DD MM YY YY (7 BCD) | ST1 ST2
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from fieldbus.bcd import decode_bcd, encode_bcd
from fieldbus.cjt188.frames import (
    CTRL_ABNORMAL,
    CTRL_RESPONSE,
    DI_READ_DATA,
    LITRES_PER_UNIT,
    READ_DATA_LEN,
    REGISTER_MAX,
    DiOrder,
    Frame,
    Function,
    MeterType,
    Unit,
)
from fieldbus.errors import AbnormalResponse, BadLength, FieldError

READ_RESPONSE = CTRL_RESPONSE | Function.READ_DATA                    # 81h
READ_ABNORMAL = CTRL_RESPONSE | CTRL_ABNORMAL | Function.READ_DATA    # C1h

ST_VALVE_MASK = 0x03     # ST1 D1..D0
ST_BATTERY_LOW = 0x04    # ST1 D2
ST_VENDOR_MASK = 0xFFF8  # ST1 D7..D3 and all of ST2: left to manufacturers


class ValveState(StrEnum):
    """ST1 D1..D0."""

    OPEN = "open"            # 00
    CLOSED = "closed"        # 01
    UNDEFINED = "undefined"  # 10 (not defined by the standard)
    ABNORMAL = "abnormal"    # 11


_VALVE_BITS = {ValveState.OPEN: 0, ValveState.CLOSED: 1, ValveState.UNDEFINED: 2, ValveState.ABNORMAL: 3}
_VALVE_OF = {bits: state for state, bits in _VALVE_BITS.items()}


@dataclass(frozen=True, slots=True)
class MeterStatus:
    """The two status bytes ST1 ST2."""

    valve: ValveState = ValveState.OPEN
    battery_low: bool = False
    vendor_bits: int = 0  # bits D3..D15 as sent; their meaning is the manufacturer's

    @property
    def word(self) -> int:
        """ST1 | ST2 << 8."""
        return _VALVE_BITS[self.valve] | (ST_BATTERY_LOW if self.battery_low else 0) | (self.vendor_bits & ST_VENDOR_MASK)

    def to_bytes(self) -> bytes:
        """ST1 ST2 as sent."""
        return self.word.to_bytes(2, "little")

    @classmethod
    def from_bytes(cls, data: bytes) -> MeterStatus:
        """Decode ST1 ST2."""
        word = int.from_bytes(data[:2], "little")
        return cls(_VALVE_OF[word & ST_VALVE_MASK], bool(word & ST_BATTERY_LOW), word & ST_VENDOR_MASK)


@dataclass(frozen=True, slots=True)
class FlowRegister:
    """A 4-byte BCD quantity with 2 decimals and its unit byte."""

    hundredths: int   # the 8 BCD digits as an integer: value = hundredths / 100 units
    unit: int = Unit.M3

    @property
    def value(self) -> Decimal:
        """The quantity in its own unit, exactly."""
        return Decimal(self.hundredths) / 100

    @property
    def litres(self) -> float:
        """The quantity in litres; FieldError for a unit that is not a volume."""
        return float(self.litres_exact)

    @property
    def litres_exact(self) -> Decimal:
        """The quantity in litres as an exact Decimal."""
        factor = LITRES_PER_UNIT.get(self.unit)  # type: ignore[call-overload]
        if factor is None:
            raise FieldError("unit", f"{_unit_name(self.unit)} is not a volume unit (L or m3 expected)")
        return self.value * factor

    @classmethod
    def from_litres(cls, litres: float | Decimal, unit: int = Unit.M3, wrap: bool = False) -> FlowRegister:
        """The register a meter shows for `litres`: truncated to 0.01 unit, rolled over if wrap else refused."""
        factor = LITRES_PER_UNIT.get(unit)  # type: ignore[call-overload]
        if factor is None:
            raise FieldError("unit", f"{_unit_name(unit)} is not a volume unit (L or m3 expected)")
        if litres < 0:
            raise FieldError("flow", f"{litres} L is negative")
        hundredths = int(Decimal(str(litres)) * 100 / factor)
        if hundredths >= REGISTER_MAX:
            if not wrap:
                raise FieldError("flow", f"{litres} L does not fit 8 BCD digits in {_unit_name(unit)}")
            hundredths %= REGISTER_MAX
        return cls(hundredths, unit)

    def to_bytes(self) -> bytes:
        """4 BCD bytes (low first) and the unit byte."""
        return encode_bcd(self.hundredths, 4, "flow") + bytes((self.unit,))

    @classmethod
    def from_bytes(cls, data: bytes, name: str, raw: bytes = b"") -> FlowRegister:
        """Decode 4 BCD bytes and a unit byte; BadBcd/FieldError name the field."""
        hundredths = decode_bcd(data[:4], name, raw)
        unit = data[4]
        if unit not in Unit._value2member_map_:
            raise FieldError(f"{name} unit", f"unknown unit code {unit:02X}h", raw)
        return cls(hundredths, Unit(unit))


def _unit_name(unit: int) -> str:
    return Unit(unit).name if unit in Unit._value2member_map_ else f"unit {unit:02X}h"


def encode_clock(when: datetime | None) -> bytes:
    """ss mm hh DD MM YY YY in BCD (low byte first); None gives seven zero bytes (no clock)."""
    if when is None:
        return bytes(7)
    parts = (when.second, when.minute, when.hour, when.day, when.month, when.year % 100, when.year // 100)
    return b"".join(encode_bcd(p, 1, "clock") for p in parts)


def decode_clock(data: bytes, raw: bytes = b"") -> datetime | None:
    """The meter's local time (naive), or None when all seven bytes are zero (meter without a clock)."""
    if data == bytes(7):
        return None
    sec, minute, hour, day, month, year_lo, year_hi = (decode_bcd(data[i:i + 1], "clock", raw) for i in range(7))
    try:
        return datetime(year_hi * 100 + year_lo, month, day, hour, minute, sec)
    except ValueError as exc:
        raise FieldError("clock", f"{data.hex(' ').upper()} is not a valid date and time: {exc}", raw) from exc


@dataclass(frozen=True, slots=True)
class MeterReading:
    """The content of a normal 901F response."""

    current: FlowRegister
    settlement: FlowRegister
    clock: datetime | None = None
    status: MeterStatus = field(default_factory=MeterStatus)
    ser: int = 0
    di_order: DiOrder = DiOrder.AS_WRITTEN

    @property
    def total_l(self) -> float:
        """Current cumulative flow in litres (contract field water_meter.total_l)."""
        return self.current.litres


def read_request(address: str, ser: int = 0, meter_type: int = MeterType.COLD_WATER,
                 di_order: DiOrder = DiOrder.AS_WRITTEN) -> Frame:
    """The master's request: C=01h, L=03h, DATA = DI0 DI1 SER."""
    _check_ser(ser)
    return Frame(meter_type, address, Function.READ_DATA, di_order.pack(DI_READ_DATA) + bytes((ser,)))


def parse_read_request(frame: Frame) -> tuple[int, DiOrder]:
    """(SER, DI order) of a 901F read request; FieldError if the frame is another request."""
    if frame.control != Function.READ_DATA:
        raise FieldError("control", f"{frame.control:02X}h is not a read request (01h)")
    if len(frame.data) != 3:
        raise BadLength(f"read request has L={len(frame.data)}, expected 3", frame.data)
    return frame.data[2], _di_order(frame.data[:2], frame.data)


def read_response(address: str, reading: MeterReading, meter_type: int = MeterType.COLD_WATER) -> Frame:
    """The meter's normal response: C=81h, L=16h."""
    _check_ser(reading.ser)
    data = (reading.di_order.pack(DI_READ_DATA) + bytes((reading.ser,)) + reading.current.to_bytes()
            + reading.settlement.to_bytes() + encode_clock(reading.clock) + reading.status.to_bytes())
    return Frame(meter_type, address, READ_RESPONSE, data)


def abnormal_response(address: str, ser: int, status: MeterStatus,
                      meter_type: int = MeterType.COLD_WATER) -> Frame:
    """The meter's abnormal response: C=C1h, L=03h, DATA = SER ST1 ST2."""
    _check_ser(ser)
    return Frame(meter_type, address, READ_ABNORMAL, bytes((ser,)) + status.to_bytes())


def parse_read_response(frame: Frame, address: str | None = None, ser: int | None = None) -> MeterReading:
    """Decode a 901F response; checks address and SER when given; AbnormalResponse for C1h."""
    raw = frame.encode(0)
    if address is not None and frame.address != address.upper():
        raise FieldError("address", f"reply from {frame.address}, expected {address}", raw)
    if frame.control == READ_ABNORMAL:
        status = MeterStatus.from_bytes(frame.data[-2:]) if len(frame.data) in (3, 5) else None
        raise AbnormalResponse(f"meter {frame.address} answered the read with an abnormal response "
                               f"(status {status})", raw, status=status)
    if frame.control != READ_RESPONSE:
        raise FieldError("control", f"{frame.control:02X}h is not a read response (81h)", raw)
    data = frame.data
    if len(data) != READ_DATA_LEN:
        raise BadLength(f"read response has L={len(data)}, expected {READ_DATA_LEN} (16h)", raw)
    order = _di_order(data[:2], raw)
    if ser is not None and data[2] != ser:
        raise FieldError("SER", f"reply carries SER {data[2]}, expected {ser}", raw)
    return MeterReading(
        current=FlowRegister.from_bytes(data[3:8], "current flow", raw),
        settlement=FlowRegister.from_bytes(data[8:13], "settlement flow", raw),
        clock=decode_clock(data[13:20], raw),
        status=MeterStatus.from_bytes(data[20:22]),
        ser=data[2],
        di_order=order,
    )


def _di_order(di: bytes, raw: bytes) -> DiOrder:
    for order in DiOrder:
        if di == order.pack(DI_READ_DATA):
            return order
    raise FieldError("DI", f"{di.hex(' ').upper()} is not the read-data identifier 90 1F", raw)


def _check_ser(ser: int) -> None:
    if not 0 <= ser <= 0xFF:
        raise FieldError("SER", f"{ser} is not a byte")
