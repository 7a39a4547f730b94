"""Commands for the people who run an installation: `shouwang backup DIR`, `shouwang restore DIR`."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shouwang.config import Config


def _config_file(args: argparse.Namespace) -> Path | None:
    given = args.config or os.environ.get("SHOUWANG_CONFIG")
    return Path(given) if given else None


def _cmd_backup(cfg: Config, args: argparse.Namespace) -> int:
    from shouwang.backup import backup

    manifest = backup(cfg, args.dir, _config_file(args))
    print(f"backup written to {args.dir} (mode 0700: it holds passwords)")
    print(f"  store ({manifest['sql']['kind']}, schema {manifest['schema_revision']}):")
    for table, n in manifest["sql"]["rows"].items():
        print(f"    {table:<24} {n:>10} rows")
    print(f"  readings (InfluxDB database {manifest['influx']['database']}):")
    for name, n in manifest["influx"]["points"].items():
        print(f"    {name:<24} {n:>10} points")
    print(f"  {len(manifest['files'])} files, each with a SHA-256 in manifest.json")
    return 0


def _cmd_restore(cfg: Config, args: argparse.Namespace) -> int:
    from shouwang.backup import restore

    report = restore(cfg, args.dir, force=args.force)
    bad = report.mismatches
    for line in bad:
        print(f"MISMATCH {line}")
    total_rows, total_points = sum(report.found.rows.values()), sum(report.found.points.values())
    if bad:
        print(f"restored, but {len(bad)} count(s) differ from the backup (above)")
        return 1
    print(f"restored {total_rows} rows and {total_points} readings: every count matches the backup")
    print("start the services again; the store is migrated to this version's schema on start")
    return 0


def add_admin_commands(sub: argparse._SubParsersAction) -> None:
    """Register backup and restore."""
    b = sub.add_parser("backup", help="back up the store, readings, broker credentials and config into DIR")
    b.add_argument("dir", type=Path, metavar="DIR", help="a new (or empty) directory")
    b.set_defaults(func=_cmd_backup)
    r = sub.add_parser("restore", help="restore a backup made by `shouwang backup` (stop the services first)")
    r.add_argument("dir", type=Path, metavar="DIR")
    r.add_argument("--force", action="store_true", help="replace a store and readings that already hold data")
    r.set_defaults(func=_cmd_restore)
