"""What the `shouwang registry import | export | import-scenario` subcommands do."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from storage.settings import SqlSettings
from storage.sql import Database

if TYPE_CHECKING:
    from registry.scenario import Community

log = logging.getLogger(__name__)

#: loads a simulator scenario by name or file: handed in by the command line, which may import the simulator
LoadCommunity = Callable[[str], "Community"]


def registry_import(cfg: SqlSettings, path: Path, *, dry_run: bool = False, strict: bool = False) -> int:
    """Import a registry CSV; prints every rejected row; exit 1 if any was rejected."""
    from registry.csvio import import_file

    with Database.from_config(cfg) as db:
        report = import_file(db, path, dry_run=dry_run, strict=strict, log_summary=False)
    for err in report.errors:
        print(f"{path}: {err}", file=sys.stderr)
    print(report.summary() + (" (strict: nothing imported)" if strict and report.errors else ""))
    return 1 if report.errors else 0


def registry_import_scenario(cfg: SqlSettings, community: Community) -> int:
    """Import a simulator scenario's community (places, devices, contacts) as the registry."""
    from registry.csvio import import_rows
    from registry.scenario import registry_csv, source_name

    with Database.from_config(cfg) as db:
        report = import_rows(db, registry_csv(community), source_name(community), log_summary=False)
    for err in report.errors:
        print(f"{source_name(community)}: {err}", file=sys.stderr)
    print(report.summary())
    return 1 if report.errors else 0


def seed_registry(cfg: SqlSettings, community: Community) -> bool:
    """Fill an empty registry from the community `shouwang up` simulates; True if it did."""
    from registry.scenario import seed_if_empty, source_name

    with Database.from_config(cfg) as db:
        report = seed_if_empty(db, community)
    if report is None:
        return False
    log.info("empty registry seeded from %s: %s", source_name(community), report.summary())
    return True


def registry_export(cfg: SqlSettings, path: Path) -> int:
    from registry.csvio import export_file

    with Database.from_config(cfg) as db:
        n = export_file(db, path)
    print(f"wrote {n} registry row{'' if n == 1 else 's'} to {path}")
    return 0


def add_registry_commands(sub: argparse._SubParsersAction, load_community: LoadCommunity) -> None:
    """Define `shouwang registry import|import-scenario|export`."""
    reg = sub.add_parser("registry", help="places, devices and contacts: CSV import/export")
    rsub = reg.add_subparsers(dest="registry_command", required=True)
    imp = rsub.add_parser("import", help="import a registry CSV (bad rows reported, good rows kept)")
    imp.add_argument("file", type=Path)
    imp.add_argument("--dry-run", action="store_true", help="check only, change nothing")
    imp.add_argument("--strict", action="store_true", help="import nothing if any row is bad")
    imp.set_defaults(func=lambda cfg, a: registry_import(cfg, a.file, dry_run=a.dry_run, strict=a.strict))
    sc = rsub.add_parser("import-scenario", help="import a simulator scenario's community (demo, typhoon, ...)")
    sc.add_argument("scenario")
    sc.set_defaults(func=lambda cfg, a: registry_import_scenario(cfg, load_community(a.scenario)))
    exp = rsub.add_parser("export", help="write the registry as CSV (re-importable)")
    exp.add_argument("file", type=Path)
    exp.set_defaults(func=lambda cfg, a: registry_export(cfg, a.file))
