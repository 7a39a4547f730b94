"""The InfluxDB section of the config (`[influx]`), and what the shared SQL database needs of the config."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from pydantic import Field, SecretStr

from ground.section import Section


class InfluxConfig(Section):
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
    rpc_address: str = Field("", pattern=r"^$|^[A-Za-z0-9_.:\[\]-]+:\d{1,5}$",
                             description="host:port of influxd's RPC (backup/restore) service; empty = port+1 of "
                                         "the launched influxd")

    @property
    def base_url(self) -> str:
        return self.url.rstrip("/") if self.url else f"http://{self.host}:{self.port}"

    @property
    def retention_ms(self) -> int | None:
        if self.retention in ("INF", "0s"):
            return None
        n, unit = int(self.retention[:-1]), self.retention[-1]
        return n * {"h": 3600, "d": 86400, "w": 604800}[unit] * 1000


class _DatabaseSection(Protocol):
    @property
    def database_url(self) -> SecretStr: ...


class SqlSettings(Protocol):
    """What the shared SQL database needs of the assembled config: its URL (key `alerts.database_url`,
    where it has always been) and the state directory that holds the default SQLite file."""

    @property
    def alerts(self) -> _DatabaseSection: ...

    @property
    def state_path(self) -> Path: ...
