"""The labels file of a backtest: what really happened to whom, as a CSV staff can keep (docs/evaluation.md).

    household,device,start,end,kind,note
    hh-0007,,2026-03-05 10:20,,emergency,found on the floor at 17:00
    ,wm-0012,2026-03-09T08:00+08:00,2026-03-14 12:00,absence,hospital

One of household (its registry code) or device (a water meter bound to a household) names whom; start (and end)
are ISO 8601 local times (an offset may be given; without one the evaluation's time zone applies) or epoch
milliseconds; kind is `emergency` (the resident's last use of water; aliases fall, inactivity) or `absence`
(out of the flat from start to end, end required; aliases away, hospital, outing). Columns may come in any
order; unknown columns are refused. Each bad row is reported by row number (the header is row 1) and column and
skipped; the good rows are kept.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from evaluation.scoring import Incident
from ground.csvfile import CsvTable
from ground.errors import ShouwangError

COLUMNS = ("household", "device", "start", "end", "kind", "note")
KINDS = {"emergency": "emergency", "fall": "emergency", "inactivity": "emergency",
         "absence": "absence", "away": "absence", "hospital": "absence", "outing": "absence"}


class LabelsFileError(ShouwangError):
    """The labels file as a whole cannot be read."""


@dataclass(frozen=True, slots=True)
class LabelError:
    row: int
    column: str
    message: str

    def __str__(self) -> str:
        return f"row {self.row}, column {self.column}: {self.message}"


class _Bad(Exception):
    def __init__(self, column: str, message: str) -> None:
        super().__init__(message)
        self.column, self.message = column, message


def parse_time(text: str, zone: ZoneInfo, column: str) -> int:
    """Epoch ms of an ISO 8601 local time (offset optional) or of epoch milliseconds."""
    text = text.strip()
    if text.isdigit():
        return int(text)
    try:
        t = dt.datetime.fromisoformat(text)
    except ValueError:
        raise _Bad(column, f"{text!r} is not a time like 2026-03-05 10:20 or 2026-03-05T10:20+08:00") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=zone)
    return int(t.timestamp() * 1000)


def read_labels(text: str, zone: ZoneInfo, households: Mapping[str, bool], meters: Mapping[str, str],
                source: str = "<labels>") -> tuple[list[Incident], list[LabelError]]:
    """Incidents and per-row errors. households: code -> monitored for inactivity; meters: meter -> household."""
    table = CsvTable(text.lstrip("\ufeff"), source, COLUMNS, ("start", "kind"), LabelsFileError)
    header = table.header
    if "household" not in header and "device" not in header:
        raise LabelsFileError(f"{source}: row 1: needs a household or a device column")
    out: list[Incident] = []
    errors: list[LabelError] = []
    for row, cells in table.rows():
        if isinstance(cells, csv.Error):
            errors.append(LabelError(row, "-", f"unreadable CSV: {cells}"))
            continue
        raw = {h: (cells[i].strip() if i < len(cells) else "") for i, h in enumerate(header)}
        try:
            out.append(_row(row, raw, zone, households, meters))
        except _Bad as bad:
            errors.append(LabelError(row, bad.column, bad.message))
    return out, errors


def _row(row: int, raw: dict[str, str], zone: ZoneInfo, households: Mapping[str, bool],
         meters: Mapping[str, str]) -> Incident:
    hh, dev = raw.get("household", ""), raw.get("device", "")
    if not hh and not dev:
        raise _Bad("household", "give a household code or a device id")
    if dev:
        owner = meters.get(dev)
        if owner is None:
            raise _Bad("device", f"{dev!r} is not a water meter of a household in the registry")
        if hh and hh != owner:
            raise _Bad("device", f"{dev!r} belongs to household {owner!r}, not {hh!r}")
        hh = owner
    if hh not in households:
        raise _Bad("household", f"unknown household {hh!r} (not in the registry)")
    if not households[hh]:
        raise _Bad("household", f"household {hh!r} is not monitored for inactivity (no solitary_elderly flag "
                                "or no water meter)")
    kind = KINDS.get(raw.get("kind", "").lower())
    if kind is None:
        raise _Bad("kind", f"{raw.get('kind', '')!r} is not one of {', '.join(KINDS)}")
    if not raw.get("start"):
        raise _Bad("start", "required")
    start = parse_time(raw["start"], zone, "start")
    end = parse_time(raw["end"], zone, "end") if raw.get("end") else None
    if end is not None and end <= start:
        raise _Bad("end", "must be after start")
    if kind == "absence" and end is None:
        raise _Bad("end", "an absence needs its end")
    note = raw.get("note", "") or ("" if raw.get("kind", "").lower() in ("emergency", "absence")
                                   else raw.get("kind", "").lower())
    return Incident(hh, kind, start, end, note, row)
