"""The `shouwang` command."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ground.errors import ShouwangError
from ground.logs import setup_logging
from wire import ContractError

if TYPE_CHECKING:  # the server config (pydantic) is imported only by the commands that use it, not by `agent`
    from shouwang.config import Config

log = logging.getLogger("shouwang")


def _cmd_up(cfg: Config, args: argparse.Namespace) -> int:
    from shouwang.stack import run_up

    return run_up(cfg, args.config)


def _cmd_ingest(cfg: Config, args: argparse.Namespace) -> int:
    from ingest.service import IngestService

    svc = IngestService(cfg)
    signal.signal(signal.SIGTERM, lambda *_: svc.stop())
    signal.signal(signal.SIGINT, lambda *_: svc.stop())
    svc.run()
    return 0


def _cmd_broker_config(cfg: Config, args: argparse.Namespace) -> int:
    from broker_config import write_broker_files

    files = write_broker_files(cfg)
    print(f"wrote {files.conf}\n      {files.acl}, {files.passwd} (gateways)\n"
          f"      {files.service_acl}, {files.service_passwd} (service accounts)")
    print(f"run it with: mosquitto -c {files.conf}")
    return 0


def _cmd_broker_add_gateway(cfg: Config, args: argparse.Namespace) -> int:
    from broker_config import add_gateway, reload_running_broker, write_broker_files

    files = write_broker_files(cfg)
    path, _ = add_gateway(files.dir, args.id, rotate=args.rotate)
    print(f"gateway {args.id}: credentials in {path} (mode 0600)")
    if reload_running_broker(files.dir):
        print("the running broker reloaded its password file")
    return 0


def _cmd_agent(cfg: Config | None, args: argparse.Namespace) -> int:
    from edge_agent.service import run_agent  # the gateway daemon has its own config file (docs/edge_agent.md)

    return run_agent(args.agent_config)


def _load_community(name: str):  # noqa: ANN202  (firmware_sim.scenario.Community)
    """A simulator scenario by name or file, for the commands that take one (registry, dashboards): the
    server parts never import the simulator, the command line hands them what it loaded."""
    from firmware_sim.scenario import load_scenario

    return load_scenario(name)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="shouwang", description="Shouwang (守望) community IoT monitoring")
    p.add_argument("--config", type=Path, default=None, help="TOML config file (or SHOUWANG_CONFIG)")
    p.add_argument("--log-level", default="INFO")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="run the whole local stack").set_defaults(func=_cmd_up)
    sub.add_parser("ingest", help="run one ingest worker (MQTT -> InfluxDB)").set_defaults(func=_cmd_ingest)
    broker = sub.add_parser("broker", help="Mosquitto configuration and credentials")
    bsub = broker.add_subparsers(dest="broker_command", required=True)
    bsub.add_parser("config", help="write mosquitto.conf, ACL and password file").set_defaults(
        func=_cmd_broker_config)
    add = bsub.add_parser("add-gateway", help="create a gateway's MQTT credentials")
    add.add_argument("id", help="gateway id, e.g. gw-0001 (never a name or address)")
    add.add_argument("--rotate", action="store_true", help="replace an existing password")
    add.set_defaults(func=_cmd_broker_add_gateway)
    agent = sub.add_parser("agent", help="run the edge agent on a gateway")
    agent.add_argument("--config", dest="agent_config", type=Path, required=True, metavar="FILE",
                       help="the agent's TOML file, e.g. /etc/shouwang/agent.toml")
    agent.set_defaults(func=_cmd_agent, own_config=True)
    from firmware_sim.cli import add_sim_commands  # `shouwang sim ...` (docs/simulator.md)

    add_sim_commands(sub)
    from alerts.commands import add_alert_commands  # `shouwang alerts ...` (docs/alerts.md)
    from notify import texts  # what people read about alerts, in their language
    from shouwang.services import alerts_notifier  # the engine delivers through notify/, which sits above alerts/

    add_alert_commands(sub, alerts_notifier, texts)
    from evaluation.commands import add_evaluate_commands  # `shouwang evaluate SCENARIO` (docs/alerts.md)

    add_evaluate_commands(sub)
    from registry.commands import add_registry_commands  # `shouwang registry ...` (docs/alerts.md)

    add_registry_commands(sub, _load_community)
    from dashboards.commands import add_dashboard_commands  # `shouwang dashboards ...` (docs/dashboards.md)

    add_dashboard_commands(sub, _load_community)
    from console.commands import add_api_commands  # `shouwang api` and its accounts (docs/console.md)

    add_api_commands(sub)
    from shouwang.admin import add_admin_commands  # `shouwang backup|restore` (README: Running it for real)

    add_admin_commands(sub)
    return p


def _agent_main(argv: list[str]) -> int:
    """`shouwang agent ...` without building the other subcommands (their imports would cost a gateway ~20 MB)."""
    p = argparse.ArgumentParser(prog="shouwang agent", description="run the edge agent on a gateway")
    p.add_argument("--config", dest="agent_config", type=Path, required=True, metavar="FILE",
                   help="the agent's TOML file, e.g. /etc/shouwang/agent.toml")
    p.add_argument("--log-level", default="INFO")
    args = p.parse_args(argv)
    setup_logging(args.log_level)
    try:
        return _cmd_agent(None, args)
    except ShouwangError as exc:
        print(f"shouwang: {exc}", file=sys.stderr)
        return 2


def main(argv: list[str] | None = None) -> int:
    given = sys.argv[1:] if argv is None else argv
    if given[:1] == ["agent"]:
        return _agent_main(given[1:])
    from shouwang.config import load_config

    args = build_parser().parse_args(argv)
    setup_logging(args.log_level)
    try:
        cfg = None if getattr(args, "own_config", False) else load_config(args.config)
        return args.func(cfg, args)
    except (ShouwangError, ContractError) as exc:
        print(f"shouwang: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
