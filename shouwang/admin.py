"""Commands for the people who run an installation: backup, restore, status, the watchdog."""

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


def _cmd_status(cfg: Config, args: argparse.Namespace) -> int:
    import json

    from shouwang.status import gather, render

    st = gather(cfg)
    print(json.dumps(st.as_dict(), ensure_ascii=False, indent=2) if args.json else render(st, args.lang))
    return 0 if st.ok else 1


def _cmd_watchdog_run(cfg: Config, args: argparse.Namespace) -> int:
    import signal

    from shouwang.watchdog import Watchdog

    dog = Watchdog(cfg.watchdog, cfg.state_path)
    signal.signal(signal.SIGTERM, lambda *_: dog.stop())
    signal.signal(signal.SIGINT, lambda *_: dog.stop())
    dog.run()
    return 0


def _cmd_watchdog_notify_failure(cfg: Config, args: argparse.Namespace) -> int:
    from shouwang.watchdog import notify_failure

    return 0 if notify_failure(cfg.watchdog, args.unit) else 1


def add_admin_commands(sub: argparse._SubParsersAction) -> None:
    """Register backup, restore, status and watchdog."""
    b = sub.add_parser("backup", help="back up the store, readings, broker credentials and config into DIR")
    b.add_argument("dir", type=Path, metavar="DIR", help="a new (or empty) directory")
    b.set_defaults(func=_cmd_backup)
    r = sub.add_parser("restore", help="restore a backup made by `shouwang backup` (stop the services first)")
    r.add_argument("dir", type=Path, metavar="DIR")
    r.add_argument("--force", action="store_true", help="replace a store and readings that already hold data")
    r.set_defaults(func=_cmd_restore)
    st = sub.add_parser("status", help="is every service working; broker, gateways, open alerts, failed notifications")
    st.add_argument("--json", action="store_true", help="machine-readable")
    st.add_argument("--lang", choices=("zh", "en"), default="zh")
    st.set_defaults(func=_cmd_status)
    w = sub.add_parser("watchdog", help="the dead man's switch: tell watchdog.notify when a service stops working")
    wsub = w.add_subparsers(dest="watchdog_command", required=True)
    wsub.add_parser("run", help="watch the services' heartbeats until stopped").set_defaults(func=_cmd_watchdog_run)
    nf = wsub.add_parser("notify-failure", help="for systemd OnFailure=: tell watchdog.notify that UNIT failed")
    nf.add_argument("unit", help="the failed unit, e.g. shouwang-alerts.service")
    nf.set_defaults(func=_cmd_watchdog_notify_failure)
    from shouwang.install import add_install_command  # `shouwang install --prod` (README: Running it for real)

    add_install_command(sub)
