"""What the `shouwang evaluate` subcommand does."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from alerts.settings import AlertsSettings


def run_evaluation(cfg: AlertsSettings, scenario: str, *, seed: int | None, days: float | None, tick_s: float,
                   json_path: Path | None) -> int:
    """The `shouwang evaluate` command: print the tables (and write JSON)."""
    from evaluation.evaluate import evaluate

    for name in ("alerts", "registry", "alembic"):  # one line per alert would drown the table
        logging.getLogger(name).setLevel(logging.WARNING)
    report = evaluate(cfg.alerts, scenario, seed=seed, days=days, tick_s=tick_s)
    print(report.table())
    if json_path is not None:
        json_path.write_text(json.dumps(report.as_json(), indent=2, ensure_ascii=False))
        print(f"\nwrote {json_path}")
    return 0


def add_evaluate_commands(sub: argparse._SubParsersAction) -> None:
    """Define `shouwang evaluate`."""
    ev = sub.add_parser("evaluate", help="run a simulator scenario through the rules at full speed and "
                                         "score the alerts against its ground-truth labels")
    ev.add_argument("scenario", help="scenario name (demo, typhoon, elderly-month, ...) or a scenario file")
    ev.add_argument("--seed", type=int, default=None)
    ev.add_argument("--days", type=float, default=None, help="evaluate only the first N days")
    ev.add_argument("--tick-s", type=float, default=60.0, help="simulated seconds between timer runs")
    ev.add_argument("--json", type=Path, default=None, help="also write the report as JSON")
    ev.set_defaults(func=lambda cfg, a: run_evaluation(cfg, a.scenario, seed=a.seed, days=a.days, tick_s=a.tick_s,
                                                       json_path=a.json))
