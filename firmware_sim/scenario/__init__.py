"""Scenario files: schema, loading with precise errors, and the expanded community."""

from firmware_sim.scenario.community import BuildingSpec, Community, HouseholdSpec
from firmware_sim.scenario.load import SCENARIO_DIR, list_scenarios, load_scenario, parse_scenario, scenario_path

__all__ = ["SCENARIO_DIR", "BuildingSpec", "Community", "HouseholdSpec", "list_scenarios", "load_scenario",
           "parse_scenario", "scenario_path"]
