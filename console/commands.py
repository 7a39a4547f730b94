"""`shouwang api` (the web API and console) and `shouwang api user add|list|lock`."""

from __future__ import annotations

import argparse
import getpass
import logging
import sys

from alerts.commands import LANGUAGES, cli_language, pad_cell, text_width
from console.settings import ConsoleSettings

log = logging.getLogger(__name__)


def api_run(cfg: ConsoleSettings) -> int:
    """Serve the API and console until SIGTERM/SIGINT."""
    import uvicorn

    from console.app import create_app

    app = create_app(cfg)
    # proxy_headers off: uvicorn would believe X-Forwarded-For from 127.0.0.1; the app trusts only
    # api.trusted_proxies (console/app.py)
    server = uvicorn.Server(uvicorn.Config(app, host=cfg.api.host, port=cfg.api.port, log_config=None,
                                           access_log=False, lifespan="on", timeout_graceful_shutdown=3,
                                           proxy_headers=False))
    log.info("console at %s (listening on %s:%d)", cfg.api.base_url, cfg.api.host, cfg.api.port)
    server.run()
    return 0


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("password: ")
    if first != getpass.getpass("again: "):
        raise SystemExit("shouwang: the passwords differ")
    return first


def user_add(cfg: ConsoleSettings, args: argparse.Namespace) -> int:
    from console.auth import AccountError, create_user
    from console.scope import UserRole
    from ground.clock import SystemClock
    from registry.model import load_snapshot
    from storage.sql import Database

    with Database.from_config(cfg) as db:
        try:
            u = create_user(db, load_snapshot(db), args.username, _password(args), UserRole(args.role),
                            [s for s in args.scope.split(",") if s], contact=args.contact,
                            display_name=args.name or "", language=args.language, now=SystemClock().now_ms())
        except AccountError as exc:
            print(f"shouwang: {exc}", file=sys.stderr)
            return 2
    print(f"user {u.username}: {u.role.value} of {', '.join(u.scopes)}")
    return 0


def user_list(cfg: ConsoleSettings, args: argparse.Namespace) -> int:
    from console.auth import list_users
    from storage.sql import Database

    with Database.from_config(cfg) as db:
        users = list_users(db)
    zh = cli_language(args.lang) == "zh"
    if not users:
        print("还没有账号（shouwang api user add 创建）" if zh else "no accounts yet (create one: shouwang api user add)")
        return 0
    head = ("编号", "用户名", "角色", "范围", "姓名", "状态") if zh else ("id", "username", "role", "scopes", "name",
                                                                    "state")
    table = [list(head)] + [[str(u.id), u.username, u.role.value, ",".join(u.scopes), u.display_name or "-",
                             ("正常" if zh else "active") if active else ("已锁定" if zh else "locked")]
                            for u, active in users]
    widths = [max(text_width(r[i]) for r in table) for i in range(len(head) - 1)]
    for r in table:
        print("  ".join(pad_cell(text, w) for text, w in zip(r, widths, strict=False)) + "  " + r[-1])
    n = len(users)
    print(f"共 {n} 个账号" if zh else f"{n} account{'' if n == 1 else 's'}")
    return 0


def user_lock(cfg: ConsoleSettings, args: argparse.Namespace) -> int:
    from console.auth import AccountError, list_users, set_active
    from storage.sql import Database

    with Database.from_config(cfg) as db:
        found = [u for u, _ in list_users(db) if u.username == args.username]
        if not found:
            print(f"shouwang: no user {args.username}", file=sys.stderr)
            return 2
        try:
            set_active(db, found[0].id, False)
        except AccountError as exc:
            print(f"shouwang: {exc}", file=sys.stderr)
            return 2
    print(f"user {args.username} locked; their sessions ended")
    return 0


def add_api_commands(sub: argparse._SubParsersAction) -> None:
    """Define `shouwang api` and its user subcommands."""
    p = sub.add_parser("api", help="web API and staff console (default); user accounts")
    asub = p.add_subparsers(dest="api_command")
    p.set_defaults(func=lambda cfg, a: api_run(cfg) if not a.api_command else a.api_func(cfg, a))
    asub.add_parser("run", help="serve the API and console (the default)").set_defaults(
        api_func=lambda cfg, a: api_run(cfg))
    users = asub.add_parser("user", help="console accounts")
    usub = users.add_subparsers(dest="user_command", required=True)
    add = usub.add_parser("add", help="create an account (password asked, or --password-stdin)")
    add.add_argument("username")
    add.add_argument("--role", required=True,
                     choices=["street_admin", "community_staff", "grid_worker", "technician", "family"])
    add.add_argument("--scope", required=True, help="registry codes, comma-separated (street, community, grids, "
                                                    "or the household)")
    add.add_argument("--contact", default=None, help="family: the registry contact this person is")
    add.add_argument("--name", default="")
    add.add_argument("--language", default="zh", choices=["zh", "en"])
    add.add_argument("--password-stdin", action="store_true")
    add.set_defaults(api_func=user_add)
    ls = usub.add_parser("list", help="every account, with a header and a count")
    ls.add_argument("--lang", choices=LANGUAGES, default=None, help="language of the output (default: the locale's)")
    ls.set_defaults(api_func=user_list)
    lock = usub.add_parser("lock", help="lock an account and end its sessions")
    lock.add_argument("username")
    lock.set_defaults(api_func=user_lock)
