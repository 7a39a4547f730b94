"""The technician's view: a Rich progress line while running, a summary table at the end.

On a terminal the progress is a live bar (simulated time, messages, rate); when output
is not a terminal (a log file under `shouwang up`, a pipe) it becomes a plain log line
every `log_every` seconds, and the summary is printed without colour codes.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import Any
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

log = logging.getLogger(__name__)


def fmt_ms(ms: int | None, zone: ZoneInfo | None = None) -> str:
    """An epoch-ms instant as local 'YYYY-MM-DD HH:MM:SS'."""
    if ms is None:
        return "-"
    return dt.datetime.fromtimestamp(ms / 1000, zone or dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


class ProgressView:
    """Live progress over simulated time."""

    def __init__(self, console: Console, title: str, start_ms: int, end_ms: int | None, zone: ZoneInfo | None = None,
                 enabled: bool = True, log_every: float = 10.0) -> None:
        self.console = console
        self.start_ms, self.end_ms, self.zone = start_ms, end_ms, zone
        self.live = enabled and console.is_terminal
        self.enabled = enabled
        self.log_every = log_every
        self._t0 = time.monotonic()
        self._next_log = self._t0 + log_every
        self._progress: Progress | None = None
        if self.live:
            self._progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                                      TextColumn("{task.fields[sim]}"), TextColumn("{task.fields[msgs]} msgs"),
                                      TextColumn("{task.fields[rate]} msg/s"), TimeElapsedColumn(),
                                      console=console, transient=False, refresh_per_second=4)
            total = None if end_ms is None else max(1, end_ms - start_ms)
            self._task = self._progress.add_task(title, total=total, sim="", msgs=0, rate=0)
            self._progress.start()

    def update(self, sim_ms: int, messages: int) -> None:
        """Report where the run is (cheap; call often)."""
        now = time.monotonic()
        rate = int(messages / max(1e-6, now - self._t0))
        if self._progress is not None:
            self._progress.update(self._task, completed=max(0, sim_ms - self.start_ms), sim=fmt_ms(sim_ms, self.zone),
                                  msgs=f"{messages:,}", rate=f"{rate:,}")
        elif self.enabled and now >= self._next_log:
            self._next_log = now + self.log_every
            log.info("sim time %s, %d messages, %d msg/s", fmt_ms(sim_ms, self.zone), messages, rate)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


def summary_table(title: str, rows: list[tuple[str, Any]]) -> Table:
    """A two-column summary table."""
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column("what", style="bold")
    table.add_column("value")
    for key, value in rows:
        table.add_row(key, str(value))
    return table
