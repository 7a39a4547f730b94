"""Demo accounts for `shouwang up`: one per role over the seeded demo registry (dev mode only).

Each account is a person of the registry where the registry has one: `admin` the street's duty officer, `staff`
the community's, `grid` the grid worker of the family's grid (linked to that contact), `family` the household's
family contact; `tech` (nobody in the registry) gets a fictitious name the same way the registry's people do.
Accounts an earlier version created as "demo <username>" are renamed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from sqlalchemy import select

from console.auth import AccountError, create_user, list_users
from console.scope import UserRole
from console.settings import ConsoleSettings
from console.tables import UserAccount
from registry.model import ContactInfo, RegistrySnapshot, load_snapshot
from registry.scenario import fictitious_name
from registry.types import Level, Role
from storage.sql import Database

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DemoAccount:
    username: str
    role: UserRole
    scope: str
    display_name: str = ""
    contact: str | None = None


def _person(reg: RegistrySnapshot, place: str, role: Role) -> ContactInfo | None:
    return next((c for c in sorted(reg.contacts.get(place, ()), key=lambda c: c.code) if c.role is role), None)


def _named(acc: DemoAccount, person: ContactInfo | None, *, link: bool = False) -> DemoAccount:
    """The account as the registry's person: their name (and, with `link`, their contact code)."""
    if person is None or not person.name:
        return replace(acc, display_name=fictitious_name(f"account-{acc.username}"))
    return replace(acc, display_name=person.name, contact=person.code if link else None)


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
        street = first[Level.STREET][0]
        wanted.append(_named(DemoAccount("admin", UserRole.STREET_ADMIN, street), _person(reg, street,
                                                                                          Role.STREET_DUTY)))
    if first[Level.COMMUNITY]:
        community = first[Level.COMMUNITY][0]
        wanted.append(_named(DemoAccount("staff", UserRole.COMMUNITY_STAFF, community),
                             _person(reg, community, Role.COMMUNITY_DUTY)))
        wanted.append(_named(DemoAccount("tech", UserRole.TECHNICIAN, community), None))
    grid = reg.ancestor(fam.place, Level.GRID) if fam else (first[Level.GRID] or [None])[0]
    if grid:
        wanted.append(_named(DemoAccount("grid", UserRole.GRID_WORKER, grid), _person(reg, grid, Role.GRID_WORKER),
                             link=True))
    if fam is not None:
        wanted.append(_named(DemoAccount("family", UserRole.FAMILY, fam.place), fam, link=True))
    existing = {u.username: u for u, _ in list_users(db)}
    password = cfg.api.demo_password.get_secret_value()
    for acc in wanted:
        old = existing.get(acc.username)
        if old is not None:
            if old.display_name == f"demo {acc.username}":  # named by an earlier version: the person's name now
                _rename(db, acc.username, acc.display_name)
            continue
        try:
            create_user(db, reg, acc.username, password, acc.role, [acc.scope], contact=acc.contact,
                        display_name=acc.display_name, language="zh", now=now)
        except AccountError as exc:
            log.warning("demo account %s not created: %s", acc.username, exc)
    return wanted


def _rename(db: Database, username: str, display_name: str) -> None:
    with db.session() as s, s.begin():
        account = s.scalar(select(UserAccount).where(UserAccount.username == username))
        if account is not None:
            account.display_name = display_name


def seed_demo(cfg: ConsoleSettings, now: int) -> list[DemoAccount]:
    """What `shouwang up` does once the registry is seeded: demo accounts, in dev mode only."""
    if cfg.mode != "dev" or not cfg.api.demo_accounts:
        return []
    with Database.from_config(cfg) as db:
        return demo_accounts(cfg, db, now)
