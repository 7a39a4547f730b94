"""The bulk import into an empty registry: the same checks, errors, counts and stored records as row by row."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import event

from registry.csvio import export_rows, import_rows
from storage.sql import Database
from tests.alerts.conftest import SAMPLE_CSV
from tests.registry.test_registry import HEADER, row

BAD_FILE = "\n".join([
    HEADER,
    row(record="street", code="st-01", name="S"),
    row(record="community", code="cm-01", parent="st-01"),
    row(record="grid", code="gr-01", parent="cm-01"),
    row(record="building", code="bd-01", parent="gr-01"),
    row(record="household", code="hh-1", parent="bd-01", window_h="9"),  # bad window
    row(record="household", code="hh-2", parent="bd-99"),  # no such parent
    row(record="device", code="wm-1", parent="hh-1", kind="water_meter"),  # parent rejected
    row(record="device", code="wm-2", parent="hh-5", kind="water_meter", step_l="0.5", interval_s="600"),
    row(record="contact", code="c-2", parent="hh-5", role="family", channels="ntfy://x", phone="138 0000 0000"),
    row(record="household", code="hh-5", parent="bd-01", away_until="2026-12-31", max_window_h="10",
        resident="R", sleep="23:00-07:00", flags="solitary_elderly", phone="010-1234 5678"),
    row(record="grid", code="gr-01", parent="cm-01"),  # duplicate
    row(record="contact", code="c-3", parent="cm-01", role="family", channels="ntfy://y"),  # wrong level
    row(record="device", code="rg-1", parent="hh-5", kind="river_gauge"),  # wrong place
    row(record="station", code="rs-1", parent="cm-01", warning_m="3", guaranteed_m="4", rise_m_per_h="0.2"),
    row(record="zone", code="z-1", parent="gr-01", schedule="22:00-06:00", display_name="河岸"),
    row(record="device", code="cam-1", parent="z-1", kind="camera"),
]) + "\n"


@contextmanager
def savepoints(db: Database) -> Iterator[list[str]]:
    """The SAVEPOINT statements the database is sent meanwhile."""
    seen: list[str] = []

    def spy(conn, cursor, statement, *args) -> None:
        if statement.upper().startswith("SAVEPOINT"):
            seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", spy)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", spy)


def _row_by_row(tmp_path: Path, text: str) -> tuple[object, list[dict[str, str]]]:
    """The same import into a registry that already holds one unrelated place (so row by row)."""
    other = Database(f"sqlite:///{tmp_path / 'rows.db'}")
    try:
        import_rows(other, HEADER + "\n" + row(record="street", code="zz-other") + "\n")
        with savepoints(other) as sp:
            report = import_rows(other, text)
        assert sp, "the second import went row by row"
        return report, [r for r in export_rows(other) if r["code"] != "zz-other"]
    finally:
        other.close()


def test_bulk_import_gives_the_row_by_row_result(db: Database, tmp_path: Path) -> None:
    for k, text in enumerate((BAD_FILE, SAMPLE_CSV)):
        with savepoints(db) as sp:
            bulk = import_rows(db, text)
        assert sp == [], "an empty registry is imported without a savepoint per row"
        (tmp_path / str(k)).mkdir()
        rows, exported = _row_by_row(tmp_path / str(k), text)
        assert [str(e) for e in bulk.errors] == [str(e) for e in rows.errors]  # type: ignore[attr-defined]
        assert (bulk.rows, bulk.created, bulk.updated) == (rows.rows, rows.created, rows.updated)  # type: ignore
        assert export_rows(db) == exported
        if text is BAD_FILE:
            assert bulk.created == 10 and {e.row for e in bulk.errors} == {6, 7, 8, 12, 13, 14}
            # the registry is not empty now: a second import of the same file updates row by row, and new rows
            # get ids after the bulk ones (PostgreSQL's sequences moved on)
            with savepoints(db) as sp:
                again = import_rows(db, text + row(record="building", code="bd-new", parent="gr-01") + "\n")
            assert sp and again.created == 1 and again.updated == 10
            db_reset(db)


def db_reset(db: Database) -> None:
    """Empty the registry again (children first)."""
    from registry.tables import CameraZone, Contact, Device, Household, Node, RiverStation

    with db.session() as s:
        for table in (Contact, Device, Household, RiverStation, CameraZone):
            s.query(table).delete()
        for level in ("zone", "station", "household", "building", "grid", "community", "street"):
            s.query(Node).filter(Node.level == level).delete()
        s.commit()
