"""Packed BCD, least significant byte first (the byte order CJ/T 188 uses for numbers)."""

from __future__ import annotations

from fieldbus.errors import BadBcd, FieldError


def encode_bcd(value: int, nbytes: int, field: str = "value") -> bytes:
    """Pack a non-negative integer into nbytes of BCD, low byte first."""
    if value < 0 or value >= 10 ** (2 * nbytes):
        raise FieldError(field, f"{value} does not fit in {nbytes} BCD bytes ({2 * nbytes} digits)")
    out = bytearray()
    for _ in range(nbytes):
        value, low = divmod(value, 10)
        value, high = divmod(value, 10)
        out.append(high << 4 | low)
    return bytes(out)


def decode_bcd(data: bytes, field: str = "value", raw: bytes = b"") -> int:
    """Unpack BCD bytes (low byte first) into an integer; BadBcd names the first bad byte."""
    value = 0
    for offset in range(len(data) - 1, -1, -1):
        byte = data[offset]
        high, low = byte >> 4, byte & 0x0F
        if high > 9 or low > 9:
            raise BadBcd(field, offset, byte, raw or bytes(data))
        value = value * 100 + high * 10 + low
    return value
