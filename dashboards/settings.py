"""The dashboards section of the config (`[dashboards]`)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Protocol
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from alerts.settings import AlertsConfig
from ground.section import Section
from storage.settings import InfluxConfig


class DashboardsConfig(Section):
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


class DashboardsSettings(Protocol):
    """What the dashboards need of the assembled config."""

    influx: InfluxConfig
    dashboards: DashboardsConfig
    alerts: AlertsConfig

    @property
    def state_path(self) -> Path: ...
