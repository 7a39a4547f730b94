"""A household's maximum inactivity limit staff approved (`max_window_h`, migration 0007): what learning may relax
the limit up to. Imported from the CSV (checked against the window), kept by a file written before the column,
cleared by an empty cell, exported, and read by the water rule as its upper bound."""

from __future__ import annotations

from alerts.rules.base import RuleContext
from alerts.rules.water import WaterRule
from alerts.settings import AlertsConfig
from registry.csvio import COLUMNS, export_text, import_rows
from registry.model import load_snapshot
from storage.sql import Database

HEADER = ",".join(COLUMNS)


def row(**kw: str) -> str:
    return ",".join(kw.get(c, "") for c in COLUMNS)


def site(max_window: str | None) -> str:
    extra = {} if max_window is None else {"max_window_h": max_window}
    rows = [row(record="street", code="st-1"), row(record="community", code="cm-1", parent="st-1"),
            row(record="grid", code="gr-1", parent="cm-1"), row(record="building", code="bd-1", parent="gr-1"),
            row(record="household", code="hh-1", parent="bd-1", flags="solitary_elderly", window_h="7", **extra),
            row(record="device", code="wm-1", parent="hh-1", gateway="gw-1", kind="water_meter", interval_s="600")]
    return "\n".join([HEADER, *rows]) + "\n"


def upper_bound_h(db: Database) -> float:
    snap = load_snapshot(db)
    rule = WaterRule(RuleContext.create(AlertsConfig(), lambda: snap), 0)
    return float(rule.max_ms[rule.hindex["hh-1"]]) / 3_600_000


def test_max_window_imported_checked_kept_cleared_and_exported(sqlite_db: Database) -> None:
    assert not import_rows(sqlite_db, site("10")).errors
    assert load_snapshot(sqlite_db).households["hh-1"].max_window_h == 10.0
    assert upper_bound_h(sqlite_db) == 10.0
    exported = export_text(sqlite_db).splitlines()
    household = next(r for r in exported if r.startswith("household,hh-1,"))
    assert "max_window_h" in exported[0] and household.split(",")[COLUMNS.index("max_window_h")] == "10"
    # a file without the column (written before it existed) keeps what staff approved
    k = COLUMNS.index("max_window_h")
    without = "\n".join(",".join(c for i, c in enumerate(line.split(",")) if i != k)
                        for line in site(None).splitlines()) + "\n"
    assert not import_rows(sqlite_db, without).errors
    assert load_snapshot(sqlite_db).households["hh-1"].max_window_h == 10.0
    # below the household's window: refused, with the row and column
    rep = import_rows(sqlite_db, site("6.5"))
    assert str(rep.errors[0]) == "row 6, column max_window_h: 6.5 is outside 7..24"
    assert load_snapshot(sqlite_db).households["hh-1"].max_window_h == 10.0
    # an empty cell: none approved, the limit stays within the window
    assert not import_rows(sqlite_db, site("")).errors
    assert load_snapshot(sqlite_db).households["hh-1"].max_window_h is None
    assert upper_bound_h(sqlite_db) == 7.0
