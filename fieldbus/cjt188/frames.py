"""CJ/T 188-2004 frames: encoder, strict frame decoder and a stream decoder.

Frame (docs/protocols/cjt188.md has the full layout and the choices made where the standard is ambiguous):

    FE.. 68 T A0 A1 A2 A3 A4 A5 A6 C L DATA[L] CS 16

CS is the sum of the bytes from 68 through the last DATA byte, mod 256. The address is
7 bytes of BCD sent low byte first; this module writes it as the 14 digits printed on the
meter (A6 first), e.g. "00000012345678" is sent as 78 56 34 12 00 00 00.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum, StrEnum

from fieldbus.bcd import decode_bcd
from fieldbus.errors import (
    BadBcd,
    BadLength,
    BadPreamble,
    BadTerminator,
    ChecksumError,
    FieldbusError,
    FieldError,
    FrameError,
    GarbageSkipped,
    IncompleteFrame,
)

PREAMBLE_BYTE = 0xFE
START = 0x68
END = 0x16
HEADER_LEN = 11          # 68 T A0..A6 C L
MAX_PREAMBLE = 4         # decoders accept 0..4 FE bytes before 68
DEFAULT_PREAMBLE = 3     # what the encoder sends unless told otherwise
DEFAULT_MAX_DATA_LEN = 100  # a frame claiming more data is taken as corrupt (largest defined DATA is 46 bytes)
BROADCAST = "AAAAAAAAAAAAAA"

CTRL_RESPONSE = 0x80     # D7: 1 = sent by the meter
CTRL_ABNORMAL = 0x40     # D6: 1 = abnormal response
FUNCTION_MASK = 0x3F


class MeterType(IntEnum):
    """T byte: the kind of meter (Table 1 of the standard)."""

    COLD_WATER = 0x10
    HOT_WATER = 0x11
    DRINKING_WATER = 0x12
    RECLAIMED_WATER = 0x13
    HEAT_OUTLET = 0x20
    HEAT_INLET = 0x21
    GAS = 0x30
    CUSTOM = 0x40


class Function(IntEnum):
    """D5..D0 of the control byte."""

    READ_DATA = 0x01
    READ_ADDRESS = 0x03
    WRITE_DATA = 0x04
    READ_KEY_VERSION = 0x09
    WRITE_ADDRESS = 0x15
    WRITE_SYNC_DATA = 0x16


class Unit(IntEnum):
    """Unit byte following a quantity (Table of units in the standard)."""

    J = 0x01
    WH = 0x02
    KWH = 0x05
    MWH = 0x08
    MWH_X100 = 0x0A
    KJ = 0x0B
    MJ = 0x0E
    GJ = 0x11
    GJ_X100 = 0x13
    W = 0x14
    KW = 0x17
    MW = 0x1A
    L = 0x29
    M3 = 0x2C
    L_PER_H = 0x32
    M3_PER_H = 0x35


LITRES_PER_UNIT = {Unit.L: 1, Unit.M3: 1000}


class DiOrder(StrEnum):
    """Byte order of the data identifier on the wire (the standard is read both ways in the field)."""

    AS_WRITTEN = "as-written"    # DI 901FH sent as 90 1F (the order the standard prints)
    LOW_FIRST = "low-first"      # sent as 1F 90 (low byte first, like every other number)

    def pack(self, di: int) -> bytes:
        """The two DI bytes in this order."""
        hi, lo = di >> 8, di & 0xFF
        return bytes((hi, lo)) if self is DiOrder.AS_WRITTEN else bytes((lo, hi))


DI_READ_DATA = 0x901F
READ_DATA_LEN = 0x16     # DI(2) SER(1) current(4+1) settlement(4+1) clock(7) ST(2)
REGISTER_MAX = 10 ** 8   # 4 BCD bytes = 8 digits: the register rolls over to 0 here


# ---------------------------------------------------------------- addresses

def address_bytes(address: str) -> bytes:
    """The 7 wire bytes (A0 first) of a 14-digit address, or of the broadcast address."""
    text = address.strip().upper()
    if len(text) != 14:
        raise FieldError("address", f"{address!r} must have 14 digits")
    if text == BROADCAST:
        return b"\xAA" * 7
    if not text.isdigit():
        raise FieldError("address", f"{address!r} must be 14 decimal digits (or {BROADCAST})")
    return bytes.fromhex(text)[::-1]


def address_text(wire: bytes, raw: bytes = b"") -> str:
    """The 14 printed digits of 7 wire address bytes (A0 first); BadBcd unless BCD or broadcast."""
    if wire == b"\xAA" * 7:
        return BROADCAST
    decode_bcd(wire, "address", raw)
    return wire[::-1].hex().upper()


# ---------------------------------------------------------------- frames

@dataclass(frozen=True, slots=True)
class Frame:
    """One CJ/T 188 frame, without preamble."""

    meter_type: int
    address: str
    control: int
    data: bytes = b""

    @property
    def function(self) -> int:
        """D5..D0 of the control byte."""
        return self.control & FUNCTION_MASK

    @property
    def is_response(self) -> bool:
        """True when the frame was sent by a meter (D7 set)."""
        return bool(self.control & CTRL_RESPONSE)

    @property
    def is_abnormal(self) -> bool:
        """True for an abnormal response (D6 set)."""
        return bool(self.control & CTRL_ABNORMAL)

    def encode(self, preamble: int = DEFAULT_PREAMBLE) -> bytes:
        """The frame's bytes, preceded by `preamble` FE bytes."""
        return encode_frame(self, preamble)


def checksum(body: bytes) -> int:
    """CS: the sum of the bytes from 68 through the end of DATA, mod 256."""
    return sum(body) & 0xFF


def encode_frame(frame: Frame, preamble: int = DEFAULT_PREAMBLE) -> bytes:
    """Serialize a frame with `preamble` leading FE bytes."""
    if not 0 <= frame.meter_type <= 0xFF or not 0 <= frame.control <= 0xFF:
        raise FieldError("header", "meter type and control must be single bytes")
    if len(frame.data) > 0xFF:
        raise FieldError("data", f"{len(frame.data)} bytes do not fit the one-byte L field")
    if preamble < 0:
        raise FieldError("preamble", "cannot be negative")
    body = bytes((START, frame.meter_type)) + address_bytes(frame.address) + bytes((frame.control, len(frame.data)))
    body += frame.data
    return bytes((PREAMBLE_BYTE,)) * preamble + body + bytes((checksum(body), END))


def _check_at(buf: bytes | bytearray, start: int, max_data_len: int) -> tuple[Frame | FrameError | FieldError | None, int]:
    """Judge the candidate frame whose 68 is at `start`: (frame or error, its length) or (None, 0) if incomplete."""
    if len(buf) < start + HEADER_LEN:
        return None, 0
    length = buf[start + 10]
    head = bytes(buf[start:start + HEADER_LEN])
    if length > max_data_len:
        return BadLength(f"L={length} exceeds the {max_data_len}-byte limit for DATA", head), HEADER_LEN
    total = HEADER_LEN + length + 2
    if len(buf) < start + total:
        return None, 0
    raw = bytes(buf[start:start + total])
    if raw[-1] != END:
        return BadTerminator(f"L={length} puts the end byte at offset {total - 1}, "
                             f"where {raw[-1]:02X}h is found instead of 16h", raw), total
    expected = checksum(raw[:-2])
    if raw[-2] != expected:
        return ChecksumError(f"checksum {raw[-2]:02X}h, but the bytes from 68h to the end of DATA sum to "
                             f"{expected:02X}h", raw, expected=expected, actual=raw[-2]), total
    try:
        address = address_text(raw[2:9], raw)
    except BadBcd as exc:
        return exc, total
    return Frame(raw[1], address, raw[9], raw[HEADER_LEN:HEADER_LEN + length]), total


def decode_frame(raw: bytes, max_data_len: int = DEFAULT_MAX_DATA_LEN) -> Frame:
    """Decode exactly one frame (0-4 FE preamble bytes allowed) or raise a FieldbusError saying why."""
    pre = 0
    while pre < len(raw) and raw[pre] == PREAMBLE_BYTE:
        pre += 1
    if pre > MAX_PREAMBLE:
        raise BadPreamble(f"{pre} FE preamble bytes, at most {MAX_PREAMBLE} allowed", raw)
    if pre == len(raw):
        raise IncompleteFrame(f"{len(raw)} bytes and no start byte 68h", raw)
    if raw[pre] != START:
        raise FrameError(f"expected start byte 68h at offset {pre}, found {raw[pre]:02X}h", raw)
    result, total = _check_at(raw, pre, max_data_len)
    if result is None:
        need = HEADER_LEN + 2 + (raw[pre + 10] if len(raw) > pre + 10 else 0)
        raise IncompleteFrame(f"frame cut short: {len(raw) - pre} of at least {need} bytes", raw)
    if isinstance(result, FieldbusError):
        raise result
    if len(raw) != pre + total:
        raise BadLength(f"L={len(result.data)} gives a {total}-byte frame but {len(raw) - pre} bytes follow "
                        f"the preamble", raw)
    return result


class StreamDecoder:
    """Finds frames in a byte stream with noise; feed() returns frames and errors in arrival order.

    Errors are returned, not raised, so one bad frame never hides the good ones behind it.
    Call flush() when a read times out: it reports and drops a partial frame.
    """

    def __init__(self, max_data_len: int = DEFAULT_MAX_DATA_LEN) -> None:
        self.max_data_len = max_data_len
        self._buf = bytearray()

    @property
    def pending(self) -> int:
        """Bytes held back waiting for the rest of a frame."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[Frame | FieldbusError]:
        """Add received bytes; return the frames completed and the errors found."""
        self._buf += data
        out: list[Frame | FieldbusError] = []
        buf = self._buf
        while buf:
            start = buf.find(START)
            if start < 0:
                keep = _trailing_preamble(buf, len(buf))
                self._garbage(out, len(buf) - keep)
                break
            lead = start - _trailing_preamble(buf, start)
            if lead:
                self._garbage(out, lead)
                start -= lead
            result, total = _check_at(buf, start, self.max_data_len)
            if result is None:
                later = self._later_frame(start + 1)
                if later is None:
                    break  # wait for more bytes
                self._garbage(out, later - _trailing_preamble(buf, later))
                continue
            out.append(result)
            if isinstance(result, Frame):
                del buf[:start + total]
            elif isinstance(result, ChecksumError | BadBcd):
                # structurally whole, so skip all of it - unless a valid frame starts inside it,
                # in which case the 68 was noise that happened to look like a frame
                inner = self._later_frame(start + 1, start + total)
                del buf[:start + total if inner is None else inner - _trailing_preamble(buf, inner)]
            else:
                del buf[:start + 1]  # the 68 was noise: resynchronise on the next one
        return out

    def flush(self) -> list[FieldbusError]:
        """Drop whatever is buffered (call on a read timeout); report it if it was more than preamble."""
        rest, self._buf = bytes(self._buf), bytearray()
        if rest and rest.strip(bytes((PREAMBLE_BYTE,))):
            return [IncompleteFrame(f"{len(rest)} bytes of an unfinished frame dropped", rest)]
        return []

    def _later_frame(self, begin: int, end: int | None = None) -> int | None:
        """Offset of a complete valid frame starting in [begin, end): proof the candidate before it is noise."""
        pos = self._buf.find(START, begin, end)
        while pos >= 0:
            result, _ = _check_at(self._buf, pos, self.max_data_len)
            if isinstance(result, Frame):
                return pos
            pos = self._buf.find(START, pos + 1, end)
        return None

    def _garbage(self, out: list[Frame | FieldbusError], n: int) -> None:
        if n <= 0:
            return
        junk = bytes(self._buf[:n])
        del self._buf[:n]
        out.append(GarbageSkipped(f"{n} byte{'' if n == 1 else 's'} outside any frame", junk))


def _trailing_preamble(buf: bytes | bytearray, end: int) -> int:
    """How many FE bytes (at most MAX_PREAMBLE) end just before `end`."""
    n = 0
    while n < MAX_PREAMBLE and end - n - 1 >= 0 and buf[end - n - 1] == PREAMBLE_BYTE:
        n += 1
    return n


def decode_stream(data: bytes, max_data_len: int = DEFAULT_MAX_DATA_LEN) -> list[Frame | FieldbusError]:
    """Decode a complete capture: every frame and error, with any unfinished tail reported."""
    dec = StreamDecoder(max_data_len)
    return dec.feed(data) + dec.flush()


def frames_only(items: Iterable[Frame | FieldbusError]) -> list[Frame]:
    """The frames among decoder results."""
    return [item for item in items if isinstance(item, Frame)]
