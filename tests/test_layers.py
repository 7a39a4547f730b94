"""Imports point down: a package imports only packages on lower floors (README, "What is here").

The floors are declared once, in the README's `floor N  pkg pkg ...` table; this test reads them from there,
so the README and the tree cannot disagree. Every import counts: at the top of a module, inside a function,
under TYPE_CHECKING, and `importlib.import_module("pkg...")` with a literal name. A package on no floor,
a floor naming a directory that is not a package, an import sideways (same floor) or upwards fails.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: project directories that are not packages the parts may import (they import the parts)
NOT_IMPORTABLE = frozenset({"tests", "benchmarks", "scripts", "scenarios", "deploy", "docs"})
FLOOR_LINE = re.compile(r"^floor (\d+) {2}(\S.*)$")


@dataclass(frozen=True, slots=True)
class Violation:
    file: str
    line: int
    importer: str
    imported: str
    why: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.importer} imports {self.imported} ({self.why})"


def read_floors(readme: Path) -> dict[str, int]:
    """package -> floor, from the README's table (each package on exactly one floor)."""
    floors: dict[str, int] = {}
    for text in readme.read_text(encoding="utf-8").splitlines():
        m = FLOOR_LINE.match(text)
        if not m:
            continue
        for pkg in m.group(2).split():
            assert pkg not in floors, f"{pkg} is on two floors in {readme.name}"
            floors[pkg] = int(m.group(1))
    return floors


def packages(root: Path) -> set[str]:
    """The project's top-level packages (directories with an __init__.py), tests and the like excluded."""
    return {p.name for p in root.iterdir() if (p / "__init__.py").is_file() and p.name not in NOT_IMPORTABLE}


def imported_names(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """(line, absolute module name) of every import in a module, wherever it stands."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module
        elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)
              and ((isinstance(node.func, ast.Attribute) and node.func.attr == "import_module")
                   or (isinstance(node.func, ast.Name) and node.func.id in ("import_module", "__import__")))):
            yield node.lineno, node.args[0].value


def violations(root: Path, floors: dict[str, int]) -> list[Violation]:
    """Every import between top-level packages that does not point to a lower floor."""
    pkgs = packages(root)
    out = [Violation("README.md", 0, pkg, "-", "on no floor") for pkg in sorted(pkgs - floors.keys())]
    out += [Violation("README.md", 0, name, "-", "on a floor but not a package") for name in sorted(floors.keys() - pkgs)]
    project = pkgs | NOT_IMPORTABLE
    for pkg in sorted(pkgs & floors.keys()):
        for path in sorted((root / pkg).rglob("*.py")):
            rel = path.relative_to(root).as_posix()
            for line, name in imported_names(ast.parse(path.read_text(encoding="utf-8"), rel)):
                top = name.split(".")[0]
                if top == pkg or top not in project:
                    continue
                if top in NOT_IMPORTABLE:
                    out.append(Violation(rel, line, pkg, name, f"{top}/ is not importable by the parts"))
                elif top in floors and floors[top] >= floors[pkg]:
                    where = "sideways, same floor" if floors[top] == floors[pkg] else "upwards"
                    out.append(Violation(rel, line, pkg, name,
                                         f"{where}: floor {floors[pkg]} -> floor {floors[top]}"))
    return out


def test_every_import_points_to_a_lower_floor() -> None:
    floors = read_floors(ROOT / "README.md")
    assert len(set(floors.values())) >= 5, f"the README's floor table was not found or lost floors: {floors}"
    found = violations(ROOT, floors)
    assert found == [], "imports that do not point down:\n" + "\n".join(map(str, found))


def _tree(tmp: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        f = tmp / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(text)
    return tmp


def test_the_check_sees_upward_sideways_hidden_and_unplaced_imports(tmp_path: Path) -> None:
    """The checker itself: each kind of wrong import in a small tree is reported, a downward one is not."""
    root = _tree(tmp_path, {
        "README.md": "```text\nfloor 2  top\nfloor 1  alerts  notify\nfloor 0  ground\n```\n",
        "ground/__init__.py": "",
        "ground/clock.py": "import importlib\nmod = importlib.import_module('alerts.clock')\n",
        "alerts/__init__.py": "",
        "alerts/service.py": ("from ground.clock import now\n"
                              "def make():\n    from notify.dispatch import ChannelNotifier\n"),
        "alerts/settings.py": ("from typing import TYPE_CHECKING\n"
                               "if TYPE_CHECKING:\n    import top.config\n"),
        "notify/__init__.py": "",
        "notify/base.py": "from ground import clock\nfrom tests.helpers import wait_for\n",
        "top/__init__.py": "from alerts.service import make\nfrom notify.base import clock\n",
        "extra/__init__.py": "",
    })
    floors = read_floors(root / "README.md")
    assert floors == {"top": 2, "alerts": 1, "notify": 1, "ground": 0}
    got = {(v.file, v.line, v.imported, v.why.split(":")[0]) for v in violations(root, floors)}
    assert got == {
        ("README.md", 0, "-", "on no floor"),  # extra/
        ("ground/clock.py", 2, "alerts.clock", "upwards"),
        ("alerts/service.py", 3, "notify.dispatch", "sideways, same floor"),
        ("alerts/settings.py", 3, "top.config", "upwards"),
        ("notify/base.py", 2, "tests.helpers", "tests/ is not importable by the parts"),
    }
