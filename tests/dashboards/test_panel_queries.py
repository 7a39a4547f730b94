"""Every panel's query, variables filled in as Grafana would, runs on a real influxd filled by the simulator
and returns something to show: no empty or broken panel."""

from __future__ import annotations

import re

import pytest

from dashboards import probe
from dashboards.build import BuiltDashboard
from tests.dashboards.conftest import DemoData

#: the staff dashboard shown for the household whose call button was pressed (it has alerts)
HOUSEHOLD = probe.Option("hh-0002", "wm-0002")
EXPECTED = {"river", "water", "water-staff", "alerts", "devices", "ingest"}


def _variables(d: BuiltDashboard) -> dict[str, probe.Option]:
    values = probe.defaults(d.model)
    if "household" in values:
        values["household"] = HOUSEHOLD
    return values


def test_the_demo_community_gets_every_dashboard(demo_data: DemoData) -> None:
    kinds = {d.kind for d in demo_data.dashboards.dashboards}
    assert kinds == EXPECTED
    assert [f.uid for f in demo_data.dashboards.folders] == ["sw-demo-community", "sw-system"]


def test_every_panel_query_returns_data(demo_data: DemoData) -> None:
    f = demo_data.filled
    results = []
    for d in demo_data.dashboards.dashboards:
        results += probe.run(demo_data.influx, d, f.start_ms, f.end_ms, _variables(d))
    bad = [f"{r.dashboard} / {r.panel} [{r.ref_id}]: {r.error or f'{r.rows} rows, {r.shown} shown'}\n  {r.query}"
           for r in results if not r.ok]
    assert not bad, "\n".join(bad)
    queries = [(d.uid, p["title"], t["refId"]) for d in demo_data.dashboards.dashboards
               for p, t in probe.panel_queries(d.model)]
    assert [(r.dashboard, r.panel, r.ref_id) for r in results] == queries  # every query of every panel was run
    assert len(queries) > 40
    left = [r.query for r in results if re.search(r"\$(\{|[A-Za-z_])", r.query)]
    assert not left  # no variable or macro left uninterpolated


def test_every_variable_option_gives_valid_queries(demo_data: DemoData) -> None:
    """Any grid and any household a worker picks yields queries InfluxDB accepts; each grid has households."""
    f = demo_data.filled
    staff = next(d for d in demo_data.dashboards.dashboards if d.kind == "water-staff")
    combos = list(probe.combinations(staff.model))
    opts = probe.variable_options(staff.model)
    assert len(combos) == len(opts["grid"]) * len(opts["household"]) == 2 * 40
    seen_grids = set()
    for combo in combos[:: len(opts["household"]) // 4 or 1]:  # each grid, a spread of households
        for r in probe.run(demo_data.influx, staff, f.start_ms, f.end_ms, combo):
            assert r.error is None, f"{combo}: {r.panel}: {r.error}"
            if r.panel == "Households in the grid":
                assert r.rows > 0
                seen_grids.add(combo["grid"].text)
    assert len(seen_grids) == 2


def test_river_panels_show_the_typhoon_crossing_the_lines(demo_data: DemoData) -> None:
    """The level panel's data passes the station's warning line drawn on it (the typhoon wave peaks at 4.6 m)."""
    f = demo_data.filled
    river = next(d for d in demo_data.dashboards.dashboards if d.kind == "river")
    level = next(p for p in river.model["panels"] if p["title"].startswith("Water level"))
    steps = level["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert [s["value"] for s in steps] == [None, 3.8, 4.5]
    q = probe.render(level["targets"][0]["query"], {}, f.start_ms, f.end_ms, "5m")
    levels = [v for s in demo_data.influx.query(q) for _, v in s["values"]]
    assert max(levels) > 4.5 > 3.8 > min(levels)


def test_offline_gateway_and_outbox_are_visible(demo_data: DemoData) -> None:
    """demo-gw-2 is down at the end of the window: the offline table names it; gw-1's afternoon outage filled
    its outbox, which the outbox panel shows once the held reports arrived."""
    f = demo_data.filled
    devices = next(d for d in demo_data.dashboards.dashboards if d.kind == "devices")
    by_title = {r.panel: r for r in probe.run(demo_data.influx, devices, f.start_ms, f.end_ms, {})}
    rows = demo_data.influx.query(by_title["Gateways offline"].query)
    assert [s["tags"]["gateway"] for s in rows] == [f.offline_gateway]
    depth = demo_data.influx.query(by_title["Outbox depth (messages waiting on the gateway)"].query)
    peak = {s["tags"]["gateway"]: max(v for _, v in s["values"] if v is not None) for s in depth}
    assert peak["demo-gw-1"] > 10


@pytest.mark.parametrize("title,col", [("Time to acknowledge (mean, minutes)", "minutes"),
                                       ("Time to resolve (mean, minutes)", "minutes")])
def test_response_times_come_from_the_alert_points(demo_data: DemoData, title: str, col: str) -> None:
    """Staff acknowledge 2-14 min after opening and resolve 15-75 min later, at the next minute tick (fill.py):
    the panel's per-severity means lie in those spans."""
    f = demo_data.filled
    alerts = next(d for d in demo_data.dashboards.dashboards if d.kind == "alerts")
    panel = next(p for p in alerts.model["panels"] if p.get("title") == title)
    q = probe.render(panel["targets"][0]["query"], {}, f.start_ms, f.end_ms, "1h")
    series = demo_data.influx.query(q)
    means = {s["tags"]["severity"]: s["values"][0][1] for s in series}
    assert set(means) >= {"critical", "major", "warning", "maintenance"}
    low, high = (2, 14 + 1) if "acknowledge" in title else (2 + 15, 14 + 75 + 2)
    assert all(low - 0.01 <= m <= high + 0.01 for m in means.values()), means


def test_check_command_reports_every_panel(demo_data: DemoData, capsys: pytest.CaptureFixture) -> None:
    """`shouwang dashboards check` runs the same probe against the configured InfluxDB (registry from the store)."""
    from shouwang.cli import main

    assert main(["--config", str(demo_data.config_file), "dashboards", "check", "--hours", "48"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    n = sum(1 for d in demo_data.dashboards.dashboards for _ in probe.panel_queries(d.model))
    assert last == f"{n} of {n} panel queries returned data over the last 48 h"
    # an empty database: every panel is reported, exit 1
    empty = demo_data.config_file.with_name("empty.toml")
    empty.write_text(demo_data.config_file.read_text().replace('"sw_dashboards"', '"sw_nothing"'))
    demo_data.influx.query('CREATE DATABASE "sw_nothing"', db="")
    assert main(["--config", str(empty), "dashboards", "check"]) == 1
    out = capsys.readouterr().out
    assert out.count("EMPTY") == n and f"0 of {n} panel queries" in out
