"""Durations ("90s", "5m", "2h30m", "1d") and local clock times ("21:30", "06:15:30") in scenario files."""

from __future__ import annotations

import re

_DURATION_RE = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
_CLOCK_RE = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$")
MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000


def parse_duration(value: object) -> int:
    """Milliseconds of a duration string such as "2h30m" (numbers are refused: seconds or minutes?)."""
    if not isinstance(value, str):
        raise ValueError("write a duration as a string such as \"90s\", \"5m\", \"2h30m\" or \"1d\"")
    m = _DURATION_RE.match(value.strip())
    if not value.strip() or m is None:
        raise ValueError(f"{value!r} is not a duration such as \"90s\", \"5m\", \"2h30m\" or \"1d\"")
    d, h, mi, s = (int(x) if x else 0 for x in m.groups())
    return ((d * 24 + h) * 60 + mi) * 60_000 + s * 1000


def parse_clock(value: object) -> int:
    """Milliseconds after local midnight of a time of day "HH:MM" or "HH:MM:SS"."""
    if not isinstance(value, str):
        raise ValueError("expected a local time of day such as \"21:30\"")
    m = _CLOCK_RE.match(value.strip())
    if m is None:
        raise ValueError(f"{value!r} is not a time of day such as \"21:30\" or \"06:15:30\"")
    h, mi, s = int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)
    if h > 23 or mi > 59 or s > 59:
        raise ValueError(f"{value!r} is not a valid time of day")
    return ((h * 60 + mi) * 60 + s) * 1000


def format_duration(ms: int) -> str:
    """Short human form of a duration: 1d2h, 5m30s, 250ms."""
    if ms < 1000:
        return f"{ms}ms"
    s = ms // 1000
    d, s = divmod(s, 86400)
    h, s = divmod(s, 3600)
    m, s = divmod(s, 60)
    parts = [f"{v}{u}" for v, u in ((d, "d"), (h, "h"), (m, "m"), (s, "s")) if v]
    return "".join(parts[:2])
