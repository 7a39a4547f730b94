"""The one place values are escaped for InfluxDB: line protocol (writes) and InfluxQL literals (queries)."""

from __future__ import annotations

import re
from collections.abc import Iterable


def tag_value(value: str) -> str:
    """A line-protocol tag value (or measurement-safe text): backslash, comma, equals and space escaped."""
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=").replace(" ", "\\ ")


def string_field(value: str) -> str:
    """A line-protocol string field value, quoted."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def string_literal(value: str) -> str:
    """An InfluxQL string literal, quoted: `'it\\'s'`."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def regex_alternation(ids: Iterable[str]) -> str:
    """`a|b|c` of literal ids for an InfluxQL regex /^(...)$/ (metacharacters and slashes escaped)."""
    return "|".join(re.escape(i).replace("/", "\\/") for i in ids)
