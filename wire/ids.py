"""Gateway and device ids: opaque, lowercase, never personal data."""

from __future__ import annotations

import re

from wire.errors import ContractError

ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,63}$"
#: the same pattern for validators that search with Python's re (msgspec), where `$` would also
#: match before a final newline: "gw-1\n" must not pass as an id
ID_REGEX = ID_PATTERN.removesuffix("$") + r"\Z"
_ID_RE = re.compile(ID_PATTERN)


def is_valid_id(value: object) -> bool:
    """True when value is a string matching the contract's id pattern."""
    return isinstance(value, str) and _ID_RE.fullmatch(value) is not None


def validate_id(value: object, what: str = "id") -> str:
    """Return value if it is a valid id, else raise ContractError naming what was wrong."""
    if is_valid_id(value):
        return value  # type: ignore[return-value]
    shown = repr(value)[:40]
    raise ContractError("id", f"{what}: {shown} does not match {ID_PATTERN}")
