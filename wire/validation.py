"""Strict validation with msgspec, and its errors as short reasons a device or config author can act on.

msgspec (a small C extension) checks types, ranges, patterns and unknown fields; this module only
rewords its messages into the contract's style ("data.total_l: expected number, got string") and,
for the flat models of the wire contract, collects every bad field instead of only the first.
It is used by the wire contract and by the edge agent's config, so neither needs pydantic: the agent
runs on gateways where memory is scarce (pydantic's import alone costs ~16 MB of RSS).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from typing import Any

import msgspec
import msgspec.inspect as mi

#: JSON names for the type names msgspec uses in its messages
_WORDS = {"float": "number", "int": "integer", "bool": "boolean", "str": "string", "null": "null",
          "object": "object", "array": "array", "dict": "object", "list": "array", "bytes": "bytes"}
_JSON_TYPE = {str: "string", int: "integer", float: "number", bool: "boolean", type(None): "null",
              list: "array", dict: "object", tuple: "array"}
_BOUNDS = {">=": "greater than or equal to", ">": "greater than", "<=": "less than or equal to", "<": "less than"}

_AT = re.compile(r"^(?P<msg>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.S)
_TYPE = re.compile(r"^Expected `(?P<want>[^`]+)`, got `(?P<got>[^`]+)`$")
_BOUND = re.compile(r"^Expected `\w+` (?P<op>>=|<=|>|<) (?P<limit>\S+)$")
_LENGTH = re.compile(r"^Expected `(?P<what>\w+)` of length (?P<op>>=|<=) (?P<n>\d+)$")
_PATTERN = re.compile(r"^Expected `str` matching regex (?P<pattern>.*)$")
_UNKNOWN = re.compile(r"^Object contains unknown field `(?P<name>[^`]*)`$")
_MISSING = re.compile(r"^Object missing required field `(?P<name>[^`]*)`$")
_ENUM = re.compile(r"^Invalid (?:enum )?value (?P<value>.*)$")


def json_type(value: Any) -> str:
    """The JSON name of a value's type ("string", "number", ...)."""
    return _JSON_TYPE.get(type(value), type(value).__name__)


def _limit(text: str) -> str:
    """msgspec prints float bounds as 0.0 and 1e12 as 1000000000000.0; show them as written."""
    try:
        value = float(text)
    except ValueError:
        return text
    return f"{value:g}" if value.is_integer() and abs(value) < 1e16 else text


def _want(text: str) -> str:
    names = [_WORDS.get(part.strip(), part.strip()) for part in text.split("|")]
    return " or ".join(n for n in names if n != "null") or "null"


def split_path(path: str) -> list[str | int]:
    """`.drivers[0].meters[1]` -> ["drivers", 0, "meters", 1]; a dict key msgspec does not name stays "[...]"."""
    parts: list[str | int] = []
    for p in re.findall(r"\.[^.\[]+|\[[^\]]*\]", path):
        parts.append(p[1:] if p.startswith(".") else int(p[1:-1]) if p[1:-1].isdigit() else p)
    return parts


def join_path(parts: list[str | int]) -> str:
    """["drivers", 0, "id"] -> "drivers[0].id"."""
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else p if p.startswith("[") else ("." if out else "") + p
    return out


def explain(exc: msgspec.ValidationError, *, unknown: str = "unknown field",
            choices: Any = None) -> tuple[list[str | int], str]:
    """(path, reason) for one msgspec error; the path includes the field a message names.

    `choices(path)` may return the allowed values for an enum error at that path.
    """
    m = _AT.match(str(exc))
    assert m is not None  # the pattern matches any text
    msg, path = m["msg"], split_path(m["path"] or "")
    if hit := _TYPE.match(msg):
        return path, f"expected {_want(hit['want'])}, got {_WORDS.get(hit['got'], hit['got'])}"
    if hit := _BOUND.match(msg):
        return path, f"input should be {_BOUNDS[hit['op']]} {_limit(hit['limit'])}"
    if hit := _LENGTH.match(msg):
        unit = ("character" if hit["what"] == "str" else "item") + ("" if hit["n"] == "1" else "s")
        return path, f"should have {'at least' if hit['op'] == '>=' else 'at most'} {hit['n']} {unit}"
    if hit := _PATTERN.match(msg):
        return path, f"should match pattern {hit['pattern']}"
    if hit := _UNKNOWN.match(msg):
        return [*path, hit["name"]], unknown
    if hit := _MISSING.match(msg):
        return [*path, hit["name"]], "required field missing"
    if hit := _ENUM.match(msg):
        allowed = choices(path) if choices is not None else None
        return path, f"{hit['value']} is not one of {allowed}" if allowed else f"invalid value {hit['value']}"
    return path, msg[:1].lower() + msg[1:]


def _non_finite(obj: Mapping[str, Any]) -> Iterator[str]:
    for key, value in obj.items():
        if isinstance(value, float) and not math.isfinite(value):
            yield key


class FlatModel:
    """A flat msgspec Struct (fields of scalars) validated strictly, reporting up to three bad fields."""

    def __init__(self, struct: type[msgspec.Struct]) -> None:
        self.struct = struct
        info = mi.type_info(struct)
        assert isinstance(info, mi.StructType)
        self.fields = {f.encode_name: f for f in info.fields}
        self.types = {f.name: f.type for f in msgspec.structs.fields(struct)}

    def convert(self, obj: Any, prefix: str) -> Any:
        """The validated struct, or ValueError whose text lists the reasons (each starting with its field)."""
        if isinstance(obj, Mapping) and not any(_non_finite(obj)):
            try:
                return msgspec.convert(obj, self.struct, strict=True)
            except msgspec.ValidationError:
                pass
        reasons = list(self.reasons(obj, prefix))
        if not reasons:  # cannot happen unless msgspec and this walk disagree; keep msgspec's word
            try:
                return msgspec.convert(obj, self.struct, strict=True)
            except msgspec.ValidationError as exc:
                reasons = [str(exc)]
        text = "; ".join(reasons[:3])
        if len(reasons) > 3:
            text += f"; and {len(reasons) - 3} more"
        raise ValueError(text)

    def reasons(self, obj: Any, prefix: str) -> Iterator[str]:
        """Every problem of obj, field by field."""
        where = (prefix + ".") if prefix else ""
        if not isinstance(obj, Mapping):
            yield f"{prefix or 'payload'}: expected object, got {json_type(obj)}"
            return
        for key in obj:
            if key not in self.fields:
                yield f"{where}{str(key)[:40]}: unknown field"
        for name, f in self.fields.items():
            if name not in obj:
                if f.required:
                    yield f"{where}{name}: required field missing"
                continue
            value = obj[name]
            if isinstance(value, float) and not math.isfinite(value):
                yield f"{where}{name}: must be a finite number"
                continue
            try:
                msgspec.convert(value, self.types[f.name], strict=True)
            except msgspec.ValidationError as exc:
                _, reason = explain(exc, choices=lambda _p, t=f.type: _literal_values(t))
                yield f"{where}{name}: {reason}"


def _literal_values(info: Any) -> tuple | None:
    """The allowed values of a Literal (possibly optional) field."""
    if isinstance(info, mi.UnionType):
        for t in info.types:
            if isinstance(t, mi.LiteralType):
                return t.values
    return info.values if isinstance(info, mi.LiteralType) else None


def choices_at(root: Any, obj: Any, path: list[str | int]) -> tuple | None:
    """Allowed values of the Literal/enum field at `path` of `obj` validated as `root` (a type_info tree)."""
    info = root
    for part in path:
        info = _step(info, obj)
        if isinstance(part, int):
            info = info.item_type if isinstance(info, (mi.ListType, mi.VarTupleType)) else None
        elif isinstance(info, mi.DictType):
            info = info.value_type
        elif isinstance(info, mi.StructType):
            info = next((f.type for f in info.fields if f.encode_name == part), None)
        else:
            return None
        try:
            obj = obj[part]
        except (KeyError, IndexError, TypeError):
            obj = None
    info = _step(info, obj)
    if isinstance(info, mi.EnumType):
        return tuple(e.value for e in info.cls)
    return _literal_values(info)


def _step(info: Any, obj: Any) -> Any:
    """Unwrap metadata, optional and tagged unions (choosing the variant by obj's tag)."""
    if isinstance(info, mi.Metadata):
        info = info.type
    if isinstance(info, mi.UnionType):
        structs = [t for t in info.types if isinstance(t, mi.StructType)]
        if structs and isinstance(obj, Mapping):
            tag_field = structs[0].tag_field
            match = [t for t in structs if tag_field and obj.get(tag_field) == t.tag]
            return match[0] if match else structs[0]
        rest = [t for t in info.types if not isinstance(t, mi.NoneType)]
        return rest[0] if len(rest) == 1 else info
    return info
