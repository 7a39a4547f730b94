"""`shouwang dashboards build | push | check`."""

from __future__ import annotations

import argparse
import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

from dashboards.settings import DashboardsSettings

if TYPE_CHECKING:
    from registry.commands import LoadCommunity

log = logging.getLogger(__name__)
TOKEN_ENV = "GRAFANA_TOKEN"


def _build(cfg: DashboardsSettings, args: argparse.Namespace):  # noqa: ANN202
    from dashboards.build import build_all, load_registry
    from dashboards.context import BuildContext

    reg = load_registry(cfg, args.load_community(args.scenario) if args.scenario else None)
    if not any(n.level.value == "community" for n in reg.nodes.values()):
        from ground.errors import ConfigError

        raise ConfigError("the registry has no community: import one with `shouwang registry import FILE.csv` "
                          "(or build the demo's with --scenario demo)")
    return build_all(reg, BuildContext.from_config(cfg), community=args.community, system=args.community is None)


def cmd_build(cfg: DashboardsSettings, args: argparse.Namespace) -> int:
    """Write the dashboards' JSON and Grafana provisioning files."""
    from dashboards.provisioning import write_all

    dashboards = _build(cfg, args)
    out = args.out or cfg.state_path / "dashboards"
    files = write_all(cfg, dashboards, out, args.grafana_path)
    for folder in dashboards.folders:
        print(f"{folder.title} ({folder.uid}):")
        for d in dashboards.in_folder(folder):
            print(f"  {d.uid:40} {d.title}")
    print(f"wrote {len(files)} files under {out.resolve()}")
    print(f"  dashboards:   {out.resolve() / 'dashboards'}")
    print(f"  provisioning: {out.resolve() / 'provisioning'} (datasources/ and dashboards/, see docs/dashboards.md)")
    return 0


def cmd_push(cfg: DashboardsSettings, args: argparse.Namespace) -> int:
    """Create or update the data source, folders and dashboards on a Grafana server."""
    from dashboards.provisioning import datasource
    from dashboards.push import Pusher

    dashboards = _build(cfg, args)
    token = args.token or os.environ.get(TOKEN_ENV, "")
    ds = None if args.no_datasource else datasource(cfg, "values")
    with Pusher(args.url, token, timeout_s=args.timeout) as pusher:
        report = pusher.push(dashboards, ds)
    print("\n".join(report.lines()))
    return 0


def cmd_check(cfg: DashboardsSettings, args: argparse.Namespace) -> int:
    """Run every panel's queries against the configured InfluxDB; exit 1 if any is broken or empty
    (a panel of a template variable is empty only if it is empty for every option)."""
    from dashboards import probe
    from storage.influx import InfluxClient

    dashboards = _build(cfg, args)
    end = time.time_ns() // 1_000_000
    start = end - int(args.hours * 3_600_000)
    bad = 0
    total = 0
    with InfluxClient(cfg.influx) as influx:
        for d in dashboards.dashboards:
            for r in probe.run_any(influx, d, start, end):
                total += 1
                if not r.ok:
                    bad += 1
                    why = r.error or ("no rows" if not r.rows else "only zeros/empty values")
                    print(f"{'BROKEN' if r.error else 'EMPTY':6} {d.title} / {r.panel} [{r.ref_id}]: {why}")
    print(f"{total - bad} of {total} panel queries returned data over the last {args.hours:g} h")
    return 1 if bad else 0


def add_dashboard_commands(sub: argparse._SubParsersAction, load_community: LoadCommunity) -> None:
    """Define `shouwang dashboards ...`; `load_community` loads the scenario named by --scenario."""
    p = sub.add_parser("dashboards", help="Grafana dashboards: build JSON and provisioning, push, check")
    p.set_defaults(load_community=load_community)
    dsub = p.add_subparsers(dest="dashboards_command", required=True)

    def common(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--community", default=None, help="only this community's folder (registry code)")
        sp.add_argument("--scenario", default=None,
                        help="build from a simulator scenario's community (e.g. demo) instead of the registry store")

    b = dsub.add_parser("build", help="write dashboard JSON and Grafana provisioning YAML")
    b.add_argument("--out", type=Path, default=None, help="output directory (default <state_dir>/dashboards)")
    b.add_argument("--grafana-path", type=Path, default=None,
                   help="where Grafana will read the dashboard JSON (default: the --out directory's dashboards/)")
    common(b)
    b.set_defaults(func=cmd_build)
    u = dsub.add_parser("push", help="create or update folders, data source and dashboards on a Grafana server")
    u.add_argument("--url", required=True, help="Grafana base URL, e.g. https://grafana.example:3000")
    u.add_argument("--token", default=None, help=f"service account token (default: ${TOKEN_ENV})")
    u.add_argument("--no-datasource", action="store_true", help="leave the data source alone (managed elsewhere)")
    u.add_argument("--timeout", type=float, default=15.0, help="seconds per request")
    common(u)
    u.set_defaults(func=cmd_push)
    c = dsub.add_parser("check", help="run every panel's queries against InfluxDB; exit 1 if any is empty or broken")
    c.add_argument("--hours", type=float, default=24.0, help="time range ending now")
    common(c)
    c.set_defaults(func=cmd_check)

