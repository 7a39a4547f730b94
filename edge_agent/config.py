"""The agent's own TOML config (separate from the server config in shouwang/config.py).

    gateway = "gw-0001"
    state_dir = "/var/lib/shouwang-agent"
    [mqtt]      url, credentials, TLS, session, window and drain rate
    [outbox]    size/age bounds and the SQLite durability setting
    [health]    status interval, watchdog
    [[drivers]] one table per serial bus, receiver or local MQTT input; `driver` picks the kind

Unknown keys are errors naming the key; ids are contract ids (never names or addresses).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, get_args
from urllib.parse import urlsplit

import msgspec
import msgspec.inspect as mi
from msgspec import Meta, field

from fieldbus.cjt188 import DiOrder, MeterType
from fieldbus.gauge_modbus import DEFAULT_UNIT_ID, MEASUREMENT_START
from ground.errors import ConfigError
from ground.toml import read_toml
from wire.ids import ID_REGEX
from wire.validation import choices_at, explain, join_path

Id = Annotated[str, Meta(pattern=ID_REGEX, description="contract id: lowercase, opaque, never personal data")]
Parity = Literal["N", "E", "O"]


class Secret(str):
    """A password: its repr never shows the value (configs are logged and printed in tracebacks)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "Secret('**********')" if self else "Secret('')"

    def get_secret_value(self) -> str:
        """The plain text."""
        return str(self)


def _check_url(name: str, value: str, schemes: tuple[str, ...]) -> None:
    parts = urlsplit(value)
    try:
        parts.port  # noqa: B018 - raises for a port that is not a number in range
    except ValueError:
        raise ValueError(f"{name}: port must be a number from 1 to 65535") from None
    if parts.scheme not in schemes or not parts.hostname:
        raise ValueError(f"{name}: must be " + " or ".join(f"{s}://host[:port]" for s in schemes))


class _Section(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """A config table: unknown keys are errors, values are checked strictly.

    msgspec applies kw_only only to the fields a class itself defines, so every subclass repeats it
    (required fields may then follow optional ones, as in the TOML tables).
    """


def _host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or (8883 if parts.scheme == "mqtts" else 1883)


class MqttSettings(_Section, kw_only=True):
    """Uplink to the central broker."""

    url: Annotated[str, Meta(description="mqtt://host:port or mqtts://host:port (TLS)")] = "mqtt://127.0.0.1:18830"
    fallback_urls: Annotated[list[str], Meta(description="further addresses of a clustered broker: when the "
                                                         "connection is lost the agent tries the next")] = []
    protocol: Annotated[Literal["5", "3.1.1"], Meta(description="MQTT version; 3.1.1 for a NATS cluster (no session "
                                                                "expiry or reason codes there)")] = "5"
    username: Annotated[str, Meta(description="broker username; empty = the gateway id (what the ACL expects)")] = ""
    password: Annotated[Secret, Meta(description="broker password (or password_file)")] = Secret("")
    password_file: Annotated[Path | None, Meta(description="file holding the password, or the credentials file "
                                                           "written by `shouwang broker add-gateway`")] = None
    client_id: Annotated[str, Meta(description="MQTT client id; empty = the gateway id (the session lives under it)")] = ""
    ca_file: Annotated[Path | None, Meta(description="CA certificate that signed the broker's certificate")] = None
    cert_file: Annotated[Path | None, Meta(description="client certificate (when the broker requires one)")] = None
    key_file: Annotated[Path | None, Meta(description="client certificate key")] = None
    keepalive_s: Annotated[int, Meta(ge=5, le=3600)] = 30
    session_expiry_s: Annotated[int, Meta(ge=0, description="persistent session lifetime on the broker")] = 7 * 86400
    reconnect_min_s: Annotated[float, Meta(gt=0, le=30)] = 1.0
    reconnect_max_s: Annotated[float, Meta(gt=0, le=30, description="reconnect backoff cap (at most 30 s)")] = 30.0
    window: Annotated[int, Meta(ge=1, le=5000, description="publishes handed to paho and not yet PUBACKed "
                                                           "(far below paho's 65,535 message ids)")] = 500
    max_inflight: Annotated[int, Meta(ge=1, le=1000, description="paho's in-flight QoS 1 limit (20: measured best)")] = 20
    drain_rate: Annotated[float, Meta(gt=0, description="readings/s sent from the backlog; events are not limited")] = 4000.0

    def __post_init__(self) -> None:
        _check_url("url", self.url, ("mqtt", "mqtts"))
        for u in self.fallback_urls:
            _check_url("fallback_urls", u, ("mqtt", "mqtts"))

    @property
    def tls(self) -> bool:
        return urlsplit(self.url).scheme == "mqtts" or self.ca_file is not None

    @property
    def host_port(self) -> tuple[str, int]:
        return _host_port(self.url)

    @property
    def addresses(self) -> list[tuple[str, int]]:
        """url, then the fallbacks: where the uplink connects, in turn."""
        return [_host_port(u) for u in (self.url, *self.fallback_urls)]

    def password_value(self) -> str:
        """The password, read from password_file when one is named."""
        if self.password_file is None:
            return self.password.get_secret_value()
        try:
            text = self.password_file.read_text()
        except OSError as exc:
            raise ConfigError(f"mqtt.password_file: cannot read {self.password_file}: {exc.strerror}") from None
        for line in text.splitlines():  # the credentials file of `shouwang broker add-gateway`
            if line.startswith("password = "):
                return line.split("=", 1)[1].strip().strip('"')
        return text.strip()


class OutboxSettings(_Section, kw_only=True):
    """The durable SQLite queue every message passes through."""

    path: Annotated[Path | None, Meta(description="SQLite file; empty = <state_dir>/outbox.db")] = None
    max_messages: Annotated[int, Meta(ge=10, description="bound on queued messages")] = 1_000_000
    max_bytes: Annotated[int, Meta(ge=16 * 1024, description="bound on queued payload bytes")] = 256 * 1024 * 1024
    max_age_h: Annotated[float, Meta(gt=0, description="readings and status older than this are shed "
                                                       "(events are kept)")] = 30 * 24.0
    synchronous: Annotated[Literal["full", "normal"], Meta(
        description="full: each append is fsynced (survives power loss); normal: survives a crash of "
                    "the agent but may lose the last appends on power loss")] = "full"


class HealthSettings(_Section, kw_only=True):
    """Status messages and the driver watchdog."""

    interval_s: Annotated[float, Meta(gt=0, description="status messages every this many seconds")] = 60.0
    restart_backoff_s: Annotated[float, Meta(gt=0, description="first delay before restarting a dead driver")] = 1.0
    restart_backoff_max_s: Annotated[float, Meta(gt=0)] = 60.0
    stall_exit_s: Annotated[float, Meta(gt=0, description="a driver silent this long makes the agent exit "
                                                          "so that systemd restarts it")] = 900.0


Baudrate = Annotated[int, Meta(ge=50, le=4_000_000)]
Attempts = Annotated[int, Meta(ge=0, le=10, description="further attempts after a timeout or a bad answer")]
Timeout = Annotated[float, Meta(gt=0, le=30, description="wait this long for an answer")]


class _SerialDriver(_Section, kw_only=True):
    id: Annotated[str, Meta(pattern=ID_REGEX, description="driver id (status messages use it as device id)")]
    port: Annotated[str, Meta(min_length=1, description="serial device, e.g. /dev/ttyUSB0 or /dev/serial/by-id/...")]
    baudrate: Baudrate = 9600
    bytesize: Literal[7, 8] = 8
    parity: Parity = "N"
    stopbits: Literal[1, 2] = 1
    reopen_max_s: Annotated[float, Meta(gt=0, description="cap of the backoff between attempts to reopen a lost "
                                                          "port")] = 10.0


class MeterEntry(_Section, kw_only=True):
    """One CJ/T 188 water meter on a bus."""

    device: Id
    address: Annotated[str, Meta(pattern=r"^[0-9]{14}\Z", description="the 14 digits printed on the meter")]
    di_order: Annotated[DiOrder, Meta(description="DI byte order this meter expects")] = DiOrder.AS_WRITTEN
    meter_type: Annotated[int, Meta(ge=0, le=255)] = int(MeterType.COLD_WATER)


class Cjt188Driver(_SerialDriver, kw_only=True, tag_field="driver", tag="cjt188"):
    """CJ/T 188 water meters on one RS-485 line, polled one at a time."""

    meters: Annotated[list[MeterEntry], Meta(min_length=1)]
    baudrate: Baudrate = 2400
    parity: Parity = "E"
    poll_s: Annotated[float, Meta(gt=0, description="each meter is read this often")] = 900.0
    timeout_s: Timeout = 1.0
    retries: Attempts = 2
    gap_s: Annotated[float, Meta(ge=0, le=5, description="silence between requests on the line")] = 0.05


class GaugeEntry(_Section, kw_only=True):
    """One Modbus RTU river gauge."""

    device: Id
    unit_id: Annotated[int, Meta(ge=1, le=247)] = DEFAULT_UNIT_ID
    register_type: Annotated[Literal["input", "holding"], Meta(description="FC 04 or FC 03")] = "input"
    start: Annotated[int, Meta(ge=0, le=65535, description="first register of the measurement block")] = \
        MEASUREMENT_START
    mount_height_m: Annotated[float | None, Meta(description="sensor above the datum (0 < h <= 1000): stage is "
                                                 "computed from the distance; empty = use the gauge's own level")] = None
    min_level_m: Annotated[float, Meta(description="stages below this are out of range (not sent)")] = -100.0
    max_level_m: Annotated[float, Meta(description="stages above this are out of range (not sent)")] = 1000.0

    def __post_init__(self) -> None:
        if self.mount_height_m is not None and not 0 < self.mount_height_m <= 1000:
            raise ValueError("mount_height_m: must be greater than 0 and at most 1000")


class ModbusGaugeDriver(_SerialDriver, kw_only=True, tag_field="driver", tag="modbus_gauge"):
    """Modbus RTU river gauges on one line (pymodbus client)."""

    gauges: Annotated[list[GaugeEntry], Meta(min_length=1)]
    poll_s: Annotated[float, Meta(gt=0)] = 60.0
    timeout_s: Timeout = 1.0
    retries: Attempts = 2


class CallButtonDriver(_SerialDriver, kw_only=True, tag_field="driver", tag="callbutton"):
    """A call-button receiver writing the line protocol."""

    buttons: Annotated[dict[str, Id], Meta(description="radio id -> device id")] = field(default_factory=dict)
    unknown_prefix: Annotated[str, Meta(pattern=r"^(?:[a-z0-9][a-z0-9-]{0,20})?\Z",
                                        description="a button not listed becomes <prefix><radio id, lowercased>; "
                                                    "empty = ignore unlisted buttons (counted)")] = "cb-"
    dedup_s: Annotated[float, Meta(ge=0, description="a line repeating a button's seq within this is a radio "
                                                     "retransmission and is dropped")] = 30.0


class LocalDevice(_Section, kw_only=True):
    """A device publishing to the gateway-local broker."""

    device: Id
    kind: Literal["water_meter", "call_button", "river_gauge", "camera"]


class LocalMqttDriver(_Section, kw_only=True, tag_field="driver", tag="local_mqtt"):
    """Cameras and devices publishing to a gateway-local broker, mapped onto contract v1."""

    id: Id
    devices: Annotated[dict[str, LocalDevice], Meta(description="local name -> contract device and kind")]
    url: Annotated[str, Meta(description="the gateway-local broker")] = "mqtt://127.0.0.1:1883"
    username: str = ""
    password: Secret = Secret("")
    topic_prefix: Annotated[str, Meta(pattern=r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*\Z",
                                      description="devices publish to <prefix>/<local name>/<reading|event|status>")
                            ] = "local"

    def __post_init__(self) -> None:
        _check_url("url", self.url, ("mqtt",))


DriverSettings = Cjt188Driver | ModbusGaugeDriver | CallButtonDriver | LocalMqttDriver
DRIVER_TAGS = tuple(c.__struct_config__.tag for c in get_args(DriverSettings))  # the `driver` values


class AgentConfig(_Section, kw_only=True):
    """Whole edge-agent configuration."""

    gateway: Annotated[str, Meta(pattern=ID_REGEX, description="this gateway's id; also its MQTT username")]
    state_dir: Annotated[Path, Meta(description="outbox and other local state")] = Path("/var/lib/shouwang-agent")
    mqtt: MqttSettings = field(default_factory=MqttSettings)
    outbox: OutboxSettings = field(default_factory=OutboxSettings)
    health: HealthSettings = field(default_factory=HealthSettings)
    drivers: list[DriverSettings] = field(default_factory=list)

    def __post_init__(self) -> None:
        ids = [d.id for d in self.drivers]
        ports = [d.port for d in self.drivers if isinstance(d, _SerialDriver)]
        devices = [e.device for d in self.drivers for e in _entries(d)]
        for what, values in (("driver id", ids), ("serial port", ports), ("device", devices)):
            dup = sorted({v for v in values if values.count(v) > 1})
            if dup:
                raise ValueError(f"{what} {dup[0]!r} appears more than once"
                                 + (" (one driver per port: RS-485 is half duplex)" if what == "serial port" else ""))
        clash = sorted((set(ids) | {self.gateway}) & set(devices))
        if clash:
            raise ValueError(f"id {clash[0]!r} names both a device and the gateway or a driver "
                             "(their health reports use it as device id)")
        for d in self.drivers:
            if isinstance(d, Cjt188Driver):
                addrs = [m.address for m in d.meters]
                if len(set(addrs)) != len(addrs):
                    raise ValueError(f"driver {d.id}: a meter address appears twice")

    @property
    def outbox_path(self) -> Path:
        return self.outbox.path or self.state_dir / "outbox.db"

    @property
    def username(self) -> str:
        return self.mqtt.username or self.gateway

    @property
    def client_id(self) -> str:
        return self.mqtt.client_id or self.gateway


def _entries(d: DriverSettings) -> list[Any]:
    if isinstance(d, Cjt188Driver):
        return list(d.meters)
    if isinstance(d, ModbusGaugeDriver):
        return list(d.gauges)
    if isinstance(d, CallButtonDriver):
        return [LocalDevice(device=v, kind="call_button") for v in d.buttons.values()]
    return list(d.devices.values())


def _dec_hook(typ: type, obj: Any) -> Any:
    """TOML strings into paths and secrets (msgspec knows neither)."""
    if typ in (Path, Secret):
        if not isinstance(obj, str):
            raise TypeError(f"expected string, got {type(obj).__name__}")
        return typ(obj)
    raise NotImplementedError(typ)


T = TypeVar("T")
_FIELD_REASON = re.compile(r"^(?P<field>[a-z_]+): (?P<reason>.+)$", re.S)


def parse_section(cls: type[T], data: Any, where: str = "agent config") -> T:
    """Validate a mapping as `cls` (the whole config or one table); ConfigError names the bad key."""
    try:
        return msgspec.convert(data, cls, strict=True, dec_hook=_dec_hook)
    except msgspec.ValidationError as exc:
        path, reason = explain(exc, unknown="unknown key",
                               choices=lambda p: choices_at(mi.type_info(cls), data, p))
        if hit := _FIELD_REASON.match(reason):  # a check in __post_init__ that names its field
            path, reason = [*path, hit["field"]], hit["reason"]
        if len(path) >= 1 and path[-1] == "driver" and (len(path) == 1 or isinstance(path[-2], int)):
            path, reason = path[:-1], f"driver must be one of {list(DRIVER_TAGS)}"
        key = join_path(path)
        raise ConfigError(f"{where}: {key}: {reason}" if key else f"{where}: {reason}") from None


def parse_agent_config(data: dict, where: str = "agent config") -> AgentConfig:
    """Validate a config mapping; ConfigError names the first bad or unknown key."""
    return parse_section(AgentConfig, data, where)


def load_agent_config(path: Path | str) -> AgentConfig:
    """Read and validate the agent's TOML file."""
    return parse_agent_config(read_toml(path), str(path))
