"""Scenario files: every shipped one loads; a bad one gets file, line and field; the demo is what the issue asks."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from firmware_sim.errors import ScenarioError
from firmware_sim.scenario import SCENARIO_DIR, list_scenarios, load_scenario, parse_scenario
from firmware_sim.scenario.locate import key_lines, line_of
from tests.firmware_sim.conftest import run_cli

DEMO_TEXT = (SCENARIO_DIR / "demo.toml").read_text()


@pytest.mark.parametrize("name", ["demo", "typhoon", "elderly-month", "stress", "community-500"])
def test_shipped_scenarios_load(name: str) -> None:
    c = load_scenario(name)
    assert c.meta.name == name
    assert c.incidents, "every shipped scenario scripts something"
    ids = [h.id for h in c.households] + list(c._index)
    assert all(re.fullmatch(r"[a-z0-9][a-z0-9-]*", i) for i in ids)


def test_shipped_list_is_complete() -> None:
    assert {p.stem for p in list_scenarios()} >= {"demo", "typhoon", "elderly-month", "stress", "community-500"}


def test_demo_is_the_community_the_issue_describes() -> None:
    c = load_scenario("demo")
    assert len(c.grids) == 2 and len(c.buildings) == 3
    assert len(c.households) == 40
    assert sum(h.solitary_elderly for h in c.households) == 6
    assert c.device_count() == {"water_meter": 40, "call_button": 4, "river_gauge": 1, "camera": 3}
    assert c.meta.days == 1
    types = [i.type for i in c.incidents]
    assert types.count("fall") == 1 and "button_press" in types and "typhoon" in types
    assert {"intrusion", "tamper"} <= set(types)
    assert c.gateways == ("demo-gw-1", "demo-gw-2")  # the gateways `shouwang up` provisions


def test_elderly_month_and_stress_sizes() -> None:
    month = load_scenario("elderly-month")
    assert month.meta.days == 30
    assert sum(h.solitary_elderly for h in month.households) == 200
    assert sum(i.type == "fall" for i in month.incidents) >= 3
    assert sum(load_scenario("stress").device_count().values()) > 5000
    assert sum(load_scenario("community-500").device_count().values()) == 500


def _line_with(text: str, needle: str, occurrence: int = 0) -> int:
    lines = [i for i, line in enumerate(text.splitlines(), 1) if needle in line]
    return lines[occurrence]


BAD = [
    # (old, new, the line to expect (text in the mutated file), field, words in the reason)
    ("peak_m = 4.6", "peek_m = 4.6", "peek_m", "incidents[1].peek_m", "unknown key"),
    ('rise = "8h"', "rise = 8", "rise = 8", "incidents[1].rise", "duration"),
    ('rise = "8h"', 'rise = "8 hours"', "rise =", "incidents[1].rise", "not a duration"),
    ('meter = { id = "wm-0003", interval = "1m" }', 'meter = { id = "wm-0003", intervall = "1m" }', "intervall",
     "households[2].meter.intervall", "unknown key"),
    ('building = "bld-02"\nprofile = "elderly"\nsolitary_elderly = true\nbedtime = "21:15"',
     'building = "bld-09"\nprofile = "elderly"\nsolitary_elderly = true\nbedtime = "21:15"', "bld-09",
     "households[2].building", "unknown building 'bld-09'"),
    ('bedtime = ["22:00", "23:45"]', 'bedtime = ["22:00", "25:45"]', "25:45", "household_groups[0].bedtime",
     "not a valid time of day"),
    ('type = "tamper"', 'type = "tamperx"', None, "incidents[6]", "unknown incident type 'tamperx'"),
    ('zone = "riverside"', 'zone = "nowhere"', 'zone = "nowhere"', "incidents[0].zone", "no zone 'nowhere'"),
    ('days = 1', 'days = 1\nfoo = 3', "foo = 3", "scenario.foo", "unknown key"),
    ('[[grids]]\nid = "grid-02"', '[[grids]]\nid = "grid-01"', 'id = "grid-01"', "grids[1].id", "used twice"),
    ('at = "09:40"', 'at = "09:40"\nday = 3', "day = 3", "incidents[2].day", "outside the scenario"),
    ('name = "demo"', 'name = "Demo Community"', 'name = "Demo Community"', "scenario.name", "not a valid id"),
    ('button = { id = "cb-0002" }', 'button = { id = "wm-0001" }', 'button = { id = "wm-0001" }', "households[1].button.id",
     "used twice"),
    ('warning_level_m = 3.8', 'warning_level_m = 4.8', "guaranteed_level_m", "river_gauges[0].guaranteed_level_m",
     "below warning_level_m"),
    ('household = "hh-0003"', 'household = "hh-0999"', 'household = "hh-0999"', "incidents[2].household",
     "unknown household"),
]


@pytest.mark.parametrize("old,new,line_text,field,reason", BAD, ids=[b[3] + "-" + b[4][:12] for b in BAD])
def test_bad_scenario_names_file_line_and_field(old: str, new: str, line_text: str | None, field: str,
                                                reason: str) -> None:
    assert old in DEMO_TEXT
    text = DEMO_TEXT.replace(old, new, 1)
    with pytest.raises(ScenarioError) as err:
        parse_scenario(text, "my-demo.toml")
    e = err.value
    assert e.file == "my-demo.toml"
    assert e.field == field
    assert reason in e.reason
    if line_text is None:  # the error is about a whole table: its header line
        assert e.line is not None and text.splitlines()[e.line - 1].startswith("[[")
    else:
        assert e.line == _line_with(text, line_text, 1 if field == "grids[1].id" else 0)
    assert str(e).startswith(f"my-demo.toml:{e.line}: {field}: ")


def test_missing_key_points_at_its_table() -> None:
    text = DEMO_TEXT.replace('peak_m = 4.6\n', "", 1)
    with pytest.raises(ScenarioError) as err:
        parse_scenario(text, "x.toml")
    assert err.value.field == "incidents[1].peak_m" and "required" in err.value.reason
    assert text.splitlines()[err.value.line - 1] == "[[incidents]]"
    assert 'type = "typhoon"' in text.splitlines()[err.value.line]


def test_toml_syntax_error_has_its_line() -> None:
    text = DEMO_TEXT.replace("[community]", "[community\n", 1)
    with pytest.raises(ScenarioError) as err:
        parse_scenario(text, "x.toml")
    assert err.value.line == _line_with(text, "[community")
    assert "not valid TOML" in str(err.value)


def test_unknown_scenario_name_lists_the_shipped_ones() -> None:
    with pytest.raises(ScenarioError, match="shipped: .*demo"):
        load_scenario("no-such-scenario")


def test_cli_check_reports_the_error_and_exits_2(tmp_path: Path, services) -> None:  # noqa: ANN001
    bad = tmp_path / "bad.toml"
    bad.write_text(DEMO_TEXT.replace('flow_lpm = 5.0', 'flow_lpm = "lots"', 1))
    out = run_cli(services.config_file, "sim", "check", str(bad))
    assert out.returncode == 2
    line = _line_with(bad.read_text(), 'flow_lpm = "lots"')
    assert f"{bad}:{line}: incidents[5].flow_lpm:" in out.stderr
    good = run_cli(services.config_file, "sim", "check", "demo")
    assert good.returncode == 0 and "ok" in good.stdout and "6 solitary elderly" in good.stdout


def test_key_lines_handles_nested_tables_inline_tables_and_multiline_values() -> None:
    text = '''
a = 1
text = """
x = 2
[not-a-table]
"""
arr = [
  1,
  2,
]
[[items]]
id = "one"
[items.sub]
k = 1
[[items]]
id = "two"
meter = { id = "m", x = 1 }
'''
    lines = key_lines(text)
    assert lines[("a",)] == 2 and lines[("text",)] == 3 and lines[("arr",)] == 7
    assert ("x",) not in lines and ("not-a-table",) not in lines
    assert lines[("items", 0, "id")] == 12 and lines[("items", 0, "sub", "k")] == 14
    assert lines[("items", 1, "id")] == 16
    assert line_of(lines, ("items", 1, "meter", "x")) == 17
    assert line_of(lines, ("items", 1, "missing")) == 15
