"""Find the line of a key in TOML text, so scenario errors can say file:line: field.

tomllib gives values without positions, so this scans the text once and records the
line of every table header and `key = value` line, by path: `[[households]]` number 3
is ("households", 2), its `meter = {...}` is ("households", 2, "meter"). Inline tables
and multi-line values are not looked into: an error inside them points at their key.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

Path = tuple[str | int, ...]
_BARE = re.compile(r"[A-Za-z0-9_-]+")


def _split_keys(text: str) -> list[str]:
    """Dotted key text (a."b.c".d) -> its parts."""
    parts: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in " \t.":
            i += 1
        elif ch in "\"'":
            end = text.find(ch, i + 1)
            end = n if end < 0 else end
            parts.append(text[i + 1:end])
            i = end + 1
        else:
            m = _BARE.match(text, i)
            if m is None:
                break
            parts.append(m.group(0))
            i = m.end()
    return parts


def _scan_value(text: str, state: list) -> None:
    """Update [bracket depth, open triple quote] over a piece of value text."""
    i, n = 0, len(text)
    while i < n:
        if state[1]:
            end = text.find(state[1], i)
            if end < 0:
                return
            i = end + 3
            state[1] = None
            continue
        ch = text[i]
        if text.startswith('"""', i) or text.startswith("'''", i):
            state[1] = text[i:i + 3]
            i += 3
        elif ch in "\"'":
            end = i + 1
            while end < n and text[end] != ch:
                end += 2 if (ch == '"' and text[end] == "\\") else 1
            i = end + 1
        elif ch == "#":
            return
        else:
            if ch in "[{":
                state[0] += 1
            elif ch in "]}":
                state[0] -= 1
            i += 1


def key_lines(text: str) -> dict[Path, int]:
    """Map each table and key path in TOML text to its 1-based line number."""
    lines: dict[Path, int] = {}
    aot: dict[Path, int] = {}  # array-of-tables path -> last index
    current: Path = ()
    state: list = [0, None]  # bracket depth, open multi-line string

    def resolve(parts: Sequence[str]) -> Path:
        out: list[str | int] = []
        for p in parts:
            out.append(p)
            idx = aot.get(tuple(out))
            if idx is not None:
                out.append(idx)
        return tuple(out)

    for lineno, raw in enumerate(text.splitlines(), 1):
        if state[0] > 0 or state[1]:
            _scan_value(raw, state)
            continue
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[["):
            parts = _split_keys(line[2:line.find("]]")])
            base = resolve(parts[:-1]) + (parts[-1],) if parts else ()
            idx = aot.get(base, -1) + 1
            aot[base] = idx
            current = base + (idx,)
            lines.setdefault(base, lineno)
            lines[current] = lineno
        elif line.startswith("["):
            current = resolve(_split_keys(line[1:line.find("]")]))
            lines[current] = lineno
        else:
            eq = _find_eq(line)
            if eq < 0:
                continue
            path = current + tuple(_split_keys(line[:eq]))
            lines.setdefault(path, lineno)
            _scan_value(line[eq + 1:], state)
    return lines


def _find_eq(line: str) -> int:
    quote = None
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch == "=":
            return i
    return -1


def line_of(lines: dict[Path, int], loc: Sequence[str | int]) -> int | None:
    """Line of the longest prefix of loc found in the text (skipping union tags pydantic adds)."""
    path = tuple(loc)
    while path:
        if path in lines:
            return lines[path]
        # pydantic puts the discriminator tag after a list index: incidents.1.typhoon.peak_m
        for i in range(1, len(path)):
            if isinstance(path[i - 1], int) and isinstance(path[i], str) and path[:i + 1] not in lines:
                dropped = path[:i] + path[i + 1:]
                if dropped in lines:
                    return lines[dropped]
        path = path[:-1]
    return None
