"""How long the dashboards' queries take on a real influxd at the scale of a 500-device community.

Run it from the repository root:

    .venv/bin/python benchmarks/dashboard_queries.py            # community-500, 7 days of traffic
    .venv/bin/python benchmarks/dashboard_queries.py --short    # community-500, 1 day (< 60 s)

A private influxd (Debian's 1.6) is filled with the community-500 scenario's traffic written as
ingest writes it (ingest.lineproto), the dashboards are built from the scenario's registry, and
every panel query runs as Grafana would send it for the whole window (3 rounds, median).
Figures, side by side with their baselines:
  - dashboard load: all of a dashboard's queries one after the other, against the refresh
    interval the boards use (1 min): the share of each refresh spent querying;
  - grid selection: the staff dashboard selects a grid by a regex of its meter ids (the registry
    knows the grid, InfluxDB does not). Baseline: the same queries on a copy of the data that
    carries a `grid` tag (what ingest would have to write) selected by tag equality.
The alerts board's queries run on an empty `alert` measurement here (no rules engine in this
benchmark) and are left out of the figures.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from registry.types import Level  # noqa: E402
from dashboards import probe  # noqa: E402
from dashboards.build import build_all, load_registry  # noqa: E402
from dashboards.context import BuildContext  # noqa: E402
from firmware_sim.generate import Simulation, birth_message  # noqa: E402
from firmware_sim.scenario import load_scenario  # noqa: E402
from ingest.lineproto import message_line, state_line  # noqa: E402
from shouwang.config import load_config  # noqa: E402
from storage.influx import InfluxClient  # noqa: E402
from shouwang.procs import free_port  # noqa: E402
from shouwang.services import influxd_process  # noqa: E402
from wire.models import decode  # noqa: E402

SCENARIO = "community-500"
DAY_MS = 86_400_000
REFRESH_S = 60.0
ROUNDS = 3


def fill(influx: InfluxClient, days: int, grid_of: dict[str, str]) -> tuple[int, int, int]:
    """Write `days` of the scenario; water meters also into water_meter_by_grid with a grid tag."""
    c = load_scenario(SCENARIO)
    start = c.start_ms() - (days - 1) * DAY_MS
    end = start + days * DAY_MS
    sim = Simulation(c, start, end)
    lines: list[str] = []
    n = 0
    for gw in sim.gateways:
        birth = birth_message(gw, start)
        lines.append(state_line(decode(birth.topic, birth.payload), start))
    for msg in sim.messages():
        line = message_line(msg)
        lines.append(line)
        if msg.kind.value == "water_meter" and msg.channel.value == "reading":
            head, rest = line.split(" ", 1)
            lines.append(f"water_meter_by_grid,{head.split(',', 1)[1]},grid={grid_of[msg.device]} {rest}")
        n += 1
        if len(lines) >= 20_000:
            influx.write("\n".join(lines).encode(), precision="ns")
            lines.clear()
    if lines:
        influx.write("\n".join(lines).encode(), precision="ns")
    return start, end, n


def timed(influx: InfluxClient, q: str) -> float:
    t = time.perf_counter()
    influx.query(q)
    return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--short", action="store_true", help="1 day of traffic instead of 7 (< 60 s)")
    args = ap.parse_args()
    days = 1 if args.short else 7
    with tempfile.TemporaryDirectory(prefix="sw-bench-dash-") as tmp:
        port = free_port()
        while free_port() == port + 1:  # influxd also binds port+1
            port = free_port()
        cfg_file = Path(tmp) / "c.toml"
        cfg_file.write_text(f'state_dir = "{tmp}"\n[influx]\nport = {port}\n')
        cfg = load_config(cfg_file, env={})
        influxd = influxd_process(cfg)
        influxd.start()
        try:
            with InfluxClient(cfg.influx) as influx:
                influx.ensure_database()
                reg = load_registry(cfg, SCENARIO)
                dashboards = build_all(reg, BuildContext.from_config(cfg))
                grid_of = {}
                for d in reg.devices.values():
                    g = reg.ancestor(d.place, Level.GRID)
                    if g:
                        grid_of[d.id] = g
                t0 = time.perf_counter()
                start, end, n = fill(influx, days, grid_of)
                fill_s = time.perf_counter() - t0
                print(f"{SCENARIO}: {days} day(s), {n} messages, {len(reg.devices)} devices written in {fill_s:.1f} s "
                      f"({n / fill_s:,.0f} points/s)\n")
                report(influx, dashboards, start, end)
        finally:
            influxd.stop()
    return 0


def report(influx: InfluxClient, dashboards, start: int, end: int) -> None:  # noqa: ANN001
    print(f"{'dashboard':34} {'queries':>7} {'load (s)':>9} {'slowest (s)':>11} {'share of 1 min refresh':>23}")
    staff_regex: list[float] = []
    staff_tag: list[float] = []
    for d in dashboards.dashboards:
        if d.kind == "alerts":
            continue
        values = probe.defaults(d.model)
        per_query = []
        for panel, target in probe.panel_queries(d.model):
            q = probe.render(target["query"], values, start, end, probe.interval(start, end, panel.get("interval")))
            samples = [timed(influx, q) for _ in range(ROUNDS)]
            per_query.append(statistics.median(samples))
            if d.kind == "water-staff" and "${grid:raw}" in target["query"]:
                staff_regex.append(per_query[-1])
                grid = values["grid"].text.split(" (")[-1].rstrip(")")
                tagged = probe.render(target["query"].replace('"water_meter"', '"water_meter_by_grid"')
                                      .replace('"device" =~ /^(${grid:raw})$/', f"\"grid\" = '{grid}'"),
                                      values, start, end, probe.interval(start, end, panel.get("interval")))
                staff_tag.append(statistics.median(timed(influx, tagged) for _ in range(ROUNDS)))
        load = sum(per_query)
        print(f"{d.kind:34} {len(per_query):>7} {load:>9.3f} {max(per_query):>11.3f} {load / REFRESH_S:>22.2%}")
    ours, base = sum(staff_regex), sum(staff_tag)
    print(f"\ngrid selection (staff dashboard, {len(staff_regex)} queries): regex of the grid's meter ids "
          f"{ours:.3f} s vs `grid` tag (baseline) {base:.3f} s, ratio {ours / base:.2f}")


if __name__ == "__main__":
    raise SystemExit(main())
