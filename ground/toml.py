"""Reading a TOML config file with errors that name the file (shared by server and agent configs)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from ground.errors import ConfigError


def read_toml(path: Path | str) -> dict[str, Any]:
    """Parse a TOML file; ConfigError names the file and, for syntax errors, the line."""
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from None
