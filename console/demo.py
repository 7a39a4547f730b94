"""Demo accounts for `shouwang up`: one per role over the seeded demo registry (dev mode only)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from console.auth import AccountError, create_user, list_users
from console.scope import UserRole
from console.settings import ConsoleSettings
from registry.model import load_snapshot
from registry.types import Level, Role
from storage.sql import Database

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DemoAccount:
    username: str
    role: UserRole
    scope: str


def demo_accounts(cfg: ConsoleSettings, db: Database, now: int) -> list[DemoAccount]:
    """Create (if missing) admin, staff, grid, tech and family accounts for the registry's first places."""
    reg = load_snapshot(db)
    first = {lv: sorted(c for c, n in reg.nodes.items() if n.level is lv) for lv in
             (Level.STREET, Level.COMMUNITY, Level.GRID)}
    families = [c for cs in reg.contacts.values() for c in cs if c.role is Role.FAMILY]
    buttons = {d.place for d in reg.devices.values() if d.kind == "call_button"}
    fam = next((c for c in sorted(families, key=lambda c: (c.place not in buttons, c.code))), None)
    wanted = []
    if first[Level.STREET]:
        wanted.append(DemoAccount("admin", UserRole.STREET_ADMIN, first[Level.STREET][0]))
    if first[Level.COMMUNITY]:
        wanted.append(DemoAccount("staff", UserRole.COMMUNITY_STAFF, first[Level.COMMUNITY][0]))
        wanted.append(DemoAccount("tech", UserRole.TECHNICIAN, first[Level.COMMUNITY][0]))
    grid = reg.ancestor(fam.place, Level.GRID) if fam else (first[Level.GRID] or [None])[0]
    if grid:
        wanted.append(DemoAccount("grid", UserRole.GRID_WORKER, grid))
    if fam is not None:
        wanted.append(DemoAccount("family", UserRole.FAMILY, fam.place))
    existing = {u.username for u, _ in list_users(db)}
    password = cfg.api.demo_password.get_secret_value()
    for acc in wanted:
        if acc.username in existing:
            continue
        try:
            create_user(db, reg, acc.username, password, acc.role, [acc.scope],
                        contact=fam.code if acc.role is UserRole.FAMILY and fam else None,
                        display_name=f"demo {acc.username}", language="zh", now=now)
        except AccountError as exc:
            log.warning("demo account %s not created: %s", acc.username, exc)
    return wanted


def seed_demo(cfg: ConsoleSettings, now: int) -> list[DemoAccount]:
    """What `shouwang up` does once the registry is seeded: demo accounts, in dev mode only."""
    if cfg.mode != "dev" or not cfg.api.demo_accounts:
        return []
    with Database.from_config(cfg) as db:
        return demo_accounts(cfg, db, now)
