"""Load a scenario by name (shipped under scenarios/) or path, with errors naming file, line and field."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import get_args

from pydantic import ValidationError

from firmware_sim.errors import ScenarioError
from firmware_sim.scenario.community import Community, RefError, build_community
from firmware_sim.scenario.locate import key_lines, line_of
from firmware_sim.scenario.schema import Incident, ScenarioFile
from wire.ids import ID_PATTERN

#: scenarios shipped with Shouwang (top-level scenarios/ folder of the repository)
SCENARIO_DIR = Path(__file__).resolve().parents[2] / "scenarios"


def list_scenarios() -> list[Path]:
    """Paths of the shipped scenario files, by name."""
    return sorted(SCENARIO_DIR.glob("*.toml"))


def scenario_path(name: str | Path) -> Path:
    """The file of a scenario name ("demo") or path ("./my.toml")."""
    text = str(name)
    if text.endswith(".toml") or "/" in text:
        path = Path(text)
        if not path.is_file():
            raise ScenarioError(path, None, "", "no such scenario file")
        return path
    path = SCENARIO_DIR / f"{text}.toml"
    if not path.is_file():
        names = ", ".join(p.stem for p in list_scenarios())
        raise ScenarioError(text, None, "", f"no shipped scenario of that name (shipped: {names}); "
                                            "give a path to use your own file")
    return path


def _field(loc: tuple) -> str:
    """incidents.1.typhoon.peak_m -> incidents[1].peak_m (pydantic's union tags dropped)."""
    out = ""
    prev_int = False
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
            prev_int = True
            continue
        part = str(part)
        if not all(c.isalnum() or c in "_-" for c in part):
            break  # a union member name such as "tuple[int, int]": the field ends before it
        if prev_int and part in _TAGS:
            prev_int = False
            continue
        out += f".{part}" if out else part
        prev_int = False
    return out


#: incident types (the discriminator values of the Incident union)
_TAGS = {get_args(m.model_fields["type"].annotation)[0] for m in get_args(get_args(Incident)[0])}


def _message(err: dict) -> str:
    etype = err["type"]
    if etype == "extra_forbidden":
        return "unknown key"
    if etype == "missing":
        return "required key missing"
    if etype == "union_tag_invalid":
        return f"unknown incident type {err['input'].get('type')!r}; expected one of {sorted(_TAGS)}"
    if etype == "union_tag_not_found":
        return f"an incident needs a type, one of {sorted(_TAGS)}"
    if etype == "string_pattern_mismatch" and err["ctx"].get("pattern") == ID_PATTERN:
        return (f"{err['input']!r} is not a valid id: lowercase letters, digits and '-', "
                "starting with a letter or digit, at most 64 characters")
    msg = err["msg"]
    return msg[len("Value error, "):] if msg.startswith("Value error, ") else msg


def parse_scenario(text: str, file: str | Path, seed: int | None = None) -> Community:
    """Parse and check scenario text; ScenarioError names the file, line and field of the first problem."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        line = None
        if "(at line " in msg:
            try:
                line = int(msg.rsplit("(at line ", 1)[1].split(",")[0].rstrip(")"))
            except ValueError:
                line = None
        raise ScenarioError(file, line, "", f"not valid TOML: {msg}") from None
    lines = key_lines(text)
    try:
        parsed = ScenarioFile.model_validate(data)
    except ValidationError as exc:
        # a misspelt key also makes its right spelling "missing": report the unknown key first;
        # of a union's alternatives, the deepest error is the one about the form that was used
        errors = sorted(exc.errors(include_url=False),
                        key=lambda e: (e["type"] != "extra_forbidden", -len(e["loc"])))
        first = errors[0]
        # a union (value or [low, high]) reports once per member: keep the first, say how many others
        fields = {_field(e["loc"]) for e in errors}
        reason = _message(first)
        if len(fields) > 1:
            reason += f" (and {len(fields) - 1} more problem(s))"
        raise ScenarioError(file, line_of(lines, first["loc"]), _field(first["loc"]), reason) from None
    try:
        return build_community(parsed, str(file), seed)
    except RefError as exc:
        raise ScenarioError(file, line_of(lines, exc.loc), _field(exc.loc), exc.reason) from None


def load_scenario(name: str | Path, seed: int | None = None) -> Community:
    """Load a shipped scenario by name, or a scenario file by path."""
    path = scenario_path(name)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(path, None, "", f"cannot read: {exc}") from None
    return parse_scenario(text, path, seed)
