"""Typed configuration: one TOML file plus SHOUWANG_... environment overrides.

Environment overrides name the TOML path with double underscores:
    SHOUWANG_MODE=prod   SHOUWANG_BROKER__PORT=18831   SHOUWANG_INGEST__BATCH_SIZE=2000
Unknown keys, in the file or the environment, are errors naming the key.
`SHOUWANG_CONFIG` names the file itself.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from shouwang.errors import ConfigError
from shouwang.tomlfile import read_toml

ENV_PREFIX = "SHOUWANG_"
ENV_CONFIG_FILE = "SHOUWANG_CONFIG"
#: development secrets: usable on a laptop, refused in production mode
#: client ids of services hold an underscore, which a gateway id (the forced client id of every gateway) never has
SERVICE_CLIENT_ID = r"^svc_[a-z0-9_-]{1,60}$"
DEV_SECRETS = frozenset({"dev-service-password", "dev-influx-password", "dev-secret-key-change-me", ""})


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


class BrokerConfig(_Section):
    """MQTT broker: launched by shouwang (url empty) or external."""

    url: str = Field("", description="external broker, mqtt://host:port or mqtts://host:port; empty = launch mosquitto")
    host: str = Field("127.0.0.1", description="listener address of the launched broker (loopback in development)")
    port: int = Field(18830, ge=1, le=65535, description="plain listener of the launched broker (not 1883, to "
                                                         "stay clear of a system mosquitto)")
    tls: bool = Field(False, description="add a TLS listener (production)")
    tls_host: str = Field("0.0.0.0", description="TLS listener address")
    tls_port: int = Field(8883, ge=1, le=65535)
    ca_file: Path | None = Field(None, description="user-supplied CA certificate; empty = the project's pilot CA")
    cert_file: Path | None = Field(None, description="user-supplied server certificate")
    key_file: Path | None = Field(None, description="user-supplied server key")
    service_url: str = Field("", description="external broker: where the services log in, if not at `url` (e.g. a "
                                             "loopback listener that takes only service accounts)")
    service_host: str = Field("127.0.0.1", description="listener of the launched broker for the services (ingest, "
                                                        "alerts, API, recorder); keep it on loopback: only service "
                                                        "accounts can log in there")
    service_port: int = Field(18831, ge=1, le=65535, description="port of that service listener")
    service_password: SecretStr = Field(SecretStr("dev-service-password"),
                                        description="secret from which each service account's password is derived "
                                                    "(svc_ingest, svc_alerts, svc_api, svc_sim)")
    max_connections: int = Field(10000, ge=-1, description="gateway connections per gateway listener (each gateway "
                                                           "holds one; -1 = unlimited)")
    max_packet_kib: int = Field(64, ge=17, le=1024, description="largest MQTT packet the broker accepts: the contract's "
                                                                 "16 KiB payloads plus room for oversize ones to be "
                                                                 "dead-lettered with a reason; larger packets are "
                                                                 "refused with reason 149 and the client disconnected")
    consumer_outage_s: int = Field(900, ge=1, description="how long a persistent consumer may be down ...")
    peak_msg_rate: int = Field(5000, ge=1, description="... at this message rate without the broker dropping its queue")

    @property
    def max_queued_messages(self) -> int:
        """Per-client queue sized for the stated outage at the stated rate, plus 20 %."""
        return int(self.consumer_outage_s * self.peak_msg_rate * 1.2)

    @field_validator("url", "service_url")
    @classmethod
    def _url(cls, v: str) -> str:
        if v and urlsplit(v).scheme not in ("mqtt", "mqtts"):
            raise ValueError("must start with mqtt:// or mqtts://")
        return v


class InfluxConfig(_Section):
    """InfluxDB through the v1-compatible /write and /query API."""

    url: str = Field("", description="external InfluxDB, http(s)://host:port; empty = launch influxd")
    host: str = "127.0.0.1"
    port: int = Field(18086, ge=1, le=65534, description="HTTP port of the launched influxd (RPC uses port+1)")
    database: str = Field("shouwang", pattern=r"^[A-Za-z0-9_][A-Za-z0-9_-]{0,63}$")
    retention: str = Field("730d", pattern=r"^(INF|0s|\d+[hdw])$", description="retention policy duration")
    username: str = ""
    password: SecretStr = SecretStr("")
    token: SecretStr = Field(SecretStr(""), description="InfluxDB 2.x/3.x token (Authorization: Token ...)")
    timeout_s: float = Field(10.0, gt=0)

    @property
    def base_url(self) -> str:
        return self.url.rstrip("/") if self.url else f"http://{self.host}:{self.port}"

    @property
    def retention_ms(self) -> int | None:
        if self.retention in ("INF", "0s"):
            return None
        n, unit = int(self.retention[:-1]), self.retention[-1]
        return n * {"h": 3600, "d": 86400, "w": 604800}[unit] * 1000


class IngestConfig(_Section):
    """MQTT -> InfluxDB ingest worker."""

    client_id: str = Field("svc_ingest", pattern=SERVICE_CLIENT_ID,
                           description="fixed client id: the persistent session (a plain subscription to sw/v1/#) "
                                       "lives under it; one ingest worker per broker")
    reconnect_max_s: float = Field(2.0, gt=0, le=60, description="cap of the reconnect backoff: short, so after a "
                                                                  "broker restart ingest resubscribes at once")
    batch_size: int = Field(5000, ge=1, le=100_000, description="flush when this many points wait")
    flush_interval_ms: int = Field(200, ge=1, description="flush at least this often when points wait")
    receive_maximum: int = Field(20000, ge=1, le=65535,
                                 description="unacknowledged QoS 1 messages the broker may send us")
    max_future_skew_s: int = Field(300, ge=0, description="reject ts further than this in the future")
    retry_max_s: float = Field(30.0, gt=0, description="cap of the InfluxDB retry backoff")
    session_expiry_s: int = Field(7 * 86400, ge=0)
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(9108, ge=0, le=65535, description="Prometheus text endpoint; 0 = off")


class EscalationStep(_Section):
    """One rung of an escalation ladder: who is told, how long after the alert opened."""

    after_min: float = Field(0, ge=0, description="minutes after opening, if still unacknowledged")
    roles: list[Literal["grid_worker", "family", "community_duty", "street_duty"]] = Field(
        description="contact roles along the subject's place in the hierarchy")


def _ladder(*steps: tuple[float, list[str]]) -> list[EscalationStep]:
    return [EscalationStep(after_min=a, roles=r) for a, r in steps]  # type: ignore[arg-type]


class AlertsConfig(_Section):
    """Rules engine, alert lifecycle and escalation (alerts/, docs/alerts.md)."""

    database_url: SecretStr = Field(SecretStr(""), description="SQLAlchemy URL, e.g. postgresql+psycopg://u:p@h/db; "
                                                               "empty = SQLite file <state>/alerts/alerts.db")
    client_id: str = Field("svc_alerts", pattern=SERVICE_CLIENT_ID,
                           description="fixed MQTT client id: the engine's persistent session lives under it")
    session_expiry_s: int = Field(7 * 86400, ge=0)
    tick_s: float = Field(1.0, gt=0, le=60, description="how often timers (inactivity, silence, escalation) run")
    timezone: str = Field("Asia/Shanghai", description="local time of sleep hours, quiet hours and camera "
                                                      "schedules (IANA name)")
    publish_mqtt: bool = Field(True, description="publish alert events under sw/alerts/v1/...")
    write_influx: bool = Field(True, description="write alert events to the InfluxDB measurement 'alert'")
    replay_start_ms: int | None = Field(None, ge=0, description="set by `shouwang up` while simulated devices replay "
                                                                 "today from this instant: the engine's clock follows "
                                                                 "the replay (alerts.clock.ReplayClock) instead of the "
                                                                 "wall clock until it catches up")
    replay_speed: float = Field(1.0, gt=0, description="speed of that replay")
    grid_tag_max: int = Field(5000, ge=0, description="tag alert points with the grid code only while the "
                                                      "registry has at most this many grids (series cardinality)")
    cancel_window_s: int = Field(120, ge=0, description="a call-button cancel this soon after the press closes "
                                                        "the alert as a false alarm")
    silent_factor: float = Field(3.0, gt=1, description="a device is silent after this many reporting intervals")
    default_interval_s: int = Field(900, ge=1, description="reporting/heartbeat interval of devices the registry "
                                                           "gives none")
    battery_low_v: float = Field(2.5, gt=0, description="battery below this raises a maintenance alert")
    battery_ok_v: float = Field(2.7, gt=0, description="... and it clears at or above this (hysteresis)")
    gateway_offline_min: float = Field(5.0, ge=0, description="gateway offline (last will) this long -> alert")
    flow_continuous_h: float = Field(2.0, gt=0, description="uninterrupted water flow this long -> alert")
    inactivity_hard_cap_h: float = Field(16.0, gt=0, description="no water use this long alarms regardless "
                                                                 "of sleep hours or learned routine")
    routine_min_days: int = Field(7, ge=1, description="days of history before a learned routine is trusted")
    routine_factor: float = Field(1.25, ge=1, description="learned threshold = factor x the longest recent gap "
                                                          "at that time of day + margin")
    routine_margin_min: float = Field(60.0, ge=0)
    routine_floor_h: float = Field(4.0, gt=0, description="a learned threshold is never below this")
    river_hysteresis_m: float = Field(0.10, ge=0, description="a stage clears only below its line minus this")
    river_clear_hold_min: float = Field(30.0, ge=0, description="... for this long")
    river_spike_m: float = Field(0.30, gt=0, description="a jump larger than this needs a second sample to agree")
    river_rate_window_min: float = Field(60.0, gt=0, description="window of the robust rate-of-rise fit")
    river_forecast_lead_min: float = Field(120.0, ge=0, description="warn when a line is forecast this soon")
    river_stuck_min: float = Field(25.0, gt=0, description="an unchanged level this long ...")
    river_stuck_samples: int = Field(5, ge=2, description="... over at least this many readings -> stuck sensor")
    camera_cooldown_s: int = Field(600, ge=0, description="repeat triggers of one (camera, zone, type) within "
                                                          "this are duplicates")
    camera_confirm_s: int = Field(120, ge=0, description="a second zone or camera within this confirms")
    camera_min_score: float = Field(0.7, ge=0, le=1, description="analytics triggers scored below this are "
                                                                 "ignored (shadows, animals, rain)")
    escalation: dict[Literal["critical", "major", "warning", "maintenance"], list[EscalationStep]] = Field(
        default_factory=lambda: {
            "critical": _ladder((0, ["grid_worker", "family"]), (5, ["community_duty"]), (15, ["street_duty"])),
            "major": _ladder((0, ["grid_worker", "family"]), (15, ["community_duty"]), (60, ["street_duty"])),
            "warning": _ladder((0, ["grid_worker"]), (60, ["community_duty"])),
            "maintenance": _ladder((0, ["grid_worker"]), (24 * 60, ["community_duty"])),
        },
        description="per severity: steps of (after_min, roles); stops once acknowledged")


class SimConfig(_Section):
    """Simulated devices that `shouwang up` runs (firmware_sim, docs/simulator.md)."""

    enabled: bool = Field(True, description="run a scenario's simulated devices under `shouwang up`")
    scenario: str = Field("demo", description="shipped scenario name (`shouwang sim list`) or path to a .toml")
    speed: float = Field(60.0, gt=0, le=1_000_000, description="simulated seconds per wall second while the "
                                                               "scenario's days catch up with now; then real time")


class DashboardsConfig(_Section):
    """Grafana dashboards (`shouwang dashboards build|push`, docs/dashboards.md)."""

    datasource_uid: str = Field("shouwang-influxdb", pattern=r"^[A-Za-z0-9_-]{1,40}$",
                                description="uid of the InfluxDB data source the panels use")
    datasource_name: str = Field("Shouwang InfluxDB", min_length=1, max_length=190)
    influx_url: str = Field("", description="InfluxDB as Grafana reaches it; empty = influx.url / host:port")
    refresh: str = Field("1m", pattern=r"^\d+[smhd]$", description="dashboard auto-refresh")
    time_from: str = Field("now-24h", pattern=r"^now(-\d+[smhdwMy])?(/[smhdwMy])?$", description="default range start")
    resolve_target_min: dict[Literal["critical", "major", "warning", "maintenance"], float] = Field(
        default_factory=lambda: {"critical": 60.0, "major": 240.0, "warning": 1440.0, "maintenance": 4320.0},
        description="time-to-resolve targets drawn on the alerts dashboard (acknowledge targets are the "
                    "first escalation step of each severity)")

    @field_validator("influx_url")
    @classmethod
    def _influx_url(cls, v: str) -> str:
        if v and urlsplit(v).scheme not in ("http", "https"):
            raise ValueError("must start with http:// or https://")
        return v


class ApiConfig(_Section):
    """Web API and staff console (`shouwang api`, docs/console.md)."""

    host: str = Field("127.0.0.1", description="listen address (loopback in development)")
    port: int = Field(18088, ge=1, le=65535, description="HTTP port of the API and console")
    public_url: str = Field("", description="base URL people reach the console at (used in acknowledgement links); "
                                            "empty = http://host:port")
    secret_key: SecretStr = Field(SecretStr("dev-secret-key-change-me"),
                                  description="signs acknowledgement links (HMAC); refused at default in prod mode")
    session_ttl_h: float = Field(12.0, gt=0, le=24 * 30, description="a login lasts this long")
    login_max_failures: int = Field(5, ge=1, description="failed logins per user and address ...")
    login_window_s: int = Field(300, ge=1, description="... within this window before further tries get 429")
    demo_accounts: bool = Field(True, description="`shouwang up` in dev mode creates demo users for the demo "
                                                  "registry (never in prod mode)")
    demo_password: SecretStr = Field(SecretStr("shouwang-demo"), description="password of the demo users")
    follow_mqtt: bool = Field(True, description="follow sw/alerts/v1/event so the live stream carries the engine's "
                                                "changes; off = only changes made through this API")
    client_id: str = Field("svc_api", pattern=SERVICE_CLIENT_ID)

    max_body_bytes: int = Field(64 * 1024, ge=1024, le=16 * 1024 * 1024,
                                description="largest request body of the JSON API and the console's forms; a larger "
                                            "one gets 413 before it is read (login and ack links: at most 16 KiB)")
    max_import_bytes: int = Field(8 * 1024 * 1024, ge=1024, le=256 * 1024 * 1024,
                                  description="largest body of POST /api/registry/import (a registry CSV in JSON)")
    trusted_proxies: list[str] = Field(default_factory=list,
                                       description="addresses or networks (CIDR) of reverse proxies whose "
                                                   "X-Forwarded-For/-Proto are believed, e.g. [\"127.0.0.1\"] behind "
                                                   "a local nginx; empty = none: the peer address is the client")

    @field_validator("trusted_proxies")
    @classmethod
    def _trusted_proxies(cls, v: list[str]) -> list[str]:
        import ipaddress

        out = []
        for entry in v:
            try:
                out.append(str(ipaddress.ip_network(entry.strip())))
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address or network such as 10.0.0.0/8 (a wildcard would "
                                 "let every client choose its own address)") from None
        return out

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, v: str) -> str:
        if v and urlsplit(v).scheme not in ("http", "https"):
            raise ValueError("must start with http:// or https://")
        return v.rstrip("/")

    @property
    def base_url(self) -> str:
        return self.public_url or f"http://{self.host}:{self.port}"


class NotifyConfig(_Section):
    """Push delivery of notifications through Apprise (alerts/notify/, docs/console.md)."""

    enabled: bool | None = Field(None, description="deliver through each contact's Apprise URLs; false = only "
                                                   "record what would be sent; unset = deliver in prod mode, record "
                                                   "only in dev mode (a laptop never pushes to real bots)")
    max_attempts: int = Field(5, ge=1, le=50, description="tries per channel before a delivery counts as failed")
    retry_base_s: float = Field(2.0, gt=0, description="first retry after this; doubles each time ...")
    retry_max_s: float = Field(300.0, gt=0, description="... up to this")
    timeout_s: float = Field(10.0, gt=0, le=120, description="network timeout of one channel attempt")
    workers: int = Field(4, ge=1, le=64, description="channel sends in parallel (a slow bot never delays others)")
    ack_link_ttl_h: float = Field(24.0, gt=0, le=24 * 14, description="acknowledgement links expire after this")
    digest_max_items: int = Field(30, ge=1, description="at most this many alerts listed in one digest")
    relay: dict[Literal["wecombot", "dingtalk", "feishu"], str] = Field(
        default_factory=dict, description="bot API URL template per scheme for an outbound relay, e.g. "
                                          "http://relay.local/cgi-bin/webhook/send?key={key} for wecombot "
                                          "({token} for dingtalk/feishu)")

    @field_validator("relay")
    @classmethod
    def _relay(cls, v: dict[str, str]) -> dict[str, str]:
        for scheme, url in v.items():
            if urlsplit(url).scheme not in ("http", "https"):
                raise ValueError(f"{scheme}: must start with http:// or https://")
            if ("{key}" if scheme == "wecombot" else "{token}") not in url:
                raise ValueError(f"{scheme}: must contain {'{key}' if scheme == 'wecombot' else '{token}'}")
        return v


class Config(_Section):
    """Whole Shouwang configuration."""

    mode: Literal["dev", "prod"] = "dev"
    state_dir: Path = Field(Path("~/.local/state/shouwang"), description="generated configs and data")
    broker: BrokerConfig = BrokerConfig()
    influx: InfluxConfig = InfluxConfig()
    ingest: IngestConfig = IngestConfig()
    alerts: AlertsConfig = AlertsConfig()
    sim: SimConfig = SimConfig()
    dashboards: DashboardsConfig = DashboardsConfig()
    api: ApiConfig = ApiConfig()
    notify: NotifyConfig = NotifyConfig()

    @property
    def state_path(self) -> Path:
        return self.state_dir.expanduser().resolve()

    def check_secrets(self) -> None:
        """Refuse development secrets outside development mode."""
        if self.mode == "dev":
            return
        if self.broker.service_password.get_secret_value() in DEV_SECRETS:
            raise ConfigError("broker.service_password: development default refused in prod mode; "
                              "set it in the config or SHOUWANG_BROKER__SERVICE_PASSWORD")
        pw = self.influx.password.get_secret_value()
        if self.influx.username and pw in DEV_SECRETS:
            raise ConfigError("influx.password: empty or development default refused in prod mode")
        key = self.api.secret_key.get_secret_value()
        if key in DEV_SECRETS or len(key) < 32:
            raise ConfigError("api.secret_key: development default or shorter than 32 characters refused in prod "
                              "mode; set SHOUWANG_API__SECRET_KEY (e.g. from `openssl rand -hex 32`)")


def _set_path(data: dict[str, Any], dotted: list[str], value: str, var: str) -> None:
    node = data
    model: type[BaseModel] = Config
    for i, key in enumerate(dotted):
        fields = model.model_fields
        if key not in fields:
            raise ConfigError(f"{var}: unknown key {'.'.join(dotted[: i + 1])!r}")
        ann = fields[key].annotation
        if i == len(dotted) - 1:
            node[key] = value
        elif isinstance(ann, type) and issubclass(ann, BaseModel):
            node = node.setdefault(key, {})
            if not isinstance(node, dict):
                raise ConfigError(f"{var}: {key!r} is not a table")
            model = ann
        else:
            raise ConfigError(f"{var}: {key!r} is not a table")


def load_config(path: Path | str | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Load the TOML file (if any), apply environment overrides, validate."""
    env = os.environ if env is None else env
    if path is None and env.get(ENV_CONFIG_FILE):
        path = env[ENV_CONFIG_FILE]
    data: dict[str, Any] = {}
    where = "defaults"
    if path is not None:
        where = str(path)
        data = read_toml(path)
    for var, value in sorted(env.items()):
        if not var.startswith(ENV_PREFIX) or var == ENV_CONFIG_FILE:
            continue
        dotted = var[len(ENV_PREFIX):].lower().split("__")
        _set_path(data, dotted, value, var)
    try:
        cfg = Config.model_validate(data)
    except ValidationError as exc:
        msgs = []
        for err in exc.errors(include_url=False):
            key = ".".join(str(p) for p in err["loc"])
            msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
            msgs.append(f"{key}: {msg}")
        raise ConfigError(f"{where}: " + "; ".join(msgs)) from None
    cfg.check_secrets()
    return cfg
