"""CJ/T 188-2004 water meter protocol (see docs/protocols/cjt188.md).

    frame = read_request("00000012345678", ser=7)          # C=01h, DI 90 1F
    port.write(frame.encode())                              # FE FE FE 68 10 78 56 34 12 00 00 00 01 03 90 1F 07 CS 16
    dec = StreamDecoder()
    for item in dec.feed(port.read(64)):                    # frames and errors, in order
        if isinstance(item, Frame):
            reading = parse_read_response(item, address="00000012345678", ser=7)
            reading.total_l                                 # litres, float
"""

from fieldbus.cjt188.frames import (
    BROADCAST,
    CTRL_ABNORMAL,
    CTRL_RESPONSE,
    DEFAULT_MAX_DATA_LEN,
    DEFAULT_PREAMBLE,
    DI_READ_DATA,
    END,
    LITRES_PER_UNIT,
    MAX_PREAMBLE,
    PREAMBLE_BYTE,
    READ_DATA_LEN,
    REGISTER_MAX,
    START,
    DiOrder,
    Frame,
    Function,
    MeterType,
    StreamDecoder,
    Unit,
    address_bytes,
    address_text,
    checksum,
    decode_frame,
    decode_stream,
    encode_frame,
    frames_only,
)
from fieldbus.cjt188.read_data import (
    READ_ABNORMAL,
    READ_RESPONSE,
    FlowRegister,
    MeterReading,
    MeterStatus,
    ValveState,
    abnormal_response,
    decode_clock,
    encode_clock,
    parse_read_request,
    parse_read_response,
    read_request,
    read_response,
)

__all__ = [
    "BROADCAST", "CTRL_ABNORMAL", "CTRL_RESPONSE", "DEFAULT_MAX_DATA_LEN", "DEFAULT_PREAMBLE", "DI_READ_DATA",
    "END", "LITRES_PER_UNIT", "MAX_PREAMBLE", "PREAMBLE_BYTE", "READ_ABNORMAL", "READ_DATA_LEN", "READ_RESPONSE",
    "REGISTER_MAX", "START", "DiOrder", "FlowRegister", "Frame", "Function", "MeterReading", "MeterStatus",
    "MeterType", "StreamDecoder", "Unit", "ValveState", "abnormal_response", "address_bytes", "address_text",
    "checksum", "decode_clock", "decode_frame", "decode_stream", "encode_clock", "encode_frame", "frames_only",
    "parse_read_request", "parse_read_response", "read_request", "read_response",
]
