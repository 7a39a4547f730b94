"""Roles and scopes: what a logged-in person may see and do in the grid hierarchy.

A user's scope is a set of registry nodes (a street, a community, grids, a household).
They see what lies under those nodes; grid workers also see river stations hung under
their grid's community (the river runs along every grid of it, and they are notified).
Technicians see devices and the device-health alerts of their area. Family members see
only their own household and may only acknowledge.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from alerts.lifecycle import AlertView
from alerts.store import AlertScope
from alerts.types import Rule
from registry.model import RegistrySnapshot
from registry.types import Level


class UserRole(StrEnum):
    STREET_ADMIN = "street_admin"
    COMMUNITY_STAFF = "community_staff"
    GRID_WORKER = "grid_worker"
    TECHNICIAN = "technician"
    FAMILY = "family"


#: the node levels a role's scope may name
SCOPE_LEVELS: dict[UserRole, tuple[Level, ...]] = {
    UserRole.STREET_ADMIN: (Level.STREET,),
    UserRole.COMMUNITY_STAFF: (Level.COMMUNITY,),
    UserRole.GRID_WORKER: (Level.GRID,),
    UserRole.TECHNICIAN: (Level.STREET, Level.COMMUNITY, Level.GRID),
    UserRole.FAMILY: (Level.HOUSEHOLD,),
}
TECH_RULES = frozenset({Rule.GATEWAY_OFFLINE, Rule.DEVICE_SILENT, Rule.BATTERY_LOW, Rule.RIVER_SENSOR,
                        Rule.CAMERA_TAMPER})


class Action(StrEnum):
    ACKNOWLEDGE = "acknowledge"
    DISPATCH = "dispatch"
    RESOLVE = "resolve"
    CLOSE = "close"


ACTIONS: dict[UserRole, frozenset[Action]] = {
    UserRole.STREET_ADMIN: frozenset(Action),
    UserRole.COMMUNITY_STAFF: frozenset(Action),
    UserRole.GRID_WORKER: frozenset(Action),
    UserRole.TECHNICIAN: frozenset({Action.ACKNOWLEDGE, Action.RESOLVE}),
    UserRole.FAMILY: frozenset({Action.ACKNOWLEDGE}),
}

#: who looks after residents: may switch a household's away mode (which silences its inactivity alerts)
CARERS = frozenset({UserRole.STREET_ADMIN, UserRole.COMMUNITY_STAFF, UserRole.GRID_WORKER})


def children_of(reg: RegistrySnapshot) -> dict[str, list[str]]:
    kids: dict[str, list[str]] = defaultdict(list)
    for n in reg.nodes.values():
        if n.parent:
            kids[n.parent].append(n.code)
    return kids


@dataclass(frozen=True, slots=True)
class Scope:
    """What one user sees: grids wholly, and places (not under any grid) by code."""

    role: UserRole
    roots: frozenset[str]
    grids: frozenset[str]
    places: frozenset[str]
    unplaced: bool  # alerts whose place is unknown to the registry (street admins only)

    @classmethod
    def build(cls, role: UserRole, roots: Iterable[str], reg: RegistrySnapshot,
              kids: dict[str, list[str]] | None = None) -> Scope:
        kids = kids if kids is not None else children_of(reg)
        roots = frozenset(r for r in roots if r in reg.nodes)
        grids: set[str] = set()
        places: set[str] = set()
        stack = list(roots)
        while stack:
            code = stack.pop()
            node = reg.nodes[code]
            if node.level is Level.GRID:
                grids.add(code)
                if role is UserRole.GRID_WORKER and node.parent:
                    # the river along the community concerns every grid of it
                    places.update(c for c in kids.get(node.parent, ()) if reg.nodes[c].level is Level.STATION)
                continue
            places.add(code)
            stack.extend(kids.get(code, ()))
        if role is UserRole.FAMILY:
            grids.clear()
        return cls(role, roots, frozenset(grids), frozenset(places), role is UserRole.STREET_ADMIN)

    @property
    def alerts(self) -> AlertScope:
        """The alerts this user sees, as the alert store takes it (technicians: device-health rules only)."""
        return AlertScope(self.grids, self.places, self.unplaced,
                          TECH_RULES if self.role is UserRole.TECHNICIAN else None)

    def sees(self, place: str, grid: str, rule: Rule | str | None = None) -> bool:
        """Whether an alert (or any thing) at place/grid is visible (a family's scope holds no grid)."""
        return self.alerts.sees(place, grid, rule)

    def sees_alert(self, a: AlertView) -> bool:
        return self.sees(a.place, a.grid, a.rule)

    def sees_node(self, code: str, reg: RegistrySnapshot) -> bool:
        """A registry node is visible if it or an ancestor is in the scope."""
        if code in self.places or code in self.grids:
            return True
        if self.role is UserRole.FAMILY:
            return False
        return any(n.code in self.grids for n in reg.ancestors(code))

    def sees_payload(self, p: dict[str, Any]) -> bool:
        """For a change payload of sw/alerts/v1/event."""
        return self.sees(str(p.get("place") or ""), str(p.get("grid") or ""), p.get("rule"))

    def can(self, action: Action) -> bool:
        return action in ACTIONS[self.role]
