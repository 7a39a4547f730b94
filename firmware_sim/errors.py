"""Errors of the simulator (all are ShouwangError, so the CLI prints them and exits 2).

    SimError
      ScenarioError       a scenario file is wrong: names the file, line and field
      RecordFormatError   a record file is not a Shouwang recording (names file and line)
      TransportError      the broker refused us, or a gateway has no credentials
"""

from __future__ import annotations

from pathlib import Path

from ground.errors import ShouwangError


class SimError(ShouwangError):
    """Base of the simulator's errors."""


class ScenarioError(SimError):
    """A scenario file that cannot be used, with where and what."""

    def __init__(self, file: Path | str, line: int | None, field: str, reason: str) -> None:
        where = f"{file}:{line}" if line else str(file)
        super().__init__(f"{where}: {field}: {reason}" if field else f"{where}: {reason}")
        self.file = str(file)
        self.line = line
        self.field = field
        self.reason = reason


class RecordFormatError(SimError):
    """A record file that is not a readable Shouwang recording."""


class TransportError(SimError):
    """The broker could not be reached or refused a gateway."""
