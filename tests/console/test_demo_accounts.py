"""`shouwang up`'s demo accounts on the demo registry: each is a person of the registry with a plausible fictitious
Chinese name (the grid account is the grid worker), never "demo admin"; an account an earlier version named
"demo <username>" is renamed, one a person renamed is left alone."""

from __future__ import annotations

import re
from pathlib import Path

from console.auth import list_users
from console.demo import demo_accounts
from console.scope import UserRole
from console.tables import UserAccount
from firmware_sim.scenario import load_scenario
from registry.model import load_snapshot
from registry.scenario import import_community
from registry.types import Level, Role
from storage.sql import Database
from tests.notify.fixtures import make_config

CHINESE_NAME = re.compile(r"[\u4e00-\u9fff]{2,3}")


def test_demo_accounts_are_the_registrys_people(tmp_path: Path) -> None:
    cfg = make_config(tmp_path / "state", 9)
    with Database(f"sqlite:///{tmp_path / 'demo.db'}") as db:
        assert import_community(db, load_scenario("demo")).errors == []
        reg = load_snapshot(db)
        wanted = demo_accounts(cfg, db, now=0)
        users = {u.username: u for u, _ in list_users(db)}
        assert set(users) == {"admin", "staff", "tech", "grid", "family"} == {a.username for a in wanted}
        for u in users.values():
            assert CHINESE_NAME.fullmatch(u.display_name), u
        people = {c.code: c for cs in reg.contacts.values() for c in cs}

        def one(place: str, role: Role) -> str:
            [c] = [c for c in reg.contacts[place] if c.role is role]
            return c.name

        street = next(c for c, n in reg.nodes.items() if n.level is Level.STREET)
        community = next(c for c, n in reg.nodes.items() if n.level is Level.COMMUNITY)
        assert users["admin"].display_name == one(street, Role.STREET_DUTY)
        assert users["staff"].display_name == one(community, Role.COMMUNITY_DUTY)
        grid = users["grid"]
        assert grid.role is UserRole.GRID_WORKER and grid.contact is not None
        worker = people[grid.contact]
        assert worker.role is Role.GRID_WORKER and worker.place == grid.scopes[0]
        assert grid.display_name == worker.name  # the grid account is the grid worker
        family = users["family"]
        assert family.display_name == people[family.contact].name and people[family.contact].place == family.scopes[0]
        assert reg.ancestor(family.scopes[0], Level.GRID) == grid.scopes[0]  # the family's own grid worker
        named = {c.name for c in people.values()}
        assert users["tech"].display_name not in named  # nobody of the registry
        assert len({u.display_name for u in users.values()}) == 5

        # an install from before: "demo <username>" becomes the person's name; a name someone gave stays
        with db.session() as s, s.begin():
            for account in s.query(UserAccount):
                account.display_name = "值班长老周" if account.username == "staff" else f"demo {account.username}"
        demo_accounts(cfg, db, now=0)
        again = {u.username: u.display_name for u, _ in list_users(db)}
        assert again == {**{k: u.display_name for k, u in users.items()}, "staff": "值班长老周"}
