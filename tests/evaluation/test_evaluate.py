"""`shouwang evaluate` as a user types it: a scenario scored against its ground-truth labels."""

from __future__ import annotations

from pathlib import Path

from tests.alerts.test_cli import run
from tests.conftest import write_config


def test_evaluate_demo_scenario(tmp_path: Path) -> None:
    """The demo day scored against its labels: every scripted emergency caught, nothing missed."""
    cfg_file = write_config(tmp_path / "c.toml", tmp_path / "state")
    out = tmp_path / "report.json"
    r = run(cfg_file, "evaluate", "demo", "--json", str(out))
    assert r.returncode == 0, r.stderr[-2000:]
    import json

    rep = json.loads(out.read_text())
    rules = rep["rules"]
    for name in ("call_button", "water_inactivity", "continuous_flow", "river_level_warning",
                 "river_level_guaranteed", "camera_tamper"):
        assert rules[name]["labels"] >= 1 and rules[name]["missed"] == 0, (name, rules[name])
    assert rules["water_inactivity"]["false_alarms"] == 0
    assert "detected" in r.stdout and "delay med" in r.stdout
