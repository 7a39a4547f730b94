"""Fixtures of the dashboard tests: a day of the demo scenario in its own database on the session influxd,
the registry it was run with, the dashboards built from it, and a fake Grafana on loopback."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from dashboards.build import DashboardSet, build_all
from dashboards.context import BuildContext
from shouwang.config import Config, load_config
from storage.influx import InfluxClient
from tests.conftest import Services, write_config
from tests.dashboards.fill import Filled, fill
from tests.dashboards.grafana_fake import FakeGrafana

DATABASE = "sw_dashboards"


@dataclass
class DemoData:
    cfg: Config
    config_file: Path
    filled: Filled
    influx: InfluxClient
    dashboards: DashboardSet


@pytest.fixture(scope="session")
def demo_data(services: Services, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoData]:
    """The demo scenario from yesterday's local midnight until now, written as the system would write it."""
    work = tmp_path_factory.mktemp("dashboards")
    config_file = write_config(work / "shouwang.toml", work,
                               influx={"port": services.cfg.influx.port, "database": DATABASE},
                               alerts={"database_url": f"sqlite:///{work / 'alerts.db'}"})
    cfg = load_config(config_file, env={})
    influx = InfluxClient(cfg.influx)
    try:
        filled = fill(influx, work, time.time_ns() // 1_000_000)
        dashboards = build_all(filled.registry, BuildContext.from_config(cfg))
        yield DemoData(cfg, config_file, filled, influx, dashboards)
    finally:
        influx.close()


@pytest.fixture
def grafana() -> Iterator[FakeGrafana]:
    g = FakeGrafana().start()
    try:
        yield g
    finally:
        g.stop()
