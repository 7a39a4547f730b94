"""Message models of contract v1 and the one decode/encode path for payloads.

A payload is one UTF-8 JSON object of at most 16 KiB:
    {"v": 1, "kind": "water_meter", "ts": 1795450000123, "seq": 4711, "data": {...}}
`data` is validated by (kind, channel). Validation is strict: a number sent as a string,
a bool where a number belongs, NaN/Infinity, unknown fields and out-of-range values are
rejected with a precise reason such as "data.total_l: expected number, got string".
Unknown fields are rejected rather than stored because every data key becomes an
InfluxDB field whose type is fixed once written; new optional fields are added here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from wire.errors import ContractError
from wire.kinds import Channel, Kind  # defined below wire.topics; still importable from here
from wire.topics import StateTopic, device_topic, parse_topic
from wire.validation import FlatModel, json_type

MAX_PAYLOAD_BYTES = 16 * 1024
SCHEMA_VERSION = 1
#: 2020-01-01T00:00:00Z: a device clock before this was never set (1970, 2000 ...)
MIN_TS_MS = 1_577_836_800_000
#: a ts at most this far ahead of the receiver's clock (device clock skew): the contract's bound, the same for
#: ingest and the alerts engine, so a message one of them accepts the other does not refuse
MAX_FUTURE_MS = 5 * 60 * 1000


# printable text without control characters (they would break logs and line protocol); msgspec
# searches with Python's re, so patterns end in \Z: `$` would let a final newline through
Text = Annotated[str, Meta(max_length=256, pattern=r"^[^\x00-\x1f\x7f]*\Z")]
Volts = Annotated[float, Meta(ge=0, le=100)]


class _Strict(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """Strict flat model: unknown fields, NaN/Infinity and wrong JSON types are refused (see wire.validation)."""


class WaterMeterReading(_Strict):
    """water_meter/reading: cumulative register in litres."""

    total_l: Annotated[float, Meta(ge=0, le=1e12, description="cumulative register, litres")]
    flow_lpm: Annotated[float, Meta(ge=0, le=1e5)] | None = None
    battery_v: Volts | None = None
    valve_open: bool | None = None
    leak_flag: bool | None = None


class CallButtonEvent(_Strict):
    """call_button/event: a press, long press, cancel or test."""

    action: Literal["press", "long_press", "cancel", "test"]


class RiverGaugeReading(_Strict):
    """river_gauge/reading: stage above the station datum in metres."""

    level_m: Annotated[float, Meta(ge=-1000, le=10000)]
    raw_distance_m: Annotated[float, Meta(ge=0, le=10000)] | None = None


class CameraEvent(_Strict):
    """camera/event: a trigger from a camera's analytics."""

    type: Literal["motion", "intrusion", "line_crossing", "person", "tamper"]
    state: Literal["start", "end", "pulse"]
    zone: Text | None = None
    score: Annotated[float, Meta(ge=0, le=1)] | None = None
    event_id: Text | None = None
    snapshot: Annotated[str, Meta(max_length=2048, pattern=r"^[^\x00-\x20\x7f]*\Z")] | None = None


class DeviceStatus(_Strict):
    """any kind/status: device health."""

    battery_v: Volts | None = None
    rssi_dbm: Annotated[float, Meta(ge=-200, le=50)] | None = None
    heartbeat: bool | None = None
    fault: Text | None = None


Count = Annotated[int, Meta(ge=0, le=2**63 - 1)]


class GatewayStatus(_Strict):
    """gateway/status: health of an edge agent (device = the gateway id) or of one of its drivers (device = driver id).

    Counters are totals since the agent started; every field is optional.
    """

    # the agent as a whole
    uptime_s: Annotated[float, Meta(ge=0)] | None = None
    outbox_depth: Count | None = None
    outbox_bytes: Count | None = None
    outbox_oldest_s: Annotated[float, Meta(ge=0)] | None = None
    sent: Count | None = None
    shed_readings: Count | None = None
    shed_events: Count | None = None
    shed_status: Count | None = None
    rejected: Count | None = None
    cpu_pct: Annotated[float, Meta(ge=0, le=100_000)] | None = None
    rss_mb: Annotated[float, Meta(ge=0, le=1e6)] | None = None
    temp_c: Annotated[float, Meta(ge=-100, le=200)] | None = None
    connected: bool | None = None
    drivers_down: Count | None = None
    # one driver (a serial bus, a receiver, a local MQTT input)
    polls: Count | None = None
    ok: Count | None = None
    errors: Count | None = None
    timeouts: Count | None = None
    checksum_errors: Count | None = None
    bad_frames: Count | None = None
    garbage: Count | None = None
    bad_values: Count | None = None
    out_of_range: Count | None = None
    devices_down: Count | None = None
    port_down: bool | None = None
    restarts: Count | None = None
    last_error: Text | None = None


class GatewayState(_Strict):
    """sw/v1/{gateway}/state: retained presence; the last will is {"online": false}."""

    online: bool
    ts: Annotated[int, Meta(ge=0)] | None = None
    version: Text | None = None
    uptime_s: Annotated[float, Meta(ge=0)] | None = None


class _Envelope(_Strict):
    v: int
    kind: str
    ts: int
    seq: Annotated[int, Meta(ge=0, le=2**63 - 1)]
    data: dict[str, Any]


DATA_MODELS: dict[tuple[Kind, Channel], type[_Strict]] = {
    (Kind.WATER_METER, Channel.READING): WaterMeterReading,
    (Kind.CALL_BUTTON, Channel.EVENT): CallButtonEvent,
    (Kind.RIVER_GAUGE, Channel.READING): RiverGaugeReading,
    (Kind.CAMERA, Channel.EVENT): CameraEvent,
    **{(k, Channel.STATUS): DeviceStatus for k in Kind if k is not Kind.GATEWAY},
    (Kind.GATEWAY, Channel.STATUS): GatewayStatus,
}
_KINDS = {k.value: k for k in Kind}


@dataclass(frozen=True, slots=True)
class Message:
    """One validated device message, as every part handles it in process."""

    gateway: str
    device: str
    channel: Channel
    kind: Kind
    ts: int
    seq: int
    data: Mapping[str, Any] = field(default_factory=dict)

    @property
    def topic(self) -> str:
        return device_topic(self.gateway, self.device, self.channel)


@dataclass(frozen=True, slots=True)
class StateMessage:
    """A validated gateway presence message."""

    gateway: str
    online: bool
    ts: int | None
    data: Mapping[str, Any]


_FLAT: dict[type[_Strict], FlatModel] = {m: FlatModel(m) for m in {*DATA_MODELS.values(), GatewayState, _Envelope}}


def _validate(model: type[_Strict], obj: Any, prefix: str) -> Any:
    try:
        return _FLAT[model].convert(obj, prefix)
    except ValueError as exc:
        raise ContractError("schema", str(exc)) from None


def _fields_set(value: _Strict) -> dict[str, Any]:
    """The fields that were set (None means unset: every optional field defaults to None)."""
    return {k: v for k in value.__struct_fields__ if (v := getattr(value, k)) is not None}


def validate_data(kind: Kind | str, channel: Channel | str, data: Any) -> dict[str, Any]:
    """Validate `data` for (kind, channel); returns only the fields that were set."""
    k = _KINDS.get(str(kind))
    if k is None:
        raise ContractError("schema", f"kind: unknown kind {str(kind)[:40]!r}, expected one of {sorted(_KINDS)}")
    model = DATA_MODELS.get((k, Channel(channel)))
    if model is None:
        raise ContractError("schema", f"channel {channel} is not defined for kind {k.value}")
    return _fields_set(_validate(model, data, "data"))


# --- payload decode / encode ------------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed in contract JSON")


_JSON = json.JSONDecoder(parse_constant=_reject_constant)


def parse_json(payload: bytes) -> Any:
    """Parse a payload as strict JSON (UTF-8, no NaN/Infinity); ContractError on failure."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise ContractError("size", f"payload is {len(payload)} bytes, limit is {MAX_PAYLOAD_BYTES}")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ContractError("json", f"payload is not UTF-8 (byte {exc.start})") from None
    try:
        return _JSON.decode(text)
    except (ValueError, RecursionError) as exc:
        raise ContractError("json", f"malformed JSON: {str(exc)[:160]}") from None


def check_ts(ts: int, now_ms: int | None, max_future_ms: int, max_age_ms: int | None) -> None:
    """Reject timestamps from an unset clock, the far future or beyond retention."""
    if ts < MIN_TS_MS:
        raise ContractError("ts", f"ts: {ts} is before 2020-01-01 (device clock not set?)")
    if now_ms is not None:
        if ts > now_ms + max_future_ms:
            raise ContractError("ts", f"ts: {ts} is {(ts - now_ms) / 1000:.0f} s in the future "
                                      f"(limit {max_future_ms / 1000:.0f} s clock skew)")
        if max_age_ms is not None and ts < now_ms - max_age_ms:
            raise ContractError("ts", f"ts: {ts} is older than the retention of {max_age_ms // 1000} s")


def decode(
    topic: str,
    payload: bytes,
    *,
    now_ms: int | None = None,
    max_future_ms: int = MAX_FUTURE_MS,
    max_age_ms: int | None = None,
) -> Message | StateMessage:
    """Validate a topic and payload against contract v1; ContractError says why not."""
    t = parse_topic(topic)
    obj = parse_json(payload)
    if not isinstance(obj, dict):
        raise ContractError("schema", f"payload must be a JSON object, got {json_type(obj)}")
    if isinstance(t, StateTopic):
        state = _validate(GatewayState, obj, "")
        if state.ts is not None:
            check_ts(state.ts, now_ms, max_future_ms, max_age_ms)
        return StateMessage(t.gateway, state.online, state.ts, _fields_set(state))
    env = _validate(_Envelope, obj, "")
    if env.v != SCHEMA_VERSION:
        raise ContractError("schema", f"v: unsupported schema version {env.v}, expected {SCHEMA_VERSION}")
    check_ts(env.ts, now_ms, max_future_ms, max_age_ms)
    data = validate_data(env.kind, t.channel, env.data)
    return Message(t.gateway, t.device, t.channel, Kind(env.kind), env.ts, env.seq, data)


def encode(msg: Message) -> tuple[str, bytes]:
    """Topic and payload bytes for a message; validates it as a receiver would."""
    data = validate_data(msg.kind, msg.channel, dict(msg.data))
    obj = {"v": SCHEMA_VERSION, "kind": str(msg.kind), "ts": msg.ts, "seq": msg.seq, "data": data}
    _validate(_Envelope, obj, "")
    check_ts(msg.ts, None, MAX_FUTURE_MS, None)
    payload = json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise ContractError("size", f"payload is {len(payload)} bytes, limit is {MAX_PAYLOAD_BYTES}")
    return msg.topic, payload


def encode_state(online: bool, **extra: Any) -> bytes:
    """Payload for a gateway presence message (birth or last will)."""
    state = _validate(GatewayState, {"online": online, **extra}, "")
    return json.dumps(_fields_set(state), separators=(",", ":")).encode()
