"""What the `shouwang evaluate` subcommand does: a scenario, a recording (backtest) or the populations."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import sys
from pathlib import Path

from alerts.settings import AlertsSettings
from firmware_sim.models.populations import START
from ground.errors import ConfigError


def quiet_logs() -> None:
    for name in ("alerts", "registry", "alembic", "notify"):  # one line per alert would drown the table
        logging.getLogger(name).setLevel(logging.ERROR)


def _emit(text: str, data: dict, json_path: Path | None) -> None:
    """The table, or the JSON on stdout (`--json -`), and the JSON file if asked for."""
    if json_path is not None and str(json_path) == "-":
        print(json.dumps(data, indent=2, ensure_ascii=False))
        return
    print(text)
    if json_path is not None:
        json_path.write_text(json.dumps(data, indent=2, ensure_ascii=False))
        print(f"\nwrote {json_path}")


def run_evaluation(cfg: AlertsSettings, scenario: str, *, seed: int | None, days: float | None, tick_s: float,
                   json_path: Path | None) -> int:
    """The `shouwang evaluate SCENARIO` command: print the tables (and write JSON)."""
    from evaluation.evaluate import evaluate

    quiet_logs()
    report = evaluate(cfg.alerts, scenario, seed=seed, days=days, tick_s=tick_s)
    _emit(report.table(), report.as_json(), json_path)
    return 0


def run_backtest(cfg: AlertsSettings, args: argparse.Namespace) -> int:
    """`shouwang evaluate --record FILE --registry CSV [--labels CSV]`."""
    from evaluation.backtest import backtest_file

    if args.registry is None:
        raise ConfigError("--record needs --registry CSV (the registry's import format: shouwang registry import)")
    quiet_logs()
    alerts = cfg.alerts if args.timezone is None else cfg.alerts.model_copy(update={"timezone": args.timezone})
    rep = backtest_file(alerts, args.record, args.registry, args.labels, tick_s=args.tick_s)
    _emit(rep.table(args.lang), rep.as_json(), args.json)
    return 0


def run_population_report(cfg: AlertsSettings, args: argparse.Namespace) -> int:
    """`shouwang evaluate --populations`."""
    from evaluation.populations import run_populations

    quiet_logs()

    def progress(name, rep) -> None:
        print(f"{name}: {rep.messages} messages in {rep.wall_s:.1f} s", file=sys.stderr, flush=True)

    rep = run_populations(cfg.alerts, households=args.households, days=args.pop_days, seed=args.seed or 1,
                          names=args.population or None, tick_s=args.tick_s if args.tick_s_given else 300.0,
                          progress=progress, start=args.pop_start,
                          answers=None if args.answers == "off" else args.answers)
    _emit(rep.table(args.lang), rep.as_json(), args.json)
    return 0


def _dispatch(cfg: AlertsSettings, a: argparse.Namespace) -> int:
    a.tick_s_given = a.tick_s is not None
    a.tick_s = 60.0 if a.tick_s is None else a.tick_s
    if a.populations or a.population:
        return run_population_report(cfg, a)
    if a.record is not None:
        return run_backtest(cfg, a)
    if a.scenario is None:
        raise ConfigError("give a scenario, --record FILE --registry CSV, or --populations")
    return run_evaluation(cfg, a.scenario, seed=a.seed, days=a.days, tick_s=a.tick_s, json_path=a.json)


def add_evaluate_commands(sub: argparse._SubParsersAction) -> None:
    """Define `shouwang evaluate`."""
    ev = sub.add_parser("evaluate", help="run a simulator scenario, a recording (backtest) or the behaviour "
                                         "populations through the rules at full speed and score the alerts")
    ev.add_argument("scenario", nargs="?", help="scenario name (demo, typhoon, elderly-month, ...) or a scenario file")
    ev.add_argument("--seed", type=int, default=None)
    ev.add_argument("--days", type=float, default=None, help="evaluate only the first N days of a scenario")
    ev.add_argument("--tick-s", type=float, default=None,
                    help="simulated seconds between timer runs (default 60; 300 for --populations)")
    ev.add_argument("--json", type=Path, default=None, help="also write the report as JSON ('-': JSON on stdout "
                                                            "instead of the table)")
    ev.add_argument("--lang", choices=("zh", "en"), default="zh", help="language of the table (backtest, "
                                                                      "populations)")
    bt = ev.add_argument_group("backtest on a recording (docs/evaluation.md)")
    bt.add_argument("--record", type=Path, default=None, metavar="FILE",
                    help="`sim record` output or JSONL of contract messages (topic + payload), gzip or plain")
    bt.add_argument("--registry", type=Path, default=None, metavar="CSV", help="the registry, in its CSV import "
                                                                               "format")
    bt.add_argument("--labels", type=Path, default=None, metavar="CSV",
                    help="what happened: household or device, start, end, kind (emergency|absence), note")
    bt.add_argument("--timezone", default=None, help="local time of the labels and sleep hours "
                                                     "(default: alerts.timezone)")
    pp = ev.add_argument_group("behaviour populations against awake-hours timers (docs/evaluation.md)")
    pp.add_argument("--populations", action="store_true", help="evaluate every behaviour population")
    pp.add_argument("--population", action="append", default=[], metavar="NAME", help="only this one (repeatable)")
    pp.add_argument("--households", type=int, default=60, help="households per population (default 60)")
    pp.add_argument("--pop-days", type=int, default=30, help="days per population (default 30)")
    pp.add_argument("--pop-start", type=dt.date.fromisoformat, default=START, metavar="DATE",
                    help=f"first day of the populations (default {START.isoformat()})")
    pp.add_argument("--answers", choices=("default", "pessimistic", "nobody", "off"), default="default",
                    help="who answers the check-ins (firmware_sim/models/answers.py): the default ranges, "
                         "pessimistic ones, nobody (families registered, never answering), or off (no buttons, "
                         "no families: no check-in loop)")
    ev.set_defaults(func=_dispatch)
