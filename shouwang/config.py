"""Typed configuration: one TOML file plus SHOUWANG_... environment overrides.

Each part declares its own section (broker_config.settings, storage.settings, ingest.settings,
alerts.settings, notify.settings, firmware_sim.settings, dashboards.settings,
console.settings) and a Protocol of what it needs of the whole; this module, at the top, assembles
the sections side by side into one Config (which satisfies every part's Protocol) and loads it.

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

from pydantic import BaseModel, Field, ValidationError

from alerts.settings import AlertsConfig, EscalationStep
from broker_config.settings import SERVICE_CLIENT_ID, BrokerConfig
from console.settings import ApiConfig
from dashboards.settings import DashboardsConfig
from firmware_sim.settings import SimConfig
from ground.heartbeat import WatchdogConfig
from ground.errors import ConfigError
from ground.section import Section
from ground.toml import read_toml
from ingest.settings import IngestConfig
from notify.settings import NotifyConfig
from storage.settings import InfluxConfig

__all__ = ["DEV_SECRETS", "SERVICE_CLIENT_ID", "AlertsConfig", "ApiConfig", "BrokerConfig", "Config",
           "DashboardsConfig", "EscalationStep", "IngestConfig", "InfluxConfig", "NotifyConfig", "SimConfig",
           "load_config"]

ENV_PREFIX = "SHOUWANG_"
ENV_CONFIG_FILE = "SHOUWANG_CONFIG"
#: keys that were removed or moved: an old config gets what to do instead of "unknown key"
RETIRED_KEYS: dict[tuple[str, ...], str] = {
    ("ingest", "max_future_skew_s"): "removed: the clock-skew bound (5 minutes) is part of the wire contract, the same "
                                     "for ingest and the alerts engine (README, Wire contract v1); delete this key",
}
#: development secrets: usable on a laptop, refused in production mode
DEV_SECRETS = frozenset({"dev-service-password", "dev-influx-password", "dev-secret-key-change-me", ""})


class Config(Section):
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
    watchdog: WatchdogConfig = WatchdogConfig()

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


def _retired(data: Mapping[str, Any], where: str) -> None:
    for path, why in RETIRED_KEYS.items():
        node: Any = data
        for key in path:
            node = node.get(key) if isinstance(node, Mapping) else None
        if node is not None:
            raise ConfigError(f"{where}: {'.'.join(path)}: {why}")


def _set_path(data: dict[str, Any], dotted: list[str], value: str, var: str) -> None:
    if tuple(dotted) in RETIRED_KEYS:
        raise ConfigError(f"{var}: {'.'.join(dotted)}: {RETIRED_KEYS[tuple(dotted)]}")
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
        _retired(data, where)
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
