"""Errors raised (or, by stream decoders, reported) by the fieldbus codecs.

    FieldbusError            anything a device sent (or a caller passed) that a codec cannot accept
      FrameError             the bytes do not form a frame of the protocol
        IncompleteFrame      the bytes ended before the frame did
        BadPreamble          too many preamble bytes before the start byte
        BadLength            a length field that is impossible or disagrees with the bytes
        BadTerminator        the end marker is not where the length says the frame ends
        ChecksumError        the check byte(s) do not match the content (has .expected, .actual)
        GarbageSkipped       bytes that belong to no frame (reported by stream decoders only)
      FieldError             a frame is intact but a field holds a value the protocol forbids (has .field)
        BadBcd               a BCD byte with a nibble above 9 (has .offset, .byte)
      AbnormalResponse       the device answered, but with its "abnormal" reply (has .status)

Every error keeps the offending bytes in ``.raw`` so a driver can count and log them.
They subclass ValueError: bad input from a device is a bad value, not a crash.
"""

from __future__ import annotations

from typing import Any


class FieldbusError(ValueError):
    """Base of all fieldbus codec errors; ``raw`` holds the offending bytes."""

    def __init__(self, message: str, raw: bytes = b"") -> None:
        super().__init__(message)
        self.raw = bytes(raw)

    @property
    def reason(self) -> str:
        """The message without the exception class name."""
        return str(self)


class FrameError(FieldbusError):
    """The bytes do not form a frame of the protocol."""


class IncompleteFrame(FrameError):
    """The bytes ended before the frame did."""


class BadPreamble(FrameError):
    """More preamble bytes than the protocol allows before the start byte."""


class BadLength(FrameError):
    """A length field that is impossible or disagrees with the bytes received."""


class BadTerminator(FrameError):
    """The end marker is missing where the length says the frame ends."""


class ChecksumError(FrameError):
    """The check value does not match the frame content."""

    def __init__(self, message: str, raw: bytes = b"", *, expected: int, actual: int) -> None:
        super().__init__(message, raw)
        self.expected = expected
        self.actual = actual


class GarbageSkipped(FrameError):
    """Bytes between frames that belong to no frame (stream decoders report these)."""


class FieldError(FieldbusError):
    """A frame is intact but one field holds a value the protocol does not allow."""

    def __init__(self, field: str, message: str, raw: bytes = b"") -> None:
        super().__init__(f"{field}: {message}", raw)
        self.field = field


class BadBcd(FieldError):
    """A packed-BCD byte with a nibble above 9."""

    def __init__(self, field: str, offset: int, byte: int, raw: bytes = b"") -> None:
        super().__init__(field, f"byte {offset} is {byte:02X}h, not BCD (each nibble must be 0-9)", raw)
        self.offset = offset
        self.byte = byte


class AbnormalResponse(FieldbusError):
    """The device answered with its abnormal reply; ``status`` is the decoded status it sent."""

    def __init__(self, message: str, raw: bytes = b"", *, status: Any = None) -> None:
        super().__init__(message, raw)
        self.status = status
