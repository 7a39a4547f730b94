"""Which rows of a registry import lie inside a street administrator's area.

A row may create an entity or update an existing one (a place, a device, a contact), and it
names the place the entity will belong to. Both must lie in the caller's area: the new place
(directly, or through place rows of the same file that do), and the existing entity's current
place, so an import cannot re-home another street's contacts, devices or households.
Contacts, devices and places have separate codes, so only place rows of the file anchor others.
"""

from __future__ import annotations

from typing import Any

from console.scope import Scope
from registry.model import RegistrySnapshot

NOT_PLACES = ("device", "contact")


def _anchored(parent: str, places: dict[str, Any], reg: RegistrySnapshot, scope: Scope) -> bool:
    """Whether `parent` is, or hangs through place rows of this file under, a place of the area."""
    seen: set[str] = set()
    p: str | None = parent
    while p in places and p not in seen:
        seen.add(p)
        p = places[p].parent
    return p is not None and p in reg.nodes and scope.sees_node(p, reg)


def _current_place(row: Any, reg: RegistrySnapshot, contacts: dict[str, str]) -> str | None:
    """Where the entity a row updates is now; None for a new one."""
    if row.record == "device":
        dev = reg.devices.get(row.code)
        return dev.place if dev is not None else None
    if row.record == "contact":
        return contacts.get(row.code)
    return row.code if row.code in reg.nodes else None


def refusals(rows: list[Any], reg: RegistrySnapshot, scope: Scope) -> list[str]:
    """One message per row outside the area (rows as `registry.csvio.read_rows` gives them); [] = all inside."""
    contacts = {c.code: c.place for cs in reg.contacts.values() for c in cs}
    places = {r.code: r for r in rows if r.record not in NOT_PLACES}
    bad = []
    for r in rows:
        if r.record == "street" or not _anchored(r.parent, places, reg, scope):
            bad.append(f"row {r.row}: {r.code} is not under a place of your area")
            continue
        now = _current_place(r, reg, contacts)
        if now is not None and not scope.sees_node(now, reg):
            bad.append(f"row {r.row}: {r.code} belongs to another area ({r.record} of a place outside yours)")
    return bad
