"""ASCII line protocol of call-button receivers; docs/protocols/callbutton-line.md.

    $CB,<device-id>,<event>,<seq>,<battery_mv>,<rssi_dbm>*<XX>\\r\\n

XX is the XOR of every byte between "$" and "*" (exclusive), two hex digits, as in NMEA 0183.
Example: $CB,B0001,PRESS,17,2950,-67*0D\\r\\n
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from fieldbus.errors import BadLength, ChecksumError, FieldbusError, FieldError, FrameError, GarbageSkipped

SENTENCE = "CB"
MAX_LINE = 82                      # bytes including "\r\n", as NMEA 0183
SEQ_MAX = 0xFFFF                   # seq wraps from 65535 to 0
BATTERY_MV_MAX = 0xFFFF
RSSI_MIN, RSSI_MAX = -150, 0
_DEVICE_ID = re.compile(r"[0-9A-Za-z-]{1,32}")
_UINT = re.compile(r"[0-9]{1,5}")
_INT = re.compile(r"-?[0-9]{1,3}")
_HEX2 = re.compile(r"[0-9A-Fa-f]{2}")


class ButtonEvent(StrEnum):
    """The event field."""

    PRESS = "PRESS"      # short press: call for help
    LONG = "LONG"        # long press (held > 3 s on most buttons)
    CANCEL = "CANCEL"    # resident cancels a call
    TEST = "TEST"        # installer's test press
    HB = "HB"            # heartbeat: battery and radio check-in, no action

    @property
    def action(self) -> str | None:
        """Contract v1 call_button/event action, or None for a heartbeat (a status message)."""
        return _ACTIONS.get(self)


_ACTIONS = {ButtonEvent.PRESS: "press", ButtonEvent.LONG: "long_press",
            ButtonEvent.CANCEL: "cancel", ButtonEvent.TEST: "test"}


@dataclass(frozen=True, slots=True)
class ButtonLine:
    """One decoded line."""

    device_id: str
    event: ButtonEvent
    seq: int
    battery_mv: int
    rssi_dbm: int

    @property
    def battery_v(self) -> float:
        """Battery voltage in volts (contract field battery_v)."""
        return self.battery_mv / 1000


def line_checksum(body: str | bytes) -> int:
    """XOR of the bytes between "$" and "*"."""
    data = body.encode("ascii") if isinstance(body, str) else body
    value = 0
    for byte in data:
        value ^= byte
    return value


def encode_line(line: ButtonLine) -> bytes:
    """The line as the receiver sends it, with checksum and CRLF; FieldError for values out of range."""
    _check_fields(line.device_id, line.seq, line.battery_mv, line.rssi_dbm)
    body = f"{SENTENCE},{line.device_id},{ButtonEvent(line.event).value},{line.seq},{line.battery_mv},{line.rssi_dbm}"
    return f"${body}*{line_checksum(body):02X}\r\n".encode("ascii")


def parse_line(raw: bytes | str) -> ButtonLine:
    """Parse one line (terminator optional); raises a FieldbusError that names what is wrong."""
    data = raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else bytes(raw)
    if len(data) > MAX_LINE:
        raise BadLength(f"line is {len(data)} bytes, at most {MAX_LINE} allowed", data)
    for offset, byte in enumerate(data):
        if byte > 0x7E or (byte < 0x20 and byte not in (0x0D, 0x0A)):
            raise FrameError(f"byte {byte:02X}h at offset {offset} is not printable ASCII", data)
    text = data.decode("ascii")
    text = text[:-2] if text.endswith("\r\n") else text[:-1] if text.endswith("\n") else text
    if "\r" in text or "\n" in text:
        raise FrameError("line break inside the line", data)
    if not text.startswith("$"):
        raise FrameError("line does not start with '$'", data)
    star = text.rfind("*")
    if star < 0:
        raise FrameError("no '*' before the checksum", data)
    body, check = text[1:star], text[star + 1:]
    if not _HEX2.fullmatch(check):
        raise FrameError(f"checksum {check!r} is not two hex digits", data)
    expected = line_checksum(body)
    if int(check, 16) != expected:
        raise ChecksumError(f"checksum {check.upper()}, but the line XORs to {expected:02X}", data,
                            expected=expected, actual=int(check, 16))
    fields = body.split(",")
    if fields[0] != SENTENCE:
        raise FieldError("sentence", f"{fields[0]!r} is not {SENTENCE!r}", data)
    if len(fields) != 6:
        raise FieldError("fields", f"{len(fields) - 1} fields after {SENTENCE!r}, expected 5", data)
    _, device_id, event, seq, battery, rssi = fields
    if event not in ButtonEvent._value2member_map_:
        raise FieldError("event", f"{event!r} is not one of {', '.join(ButtonEvent)}", data)
    for name, value, pattern in (("seq", seq, _UINT), ("battery_mv", battery, _UINT), ("rssi_dbm", rssi, _INT)):
        if not pattern.fullmatch(value):
            raise FieldError(name, f"{value!r} is not a decimal integer", data)
    _check_fields(device_id, int(seq), int(battery), int(rssi), data)
    return ButtonLine(device_id, ButtonEvent(event), int(seq), int(battery), int(rssi))


def _check_fields(device_id: str, seq: int, battery_mv: int, rssi: int, raw: bytes = b"") -> None:
    if not _DEVICE_ID.fullmatch(device_id):
        raise FieldError("device_id", f"{device_id!r} must be 1-32 characters of A-Z a-z 0-9 -", raw)
    if not 0 <= seq <= SEQ_MAX:
        raise FieldError("seq", f"{seq} is outside 0..{SEQ_MAX}", raw)
    if not 0 <= battery_mv <= BATTERY_MV_MAX:
        raise FieldError("battery_mv", f"{battery_mv} is outside 0..{BATTERY_MV_MAX}", raw)
    if not RSSI_MIN <= rssi <= RSSI_MAX:
        raise FieldError("rssi_dbm", f"{rssi} is outside {RSSI_MIN}..{RSSI_MAX}", raw)


class LineDecoder:
    """Splits a byte stream into lines and parses them; feed() returns lines and errors in order.

    Blank lines are ignored. Noise before a '$' on the same line is reported as GarbageSkipped and the
    line is parsed from its last '$'. A line longer than MAX_LINE is reported once and dropped up to
    the next line feed.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._overflow = False

    def feed(self, data: bytes) -> list[ButtonLine | FieldbusError]:
        """Add received bytes; return what the complete lines held."""
        self._buf += data
        out: list[ButtonLine | FieldbusError] = []
        while (end := self._buf.find(b"\n")) >= 0:
            line = bytes(self._buf[:end + 1])
            del self._buf[:end + 1]
            if self._overflow:
                self._overflow = False
                continue
            self._parse_into(out, line)
        if len(self._buf) > MAX_LINE and not self._overflow:
            out.append(BadLength(f"over {MAX_LINE} bytes without a line feed; dropped to the next one",
                                 bytes(self._buf)))
            self._overflow = True
        if self._overflow:
            self._buf.clear()
        return out

    def flush(self) -> list[FieldbusError]:
        """Drop an unfinished line (e.g. when the port closes) and report it."""
        rest, self._buf, self._overflow = bytes(self._buf), bytearray(), False
        return [FrameError(f"unfinished line of {len(rest)} bytes dropped", rest)] if rest.strip() else []

    @staticmethod
    def _parse_into(out: list[ButtonLine | FieldbusError], line: bytes) -> None:
        if not line.strip():
            return
        dollar = line.rfind(b"$")
        if dollar > 0:
            out.append(GarbageSkipped(f"{dollar} bytes before '$'", line[:dollar]))
            line = line[dollar:]
        try:
            out.append(parse_line(line))
        except FieldbusError as exc:
            out.append(exc)
