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

from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

from fieldbus.cjt188 import DiOrder, MeterType
from fieldbus.gauge_modbus import DEFAULT_UNIT_ID, MEASUREMENT_START
from shouwang.errors import ConfigError
from shouwang.tomlfile import read_toml
from wire.ids import ID_PATTERN

Id = Annotated[str, Field(pattern=ID_PATTERN, description="contract id: lowercase, opaque, never personal data")]
Parity = Literal["N", "E", "O"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True, frozen=True)


class MqttSettings(_Section):
    """Uplink to the central broker."""

    url: str = Field("mqtt://127.0.0.1:18830", description="mqtt://host:port or mqtts://host:port (TLS)")
    username: str = Field("", description="broker username; empty = the gateway id (what the ACL expects)")
    password: SecretStr = Field(SecretStr(""), description="broker password (or password_file)")
    password_file: Path | None = Field(None, description="file holding the password, or the credentials file "
                                                         "written by `shouwang broker add-gateway`")
    client_id: str = Field("", description="MQTT client id; empty = the gateway id (the session lives under it)")
    ca_file: Path | None = Field(None, description="CA certificate that signed the broker's certificate")
    cert_file: Path | None = Field(None, description="client certificate (when the broker requires one)")
    key_file: Path | None = Field(None, description="client certificate key")
    keepalive_s: int = Field(30, ge=5, le=3600)
    session_expiry_s: int = Field(7 * 86400, ge=0, description="persistent session lifetime on the broker")
    reconnect_min_s: float = Field(1.0, gt=0, le=30)
    reconnect_max_s: float = Field(30.0, gt=0, le=30, description="reconnect backoff cap (at most 30 s)")
    window: int = Field(500, ge=1, le=5000, description="publishes handed to paho and not yet PUBACKed "
                                                        "(far below paho's 65,535 message ids)")
    max_inflight: int = Field(20, ge=1, le=1000, description="paho's in-flight QoS 1 limit (20: measured best)")
    drain_rate: float = Field(4000.0, gt=0, description="readings/s sent from the backlog; events are not limited")

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        parts = urlsplit(v)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise ValueError("must be mqtt://host[:port] or mqtts://host[:port]")
        return v

    @property
    def tls(self) -> bool:
        return urlsplit(self.url).scheme == "mqtts" or self.ca_file is not None

    @property
    def host_port(self) -> tuple[str, int]:
        parts = urlsplit(self.url)
        return parts.hostname or "127.0.0.1", parts.port or (8883 if parts.scheme == "mqtts" else 1883)

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


class OutboxSettings(_Section):
    """The durable SQLite queue every message passes through."""

    path: Path | None = Field(None, description="SQLite file; empty = <state_dir>/outbox.db")
    max_messages: int = Field(1_000_000, ge=10, description="bound on queued messages")
    max_bytes: int = Field(256 * 1024 * 1024, ge=16 * 1024, description="bound on queued payload bytes")
    max_age_h: float = Field(30 * 24.0, gt=0, description="readings and status older than this are shed "
                                                          "(events are kept)")
    synchronous: Literal["full", "normal"] = Field(
        "full", description="full: each append is fsynced (survives power loss); normal: survives a crash of "
                            "the agent but may lose the last appends on power loss")


class HealthSettings(_Section):
    """Status messages and the driver watchdog."""

    interval_s: float = Field(60.0, gt=0, description="status messages every this many seconds")
    restart_backoff_s: float = Field(1.0, gt=0, description="first delay before restarting a dead driver")
    restart_backoff_max_s: float = Field(60.0, gt=0)
    stall_exit_s: float = Field(900.0, gt=0, description="a driver silent this long makes the agent exit "
                                                         "so that systemd restarts it")


class _SerialDriver(_Section):
    id: Id = Field(description="driver id (status messages use it as device id)")
    port: str = Field(description="serial device, e.g. /dev/ttyUSB0 or /dev/serial/by-id/...")
    baudrate: int = Field(9600, ge=50, le=4_000_000)
    bytesize: Literal[7, 8] = 8
    parity: Parity = "N"
    stopbits: Literal[1, 2] = 1
    reopen_max_s: float = Field(10.0, gt=0, description="cap of the backoff between attempts to reopen a lost port")


class MeterEntry(_Section):
    """One CJ/T 188 water meter on a bus."""

    device: Id
    address: str = Field(pattern=r"^[0-9]{14}$", description="the 14 digits printed on the meter")
    di_order: DiOrder = Field(DiOrder.AS_WRITTEN, description="DI byte order this meter expects")
    meter_type: int = Field(MeterType.COLD_WATER, ge=0, le=255)


class Cjt188Driver(_SerialDriver):
    """CJ/T 188 water meters on one RS-485 line, polled one at a time."""

    driver: Literal["cjt188"]
    baudrate: int = Field(2400, ge=50, le=4_000_000)
    parity: Parity = "E"
    poll_s: float = Field(900.0, gt=0, description="each meter is read this often")
    timeout_s: float = Field(1.0, gt=0, le=30, description="wait this long for an answer")
    retries: int = Field(2, ge=0, le=10, description="further attempts after a timeout or a bad answer")
    gap_s: float = Field(0.05, ge=0, le=5, description="silence between requests on the line")
    meters: list[MeterEntry] = Field(min_length=1)


class GaugeEntry(_Section):
    """One Modbus RTU river gauge."""

    device: Id
    unit_id: int = Field(DEFAULT_UNIT_ID, ge=1, le=247)
    register_type: Literal["input", "holding"] = Field("input", description="FC 04 or FC 03")
    start: int = Field(MEASUREMENT_START, ge=0, le=65535, description="first register of the measurement block")
    mount_height_m: float | None = Field(None, gt=0, le=1000, description="sensor above the datum: stage is "
                                         "computed from the distance; empty = use the gauge's own level")
    min_level_m: float = Field(-100.0, description="stages below this are out of range (not sent)")
    max_level_m: float = Field(1000.0, description="stages above this are out of range (not sent)")


class ModbusGaugeDriver(_SerialDriver):
    """Modbus RTU river gauges on one line (pymodbus client)."""

    driver: Literal["modbus_gauge"]
    poll_s: float = Field(60.0, gt=0)
    timeout_s: float = Field(1.0, gt=0, le=30)
    retries: int = Field(2, ge=0, le=10)
    gauges: list[GaugeEntry] = Field(min_length=1)


class CallButtonDriver(_SerialDriver):
    """A call-button receiver writing the line protocol."""

    driver: Literal["callbutton"]
    buttons: dict[str, Id] = Field(default_factory=dict, description="radio id -> device id")
    unknown_prefix: str = Field("cb-", pattern=r"^[a-z0-9][a-z0-9-]{0,20}$|^$",
                                description="a button not listed becomes <prefix><radio id, lowercased>; "
                                            "empty = ignore unlisted buttons (counted)")
    dedup_s: float = Field(30.0, ge=0, description="a line repeating a button's seq within this is a radio "
                                                   "retransmission and is dropped")


class LocalDevice(_Section):
    """A device publishing to the gateway-local broker."""

    device: Id
    kind: Literal["water_meter", "call_button", "river_gauge", "camera"]


class LocalMqttDriver(_Section):
    """Cameras and devices publishing to a gateway-local broker, mapped onto contract v1."""

    driver: Literal["local_mqtt"]
    id: Id
    url: str = Field("mqtt://127.0.0.1:1883", description="the gateway-local broker")
    username: str = ""
    password: SecretStr = SecretStr("")
    topic_prefix: str = Field("local", pattern=r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$",
                              description="devices publish to <prefix>/<local name>/<reading|event|status>")
    devices: dict[str, LocalDevice] = Field(description="local name -> contract device and kind")

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        if urlsplit(v).scheme != "mqtt" or not urlsplit(v).hostname:
            raise ValueError("must be mqtt://host[:port] (a gateway-local broker)")
        return v


DriverSettings = Annotated[Cjt188Driver | ModbusGaugeDriver | CallButtonDriver | LocalMqttDriver,
                           Field(discriminator="driver")]


class AgentConfig(_Section):
    """Whole edge-agent configuration."""

    gateway: Id = Field(description="this gateway's id; also its MQTT username")
    state_dir: Path = Field(Path("/var/lib/shouwang-agent"), description="outbox and other local state")
    mqtt: MqttSettings = MqttSettings()
    outbox: OutboxSettings = OutboxSettings()
    health: HealthSettings = HealthSettings()
    drivers: list[DriverSettings] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> AgentConfig:
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
        return self

    @property
    def outbox_path(self) -> Path:
        return self.outbox.path or self.state_dir / "outbox.db"

    @property
    def username(self) -> str:
        return self.mqtt.username or self.gateway

    @property
    def client_id(self) -> str:
        return self.mqtt.client_id or self.gateway


def _entries(d: BaseModel) -> list:
    if isinstance(d, Cjt188Driver):
        return list(d.meters)
    if isinstance(d, ModbusGaugeDriver):
        return list(d.gauges)
    if isinstance(d, CallButtonDriver):
        return [LocalDevice(device=v, kind="call_button") for v in d.buttons.values()]
    if isinstance(d, LocalMqttDriver):
        return list(d.devices.values())
    return []


def _where(loc: tuple) -> str:
    """drivers[0].meters[1].address from pydantic's location (without the union tag it inserts)."""
    out = ""
    for i, p in enumerate(loc):
        if isinstance(p, int):
            out += f"[{p}]"
        elif i == 2 and loc[0] == "drivers" and p in _DRIVER_TAGS:
            continue
        else:
            out += ("." if out else "") + str(p)
    return out


_DRIVER_TAGS = {"cjt188", "modbus_gauge", "callbutton", "local_mqtt"}


def parse_agent_config(data: dict, where: str = "agent config") -> AgentConfig:
    """Validate a config mapping; ConfigError names every bad or unknown key."""
    try:
        return AgentConfig.model_validate(data)
    except ValidationError as exc:
        msgs = []
        for err in exc.errors(include_url=False):
            key = _where(err["loc"])
            if err["type"] == "extra_forbidden":
                msg = "unknown key"
            elif err["type"] == "union_tag_invalid":
                msg = f"driver must be one of {sorted(_DRIVER_TAGS)}"
            else:
                msg = err["msg"]
            msgs.append(f"{key}: {msg}" if key else msg)
        raise ConfigError(f"{where}: " + "; ".join(msgs)) from None


def load_agent_config(path: Path | str) -> AgentConfig:
    """Read and validate the agent's TOML file."""
    return parse_agent_config(read_toml(path), str(path))
