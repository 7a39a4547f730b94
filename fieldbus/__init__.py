"""Device-side field protocols shared by the edge agent and the simulator: pure codecs, no I/O.

- fieldbus.cjt188           CJ/T 188-2004 water meter frames (RS-485 / M-Bus)
- fieldbus.gauge_modbus     river gauge Modbus RTU register map
- fieldbus.callbutton_line  ASCII line protocol of call-button receivers
- fieldbus.errors           the exception tree all three share

Each protocol is documented in docs/protocols/.
"""

from fieldbus.errors import (
    AbnormalResponse,
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

__all__ = [
    "AbnormalResponse",
    "BadBcd",
    "BadLength",
    "BadPreamble",
    "BadTerminator",
    "ChecksumError",
    "FieldError",
    "FieldbusError",
    "FrameError",
    "GarbageSkipped",
    "IncompleteFrame",
]
