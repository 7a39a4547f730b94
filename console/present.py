"""How the console names places and people to a reader: the names staff know (building and flat, a person's
name) before registry codes, and the language the reader asked for.

A node without a name of its own (its name is empty or repeats its code) is left out of what people read;
its code stays in the API's `place`/`code` fields for machines.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import Request

from notify.texts import timeline_note
from registry.model import ContactInfo, NodeInfo, RegistrySnapshot
from registry.types import Level

LANGS = ("zh", "en")
LANG_COOKIE = "sw_lang"
#: the levels a place's area line names, widest first (the street is left out: staff know their street)
AREA_LEVELS = (Level.COMMUNITY, Level.GRID)


@dataclass(frozen=True, slots=True)
class Reader:
    """Who reads an answer: in which language, and whether residents' names and phones are theirs to see."""

    lang: str
    people: bool  # technicians see devices, not the people of a household


def reader_lang(request: Request, default: str) -> str:
    """The reader's language: `?lang=`, then the console's language cookie, then the user's own."""
    q = request.query_params.get("lang")
    if q in LANGS:
        return q
    c = request.cookies.get(LANG_COOKIE)
    if c in LANGS:
        return c
    return default if default in LANGS else "zh"


def own_name(node: NodeInfo | None) -> str:
    """The node's name, or "" when it has none (an unnamed node's name is its code)."""
    if node is None:
        return ""
    name = node.name.strip()
    return "" if not name or name == node.code else name


def place_name(reg: RegistrySnapshot, code: str) -> str:
    """What people call a place: a household as building and flat ("3号楼 2单元 501", RegistrySnapshot.address),
    a station by its name, a camera zone with its grid's name; the code only if the registry has no name."""
    node = reg.nodes.get(code)
    if node is None:
        return code
    name = reg.address(code)
    if node.level is Level.ZONE and node.parent and (site := own_name(reg.nodes.get(node.parent))):
        name = f"{site} · {name}"
    return name


def area(reg: RegistrySnapshot, code: str) -> str:
    """The named community and grid a place lies in ("望川社区 · 第一网格"), without codes or what its own
    name already says."""
    if code not in reg.nodes:
        return ""
    own = place_name(reg, code)
    parts = [own_name(n) for n in reversed(reg.ancestors(code)[1:]) if n.level in AREA_LEVELS]
    return " · ".join(p for p in parts if p and p not in own)


def person_name(reg: RegistrySnapshot, code: str, users: dict[str, str] | None = None) -> str:
    """A contact's or user's name for a code or username; the code itself when nobody by it has a name."""
    for cs in reg.contacts.values():
        for c in cs:
            if c.code == code and c.name.strip():
                return c.name.strip()
    if users and users.get(code):
        return users[code]
    return code


def contact_by_code(reg: RegistrySnapshot, code: str) -> ContactInfo | None:
    return next((c for cs in reg.contacts.values() for c in cs if c.code == code), None)


def trail_text(e: Mapping[str, Any], lang: str, name_of: Callable[[str], str]) -> str:
    """What one entry of an alert's trail says, in the reader's language (notify.texts.timeline_note), with
    the person a dispatch sent named rather than coded (the store notes a dispatch without a note as "to X")."""
    note = str(e.get("note") or "")
    if e.get("action") == "dispatched" and note.startswith("to ") and " " not in (to := note[3:].strip()):
        return ("派给 " if lang == "zh" else "to ") + name_of(to)
    return timeline_note(e, lang)
