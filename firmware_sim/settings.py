"""The simulator section of the config (`[sim]`): what `shouwang up` runs."""

from __future__ import annotations

from typing import Protocol

from pydantic import Field

from broker_config.settings import BrokerSettings
from ground.section import Section


class SimConfig(Section):
    """Simulated devices that `shouwang up` runs (firmware_sim, docs/simulator.md)."""

    enabled: bool = Field(True, description="run a scenario's simulated devices under `shouwang up`")
    scenario: str = Field("demo", description="shipped scenario name (`shouwang sim list`) or path to a .toml")


class SimSettings(BrokerSettings, Protocol):
    """What the simulator's commands need of the assembled config."""

    sim: SimConfig
