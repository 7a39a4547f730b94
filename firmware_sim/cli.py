"""`shouwang sim ...`: the simulator's command-line surface (implementations in firmware_sim.commands).

    shouwang sim list
    shouwang sim check SCENARIO
    shouwang sim registry SCENARIO [--out FILE.json]
    shouwang sim run SCENARIO [--speed N | --fast] [--seed S] [--start ISO|today|now] [--days D]
                     [--labels FILE] [--out FILE.jsonl.gz] [--follow] [faults ...]
    shouwang sim run SCENARIO --live   (real time, resumable; under `shouwang up`)
    shouwang sim record --out FILE.jsonl.gz [--duration 10m] [--count N] [--topic FILTER]
    shouwang sim replay FILE [--speed N | --fast] [--shift-to-now] [--gateway G] [--device D] [--kind K] [faults ...]

Imports stay inside the command functions so `shouwang ingest` does not load the simulator.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def _duration_s(text: str) -> float:
    """Seconds from "90", "90s", "10m", "1h30m"."""
    from firmware_sim.timeparse import parse_duration

    try:
        return float(text)
    except ValueError:
        pass
    try:
        return parse_duration(text) / 1000
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _pct(text: str) -> float:
    try:
        v = float(text.rstrip("%"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a percentage") from None
    if not 0 <= v <= 100:
        raise argparse.ArgumentTypeError("a percentage is between 0 and 100")
    return v


def _positive(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if v <= 0:
        raise argparse.ArgumentTypeError("must be greater than 0")
    return v


def _add_faults(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("fault injection (seeded; counted in the summary)")
    g.add_argument("--drop", type=_pct, default=0.0, metavar="PCT", help="lose this percentage of messages")
    g.add_argument("--duplicate", type=_pct, default=0.0, metavar="PCT", help="send this percentage twice")
    g.add_argument("--reorder", type=int, default=0, metavar="N", help="shuffle within a window of N messages")
    g.add_argument("--delay", type=_pct, default=0.0, metavar="PCT", help="delay this percentage of messages ...")
    g.add_argument("--delay-max", type=_duration_s, default=30.0, metavar="DUR", help="... by up to DUR (30s)")
    g.add_argument("--corrupt", type=_pct, default=0.0, metavar="PCT", help="break this percentage of payloads")
    g.add_argument("--skew", action="append", default=[], metavar="[GW=]DUR",
                   help="shift payload ts: '+90s' for all, 'gw-1=-2m' for one gateway (repeatable)")
    g.add_argument("--outage", action="append", default=[], metavar="GW@OFFSET+DUR",
                   help="gateway uplink down, e.g. demo-gw-1@2h+30m (offset from the start; repeatable)")
    g.add_argument("--fault-seed", type=int, default=None, help="seed of the fault stream (default: the run's seed)")


def _add_broker(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("broker")
    g.add_argument("--broker-dir", type=Path, default=None,
                   help="where gateways/<id>.toml credentials are (default: <state_dir>/broker)")
    g.add_argument("--provision", action="store_true",
                   help="create missing gateway credentials (local broker started by shouwang)")
    g.add_argument("--window", type=int, default=20, help="unacknowledged messages per gateway (default 20)")
    g.add_argument("--ordered", action="store_true",
                   help="keep the exact global order across gateways (slower: waits for PUBACKs at each switch)")


def _add_speed(p: argparse.ArgumentParser, default_speed: float) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--speed", type=_positive, default=None,
                   help=f"simulated seconds per wall second (default {default_speed:g}; 600 = ten minutes a second)")
    g.add_argument("--fast", action="store_true", help="as fast as possible")


class _Lazy:
    """A command function imported from firmware_sim.commands only when it runs."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, cfg: Any, args: argparse.Namespace) -> int:
        from firmware_sim import commands

        return getattr(commands, self.name)(cfg, args)


class _Commands:
    def __getattr__(self, name: str) -> _Lazy:
        return _Lazy(name)


def add_sim_commands(sub: Any) -> None:
    """Add the `sim` command group to the main parser's subparsers."""
    c = _Commands()
    sim = sub.add_parser("sim", help="simulated devices: scenarios, record, replay, fault injection")
    ssub = sim.add_subparsers(dest="sim_command", required=True)
    ssub.add_parser("list", help="list the shipped scenarios").set_defaults(func=c.cmd_list)
    check = ssub.add_parser("check", help="validate a scenario file")
    check.add_argument("scenario", help="a shipped scenario name or a path to a .toml file")
    check.set_defaults(func=c.cmd_check)
    reg = ssub.add_parser("registry", help="export a scenario's households, places and devices as JSON")
    reg.add_argument("scenario")
    reg.add_argument("--out", type=Path, default=None, help="file to write (default: stdout)")
    reg.set_defaults(func=c.cmd_registry)

    run = ssub.add_parser("run", help="run a scenario: publish as its gateways, or write a record file")
    run.add_argument("scenario", help="a shipped scenario name (see `sim list`) or a path to a .toml file")
    _add_speed(run, 1.0)
    run.add_argument("--seed", type=int, default=None, help="override the scenario's seed")
    run.add_argument("--start", default=None,
                     help="first instant: 2025-06-01, 2025-06-01T08:00, 'today' or 'now' "
                          "(default: local midnight `days` days ago)")
    run.add_argument("--days", type=int, default=None, help="override the scenario's number of days")
    run.add_argument("--duration", type=_duration_s, default=None,
                     help="run only this long from the start (e.g. 3h), instead of whole days")
    run.add_argument("--labels", type=Path, default=None, help="write ground-truth labels (JSONL) here")
    run.add_argument("--out", type=Path, default=None,
                     help="write a record file (.jsonl.gz) instead of publishing (offline, as fast as possible)")
    run.add_argument("--follow", action="store_true",
                     help="after the scenario's days keep the devices running, catching up to and then "
                          "following real time")
    run.add_argument("--live", action="store_true",
                     help="run at real time from where the scenario stands on this state directory "
                          "(<state>/sim/SCENARIO.json): its live incidents at their offsets from its first start, "
                          "nothing already played played again (what `shouwang up` runs)")
    run.add_argument("--allow-future", action="store_true",
                     help="let the simulated time run ahead of the real time (receivers may refuse such ts)")
    run.add_argument("--summary-json", type=Path, default=None, help="also write the summary as JSON")
    run.add_argument("--no-progress", action="store_true", help="no live progress display")
    _add_faults(run)
    _add_broker(run)
    run.set_defaults(func=c.cmd_run)

    rec = ssub.add_parser("record", help="record live traffic to a gzip JSONL file (as the service account)")
    rec.add_argument("--out", type=Path, required=True, help="file to write, e.g. day.jsonl.gz")
    rec.add_argument("--duration", type=_duration_s, default=None, help="stop after this long (e.g. 10m)")
    rec.add_argument("--count", type=int, default=None, help="stop after this many messages")
    rec.add_argument("--topic", default="sw/v1/#", help="topic filter (default sw/v1/#)")
    rec.set_defaults(func=c.cmd_record)

    rep = ssub.add_parser("replay", help="republish a record file with its timing, as its gateways")
    rep.add_argument("file", type=Path)
    _add_speed(rep, 1.0)
    rep.add_argument("--shift-to-now", action="store_true",
                     help="shift payload timestamps so the recording ends when the replay ends")
    rep.add_argument("--gateway", action="append", default=[], help="only this gateway (repeatable)")
    rep.add_argument("--device", action="append", default=[], help="only this device (repeatable)")
    rep.add_argument("--kind", action="append", default=[],
                     choices=["water_meter", "call_button", "river_gauge", "camera"], help="only this kind")
    rep.add_argument("--summary-json", type=Path, default=None, help="also write the summary as JSON")
    rep.add_argument("--no-progress", action="store_true", help="no live progress display")
    _add_faults(rep)
    _add_broker(rep)
    rep.set_defaults(func=c.cmd_replay)
