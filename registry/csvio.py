"""Registry CSV import and export: the spreadsheets community staff keep.

One file holds every record type; the `record` column says which (street, community,
grid, building, household, station, zone, device, contact) and `parent` names the code
of the place it belongs to. Columns that do not apply to a record type must be empty.
Rows may come in any order. Phone numbers (`phone` of a contact or a household) are digits with an optional
leading `+`; spaces, '-' and parentheses people type are dropped, so the stored number works as a `tel:` link.
A camera zone's `name` is the local name its cameras' triggers use ("riverside", the key they are matched by); its
`display_name` is what people read ("河岸"; empty: the name). A file without the `resident`, `phone` or `display_name`
column (one written before they existed) leaves those values as they are. Every bad row is reported by row number (as
a spreadsheet shows it: the header is row 1) and column; good rows are imported, each whole or not at all, in one
transaction; a row whose parent was rejected is rejected too, saying so. Into an empty registry (a new install,
a backtest's private database) the good rows are written with one INSERT per table and level instead of one
savepoint per row, with the same checks and the same errors (~40x faster for 10,000 households).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from ground.csvfile import CsvTable, decode
from ground.errors import ShouwangError
from registry.model import bump_revision, format_hhmm_range, parse_hhmm_range
from registry.tables import CameraZone, Contact, Device, Household, Node, RiverStation
from registry.types import PARENT_LEVELS, ROLE_LEVEL, HouseholdFlag, Level, Role
from storage.sql import Database
from wire.ids import is_valid_id

log = logging.getLogger(__name__)

COLUMNS = ("record", "code", "parent", "name", "flags", "sleep", "window_h", "max_window_h", "away_until", "gateway",
           "kind", "interval_s", "step_l", "warning_m", "guaranteed_m", "rise_m_per_h", "schedule", "types", "role",
           "channels", "language", "quiet_hours", "resident", "phone", "display_name")
RECORDS = ("street", "community", "grid", "building", "household", "station", "zone", "device", "contact")
_COMMON = {"record", "code", "parent", "name"}
APPLIES: dict[str, set[str]] = {
    **{r: set(_COMMON) for r in ("street", "community", "grid", "building")},
    "household": _COMMON | {"flags", "sleep", "window_h", "away_until", "resident", "phone", "max_window_h"},
    "station": _COMMON | {"warning_m", "guaranteed_m", "rise_m_per_h"},
    "zone": _COMMON | {"schedule", "types", "display_name"},
    "device": _COMMON | {"gateway", "kind", "interval_s", "step_l"},
    "contact": _COMMON | {"role", "channels", "language", "quiet_hours", "phone"},
}
#: where each device kind may be bound
DEVICE_PLACES = {"water_meter": (Level.HOUSEHOLD,), "call_button": (Level.HOUSEHOLD,),
                 "river_gauge": (Level.STATION,), "camera": (Level.ZONE,)}
CAMERA_TYPES = {"motion", "intrusion", "line_crossing", "person"}
CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
WINDOW_RANGE_H = (6.0, 8.0)
MAX_WINDOW_H = 24.0  # the most a maximum staff approve may be (the engine's hard cap still applies)
PHONE_DIGITS = (3, 15)  # 110-style service numbers up to E.164's 15 digits
_PHONE_SEPARATORS = re.compile(r"[\s\-()（）]+")


class RegistryFileError(ShouwangError):
    """The file as a whole cannot be read (encoding, header)."""


@dataclass(frozen=True, slots=True)
class RowError:
    row: int
    column: str
    message: str

    def __str__(self) -> str:
        return f"row {self.row}, column {self.column}: {self.message}"


@dataclass
class ImportReport:
    rows: int = 0
    created: int = 0
    updated: int = 0
    errors: list[RowError] = field(default_factory=list)
    dry_run: bool = False

    @property
    def rejected_rows(self) -> int:
        return len({e.row for e in self.errors})

    def summary(self) -> str:
        verb = "would import" if self.dry_run else "imported"
        return (f"{self.rows} row{'' if self.rows == 1 else 's'}: {verb} {self.created + self.updated} "
                f"({self.created} new, {self.updated} updated), rejected {self.rejected_rows}")


@dataclass
class _Row:
    row: int
    record: str
    code: str
    parent: str
    values: dict[str, Any]


class _Bad(Exception):
    def __init__(self, column: str, message: str) -> None:
        super().__init__(message)
        self.column = column
        self.message = message


# --- field parsers -------------------------------------------------------------------


def _float(col: str, text: str, *, lo: float | None = None, hi: float | None = None) -> float:
    try:
        v = float(text)
    except ValueError:
        raise _Bad(col, f"{text!r} is not a number") from None
    if v != v or v in (float("inf"), float("-inf")):
        raise _Bad(col, "must be a finite number")
    if lo is not None and v < lo or hi is not None and v > hi:
        raise _Bad(col, f"{v:g} is outside {lo:g}..{hi:g}" if hi is not None else f"must be at least {lo:g}")
    return v


def _range(col: str, text: str) -> tuple[int, int] | None:
    try:
        return parse_hhmm_range(text)
    except ValueError as exc:
        raise _Bad(col, str(exc)) from None


def _phone(col: str, text: str) -> str:
    """A phone number as stored: digits with an optional leading +, separators people type dropped."""
    number = _PHONE_SEPARATORS.sub("", text)
    digits = number.removeprefix("+")
    lo, hi = PHONE_DIGITS
    if not digits.isascii() or not digits.isdigit():
        raise _Bad(col, "a phone number is digits with an optional leading + (spaces, '-' and brackets allowed)")
    if not lo <= len(digits) <= hi:
        raise _Bad(col, f"a phone number has {lo} to {hi} digits, this one {len(digits)}")
    return number


def _optional_phone(raw: dict[str, str]) -> str | None:
    """The row's phone; "" if the cell is empty; None if the file has no phone column."""
    if "phone" not in raw:
        return None
    return _phone("phone", raw["phone"]) if raw["phone"] else ""


def _parse_values(record: str, raw: dict[str, str]) -> dict[str, Any]:
    v: dict[str, Any] = {"name": raw.get("name", "")}
    if record == "household":
        flags = [f for f in re.split(r"[;,\s]+", raw.get("flags", "")) if f]
        bad = [f for f in flags if f not in {x.value for x in HouseholdFlag}]
        if bad:
            raise _Bad("flags", f"unknown flag {bad[0]!r}, expected {sorted(x.value for x in HouseholdFlag)}")
        v["flags"] = ",".join(flags)
        v["sleep"] = _range("sleep", raw.get("sleep", "")) or (22 * 60, 6 * 60 + 30)
        lo, hi = WINDOW_RANGE_H
        v["window_h"] = _float("window_h", raw["window_h"], lo=lo, hi=hi) if raw.get("window_h") else 7.0
        away = raw.get("away_until", "")
        try:
            v["away_until"] = dt.date.fromisoformat(away).isoformat() if away else None
        except ValueError:
            raise _Bad("away_until", f"{away!r} is not a date like 2026-12-31") from None
        v["resident"] = raw.get("resident")  # None: the file has no such column, keep what is stored
        most = raw.get("max_window_h")  # None: no such column (keep what is stored); empty: none approved
        v["max_window_h"] = None if most is None else "" if not most.strip() else _float(
            "max_window_h", most, lo=v["window_h"], hi=MAX_WINDOW_H)
        v["phone"] = _optional_phone(raw)
    elif record == "station":
        for col in ("warning_m", "guaranteed_m", "rise_m_per_h"):
            if not raw.get(col):
                raise _Bad(col, "required for a river station")
        v["warning_m"] = _float("warning_m", raw["warning_m"], lo=-1000, hi=10000)
        v["guaranteed_m"] = _float("guaranteed_m", raw["guaranteed_m"], lo=-1000, hi=10000)
        if v["guaranteed_m"] <= v["warning_m"]:
            raise _Bad("guaranteed_m", f"guaranteed level {v['guaranteed_m']:g} m must be above the warning level "
                                       f"{v['warning_m']:g} m")
        v["rise_m_per_h"] = _float("rise_m_per_h", raw["rise_m_per_h"], lo=0.001, hi=100)
    elif record == "zone":
        v["schedule"] = format_hhmm_range(_range("schedule", raw.get("schedule", "")))
        types = [t for t in re.split(r"[;,\s]+", raw.get("types", "")) if t] or ["intrusion", "line_crossing", "person"]
        bad = [t for t in types if t not in CAMERA_TYPES]
        if bad:
            raise _Bad("types", f"unknown camera trigger type {bad[0]!r}, expected {sorted(CAMERA_TYPES)}")
        v["types"] = ",".join(types)
        v["display_name"] = raw.get("display_name")  # None: the file has no such column, keep what is stored
    elif record == "device":
        kind = raw.get("kind", "")
        if kind not in DEVICE_PLACES:
            raise _Bad("kind", f"{kind!r} is not one of {sorted(DEVICE_PLACES)}")
        v["kind"] = kind
        gw = raw.get("gateway", "")
        if gw and not is_valid_id(gw):
            raise _Bad("gateway", f"{gw!r} is not a valid gateway id (lowercase letters, digits, '-')")
        v["gateway"] = gw
        v["interval_s"] = int(_float("interval_s", raw["interval_s"], lo=1, hi=7 * 86400)) if raw.get(
            "interval_s") else None
        v["step_l"] = _float("step_l", raw["step_l"], lo=0.001, hi=1000) if raw.get("step_l") else None
        if v["step_l"] is not None and kind != "water_meter":
            raise _Bad("step_l", "only water meters have a register step")
    elif record == "contact":
        role = raw.get("role", "")
        if role not in {r.value for r in Role}:
            raise _Bad("role", f"{role!r} is not one of {sorted(r.value for r in Role)}")
        v["role"] = role
        chans = [c for c in re.split(r"[\s;]+", raw.get("channels", "")) if c]
        if not chans:
            raise _Bad("channels", "at least one Apprise URL (e.g. wecombot://KEY, mailto://user@host) is needed")
        for c in chans:
            if not re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://\S+$", c):
                raise _Bad("channels", f"entry {chans.index(c) + 1} is not an Apprise URL (scheme://...)")
        v["channels"] = " ".join(chans)
        lang = raw.get("language", "") or "zh"
        if lang not in ("zh", "en"):
            raise _Bad("language", f"{lang!r} is not zh or en")
        v["language"] = lang
        v["quiet_hours"] = format_hhmm_range(_range("quiet_hours", raw.get("quiet_hours", "")))
        v["phone"] = _optional_phone(raw)
    return v


def _parse_row(rownum: int, raw: dict[str, str]) -> _Row:
    record = raw.get("record", "").lower()
    if record not in RECORDS:
        raise _Bad("record", f"{record!r} is not one of {', '.join(RECORDS)}")
    code = raw.get("code", "")
    if not code:
        raise _Bad("code", "required")
    if record == "device" and not is_valid_id(code):
        raise _Bad("code", f"{code!r} is not a valid device id (lowercase letters, digits, '-', as on the wire)")
    if record != "device" and not CODE_RE.match(code):
        raise _Bad("code", f"{code!r}: codes are letters, digits, '.', '_', '-' (at most 64)")
    parent = raw.get("parent", "")
    if record != "street" and not parent:
        raise _Bad("parent", f"a {record} needs the code of the place it belongs to")
    if record == "street" and parent:
        raise _Bad("parent", "a street is the top of the hierarchy and has no parent")
    for col, text in raw.items():
        if text and col not in APPLIES[record]:
            raise _Bad(col, f"does not apply to a {record} record (leave it empty)")
    return _Row(rownum, record, code, parent, _parse_values(record, raw))


# --- reading ---------------------------------------------------------------------------


def read_rows(text: str, source: str = "<csv>") -> tuple[list[_Row], list[RowError], int, dict[str, int]]:
    """Parse CSV text into rows, per-row errors, the row count and {code: row} of rows that failed."""
    table = CsvTable(text, source, COLUMNS, ("record", "code", "parent"), RegistryFileError)
    header = table.header
    if len(set(header)) != len(header):
        raise RegistryFileError(f"{source}: row 1: a column appears twice")
    rows: list[_Row] = []
    errors: list[RowError] = []
    failed: dict[str, int] = {}
    total = 0
    for line, cells in table.rows():
        if isinstance(cells, csv.Error):
            errors.append(RowError(table.line_num, "-", f"unreadable CSV: {cells}"))
            break
        total += 1
        if len(cells) != len(header):
            errors.append(RowError(line, "-", f"{len(cells)} cells, the header has {len(header)}"))
            continue
        raw = {h: c.strip() for h, c in zip(header, cells, strict=True)}
        try:
            rows.append(_parse_row(line, raw))
        except _Bad as bad:
            errors.append(RowError(line, bad.column, bad.message))
            if raw.get("code"):
                failed.setdefault(raw["code"], line)
    return rows, errors, total, failed


# --- applying ----------------------------------------------------------------------------


class _Importer:
    def __init__(self, session: Session, report: ImportReport) -> None:
        self.s = session
        self.report = report
        self.nodes: dict[str, Node] = {n.code: n for n in session.scalars(select(Node))}
        self.contacts = {c.code: c for c in session.scalars(select(Contact))}
        self.devices = {d.id: d for d in session.scalars(select(Device))}
        self.rejected: dict[str, int] = {}  # code -> row that was rejected

    def _parent(self, row: _Row, allowed: Iterable[Level]) -> Node:
        allowed = tuple(allowed)
        if row.parent in self.rejected:
            raise _Bad("parent", f"parent {row.parent!r} was rejected (row {self.rejected[row.parent]})")
        node = self.nodes.get(row.parent)
        if node is None:
            raise _Bad("parent", f"no place with code {row.parent!r} in the registry or this file")
        if Level(node.level) not in allowed:
            raise _Bad("parent", f"{row.parent!r} is a {node.level}; a {row.record} belongs to a "
                                 f"{' or '.join(a.value for a in allowed)}")
        return node

    def apply(self, row: _Row) -> None:
        v = row.values
        if row.record == "device":
            if row.code in self.rejected:
                raise _Bad("code", f"{row.code!r} appears in a rejected row")
            parent = self._parent(row, DEVICE_PLACES[v["kind"]])
            dev = self.devices.get(row.code)
            self._count(dev is None)
            if dev is None:
                dev = self.devices[row.code] = Device(id=row.code)
                self.s.add(dev)
            dev.gateway, dev.kind, dev.node_id = v["gateway"], v["kind"], parent.id
            dev.interval_s, dev.meter_step_l = v["interval_s"], v["step_l"]
            return
        if row.record == "contact":
            parent = self._parent(row, (ROLE_LEVEL[Role(v["role"])],))
            c = self.contacts.get(row.code)
            self._count(c is None)
            if c is None:
                c = self.contacts[row.code] = Contact(code=row.code)
                self.s.add(c)
            c.node_id, c.role, c.name, c.channels = parent.id, v["role"], v["name"], v["channels"]
            c.language, c.quiet_hours = v["language"], v["quiet_hours"]
            if v["phone"] is not None:
                c.phone = v["phone"]
            return
        level = Level(row.record)
        parent = self._parent(row, PARENT_LEVELS[level]) if PARENT_LEVELS[level] else None
        node = self.nodes.get(row.code)
        if node is not None and node.level != level.value:
            raise _Bad("code", f"{row.code!r} is already a {node.level}; codes are unique across all places")
        self._count(node is None)
        if node is None:
            node = self.nodes[row.code] = Node(code=row.code, level=level.value)
            self.s.add(node)
        node.parent_id = parent.id if parent else None
        node.name = v["name"]
        self.s.flush()  # children in this file need the id
        if level is Level.HOUSEHOLD:
            h = node.household or Household(node_id=node.id)
            h.flags, (h.sleep_start_min, h.sleep_end_min) = v["flags"], v["sleep"]
            h.window_h, h.away_until = v["window_h"], v["away_until"]
            for col in ("resident", "phone"):
                if v[col] is not None:
                    setattr(h, col, v[col])
            if v["max_window_h"] is not None:
                h.max_window_h = v["max_window_h"] or None
            node.household = h
        elif level is Level.STATION:
            st = node.station or RiverStation(node_id=node.id, warning_m=0, guaranteed_m=0, rise_m_per_h=0)
            st.warning_m, st.guaranteed_m, st.rise_m_per_h = v["warning_m"], v["guaranteed_m"], v["rise_m_per_h"]
            node.station = st
        elif level is Level.ZONE:
            z = node.zone or CameraZone(node_id=node.id)
            z.schedule, z.types = v["schedule"], v["types"]
            if v["display_name"] is not None:
                z.display_name = v["display_name"]
            node.zone = z

    def _count(self, new: bool) -> None:
        if new:
            self.report.created += 1
        else:
            self.report.updated += 1


@dataclass(slots=True)
class _Place:
    """A place checked for the bulk import (written later, a level at a time)."""
    code: str
    level: str
    id: int | None = None


class _BulkImporter(_Importer):
    """The import into an empty registry (a new install, a backtest's private database): every row is checked
    exactly as _Importer.apply checks it, then all of them are written in one transaction with one INSERT per
    table and level instead of a savepoint and a flush per row (~1.4 ms a row). If the database refuses the
    batch, the caller rolls back and imports row by row, which names the refused rows."""

    def __init__(self, session: Session, report: ImportReport) -> None:
        super().__init__(session, report)
        self.accepted: list[tuple[_Row, _Place | None]] = []

    def apply(self, row: _Row) -> None:
        v = row.values
        if row.record == "device":
            if row.code in self.rejected:
                raise _Bad("code", f"{row.code!r} appears in a rejected row")
            parent = self._parent(row, DEVICE_PLACES[v["kind"]])
        elif row.record == "contact":
            parent = self._parent(row, (ROLE_LEVEL[Role(v["role"])],))
        else:
            level = Level(row.record)
            parent = self._parent(row, PARENT_LEVELS[level]) if PARENT_LEVELS[level] else None
            self.nodes[row.code] = _Place(row.code, level.value)  # type: ignore[assignment]
        self._count(True)
        self.accepted.append((row, parent))  # type: ignore[arg-type]

    def write(self) -> None:
        s = self.s
        places: dict[str, _Place] = self.nodes  # type: ignore[assignment]
        for record in RECORDS[:7]:  # a level's parents are of levels before it
            rows = [(r, p) for r, p in self.accepted if r.record == record]
            if not rows:
                continue
            got = s.execute(insert(Node).returning(Node.code, Node.id, sort_by_parameter_order=True),
                            [{"code": r.code, "level": record, "parent_id": p.id if p else None,
                              "name": r.values["name"]} for r, p in rows])
            for code, node_id in got:
                places[code].id = node_id
            if record == "household":
                s.execute(insert(Household), [
                    {"node_id": places[r.code].id, "flags": v["flags"], "sleep_start_min": v["sleep"][0],
                     "sleep_end_min": v["sleep"][1], "window_h": v["window_h"], "away_until": v["away_until"],
                     "resident": v["resident"] or "", "phone": v["phone"] or "",
                     "max_window_h": v["max_window_h"] or None} for r, _ in rows for v in (r.values,)])
            elif record == "station":
                s.execute(insert(RiverStation), [
                    {"node_id": places[r.code].id, "warning_m": r.values["warning_m"],
                     "guaranteed_m": r.values["guaranteed_m"], "rise_m_per_h": r.values["rise_m_per_h"]}
                    for r, _ in rows])
            elif record == "zone":
                s.execute(insert(CameraZone), [
                    {"node_id": places[r.code].id, "schedule": r.values["schedule"], "types": r.values["types"],
                     "display_name": r.values["display_name"] or ""} for r, _ in rows])
        devices = [{"id": r.code, "gateway": r.values["gateway"], "kind": r.values["kind"], "node_id": p.id,
                    "interval_s": r.values["interval_s"], "meter_step_l": r.values["step_l"]}
                   for r, p in self.accepted if r.record == "device"]
        if devices:
            s.execute(insert(Device), devices)
        contacts = [{"code": r.code, "node_id": p.id, "role": v["role"], "name": v["name"], "channels": v["channels"],
                     "language": v["language"], "quiet_hours": v["quiet_hours"], "phone": v["phone"] or ""}
                    for r, p in self.accepted if r.record == "contact" for v in (r.values,)]
        if contacts:
            s.execute(insert(Contact), contacts)


def _apply_rows(imp: _Importer, rows: list[_Row]) -> None:
    """Every row through imp.apply; a rejected row is reported, and its children are rejected with it."""
    report, s = imp.report, imp.s
    bulk = isinstance(imp, _BulkImporter)
    for r in rows:
        try:
            if bulk:
                imp.apply(r)
            else:
                with s.begin_nested():  # a row goes in whole or not at all
                    imp.apply(r)
        except _Bad as bad:
            report.errors.append(RowError(r.row, bad.column, bad.message))
            imp.rejected[r.code] = r.row
            if not bulk:
                _forget(imp, r)
        except SQLAlchemyError as exc:
            report.errors.append(RowError(r.row, "-", f"database refused the row: {type(exc).__name__}"))
            imp.rejected[r.code] = r.row
            _forget(imp, r)


def import_rows(db: Database, text: str, source: str = "<csv>", *, dry_run: bool = False,
                strict: bool = False, log_summary: bool = True) -> ImportReport:
    """Validate and import registry rows; see the module docstring for the rules. The summary is logged (for
    services) unless `log_summary` is False (a command that prints it)."""
    rows, errors, total, failed = read_rows(text, source)
    report = ImportReport(rows=total, errors=list(errors), dry_run=dry_run)
    seen: dict[tuple[str, str], int] = {}
    unique_rows = []
    for r in rows:
        space = "device" if r.record == "device" else "contact" if r.record == "contact" else "node"
        first = seen.setdefault((space, r.code), r.row)
        if first != r.row:
            report.errors.append(RowError(r.row, "code", f"{r.code!r} is already given in row {first}"))
            continue
        unique_rows.append(r)
    order = {rec: i for i, rec in enumerate(RECORDS)}
    unique_rows.sort(key=lambda r: (order[r.record], r.row))
    parse_errors = list(report.errors)
    with db.session() as s:
        imp: _Importer = _Importer(s, report)
        if not (imp.nodes or imp.contacts or imp.devices):  # an empty registry: all rows in one go
            imp = _BulkImporter(s, report)
            imp.rejected.update(failed)
            _apply_rows(imp, unique_rows)
            try:
                imp.write()
            except SQLAlchemyError as exc:  # refused: again row by row, which names the rows
                log.info("registry import from %s: the bulk insert was refused (%s); importing row by row",
                         source, type(exc).__name__)
                s.rollback()
                report.created = report.updated = 0
                report.errors = list(parse_errors)
                imp = _Importer(s, report)
            else:
                imp = None  # type: ignore[assignment]
        if imp is not None:
            imp.rejected.update(failed)
            _apply_rows(imp, unique_rows)
        report.errors.sort(key=lambda e: e.row)
        if dry_run or (strict and report.errors):
            s.rollback()
            if strict and report.errors:
                report.created = report.updated = 0
            return report
        bump_revision(s)
        s.commit()
    if log_summary:
        log.info("registry import from %s: %s", source, report.summary())
    return report


def _forget(imp: _Importer, r: _Row) -> None:
    """Drop in-memory references to objects whose savepoint was rolled back."""
    for cache in (imp.nodes, imp.contacts, imp.devices):
        obj = cache.get(r.code)
        if obj is not None and obj not in imp.s:
            del cache[r.code]


def import_file(db: Database, path: Path, **kw: Any) -> ImportReport:
    """Import a registry CSV file."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise RegistryFileError(f"{path}: {exc.strerror}") from None
    return import_rows(db, decode(data, str(path), RegistryFileError), str(path), **kw)


# --- export ------------------------------------------------------------------------------


def export_rows(db: Database) -> list[dict[str, str]]:
    """Every registry record as CSV rows, parents before children (re-importable)."""
    out: list[dict[str, str]] = []
    with db.session() as s:
        nodes = list(s.scalars(select(Node)))
        by_id = {n.id: n for n in nodes}
        order = {rec: i for i, rec in enumerate(RECORDS)}

        def row(**kw: Any) -> dict[str, str]:
            return {c: "" if kw.get(c) is None else _fmt(kw.get(c)) for c in COLUMNS}

        for n in sorted(nodes, key=lambda n: (order[n.level], n.code)):
            parent = by_id[n.parent_id].code if n.parent_id else ""
            extra: dict[str, Any] = {}
            if n.household:
                h = n.household
                extra = {"flags": h.flags.replace(",", ";"), "window_h": h.window_h, "away_until": h.away_until,
                         "sleep": format_hhmm_range((h.sleep_start_min, h.sleep_end_min)),
                         "resident": h.resident, "phone": h.phone, "max_window_h": h.max_window_h}
            elif n.station:
                extra = {"warning_m": n.station.warning_m, "guaranteed_m": n.station.guaranteed_m,
                         "rise_m_per_h": n.station.rise_m_per_h}
            elif n.zone:
                extra = {"schedule": n.zone.schedule, "types": n.zone.types.replace(",", ";"),
                         "display_name": n.zone.display_name}
            out.append(row(record=n.level, code=n.code, parent=parent, name=n.name, **extra))
        for d in sorted(s.scalars(select(Device)), key=lambda d: d.id):
            out.append(row(record="device", code=d.id, parent=by_id[d.node_id].code, gateway=d.gateway,
                           kind=d.kind, interval_s=d.interval_s, step_l=d.meter_step_l))
        for c in sorted(s.scalars(select(Contact)), key=lambda c: c.code):
            out.append(row(record="contact", code=c.code, parent=by_id[c.node_id].code, name=c.name, role=c.role,
                           channels=c.channels, language=c.language, quiet_hours=c.quiet_hours, phone=c.phone))
    return out


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def export_text(db: Database) -> str:
    buf = io.StringIO(newline="")
    w = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\r\n")
    w.writeheader()
    w.writerows(export_rows(db))
    return buf.getvalue()


def export_file(db: Database, path: Path) -> int:
    """Write the registry to a CSV file (UTF-8 with BOM so spreadsheets detect it); returns rows."""
    text = export_text(db)
    path.write_bytes(("\ufeff" + text).encode("utf-8"))
    return text.count("\r\n") - 1
