"""Registry CSV import/export: good rows kept, every bad row reported by row and column."""

from __future__ import annotations

from pathlib import Path

import pytest

from registry.csvio import COLUMNS, RegistryFileError, export_text, import_file, import_rows
from registry.model import load_snapshot
from registry.types import Level, Role
from storage.sql import Database
from tests.alerts.conftest import SAMPLE_CSV

HEADER = ",".join(COLUMNS)


def row(**kw: str) -> str:
    return ",".join(kw.get(c, "") for c in COLUMNS)


def test_sample_imports_and_snapshot_answers(db: Database) -> None:
    report = import_rows(db, SAMPLE_CSV)
    assert report.errors == []
    assert report.created == 20 and report.updated == 0
    reg = load_snapshot(db)
    assert reg.revision == 1
    assert [n.code for n in reg.ancestors("hh-0001")] == ["hh-0001", "bd-01", "gr-01", "cm-01", "st-01"]
    assert reg.ancestor("hh-0002", Level.GRID) == "gr-01"
    h = reg.households["hh-0002"]
    assert h.flags == {"solitary_elderly", "disabled"} and h.sleep == (21 * 60 + 30, 6 * 60) and h.window_h == 6
    assert reg.stations["rs-01"].warning_m == 3.5
    assert reg.zones["zn-emb"].schedule == (22 * 60, 6 * 60) and reg.zones["zn-emb"].types == {"intrusion", "person"}
    assert reg.devices["rg-01"].place == "rs-01" and reg.devices["wm-0001"].step_l == 1
    assert reg.location("hh-0001") == "Qianjin Street / Riverside Community / Grid 1 / Building 3 / Room 301"
    fam = reg.audience("hh-0001", [Role.FAMILY, Role.GRID_WORKER])
    assert {c.code for c in fam} == {"c-fam1", "c-gw1"}
    assert {c.code for c in reg.audience("hh-0002", [Role.FAMILY])} == set()
    # a station under a community: grid workers of every grid of the community, and the community
    river = reg.audience("rs-01", [Role.GRID_WORKER, Role.COMMUNITY_DUTY])
    assert {c.code for c in river} == {"c-gw1", "c-gw2", "c-cm"}
    assert reg.contacts["gr-02"][0].quiet == (23 * 60, 7 * 60)


def test_export_round_trips(db: Database, tmp_path: Path) -> None:
    import_rows(db, SAMPLE_CSV)
    text = export_text(db)
    path = tmp_path / "export.csv"
    path.write_bytes(("\ufeff" + text).encode())
    other = Database(f"sqlite:///{tmp_path / 'other.db'}")
    try:
        report = import_file(other, path)
        assert report.errors == [] and report.created == 20
        assert export_text(other) == text
        again = import_file(other, path)  # importing the same file twice updates, creates nothing
        assert again.created == 0 and again.updated == 20
    finally:
        other.close()


def test_bad_rows_reported_by_row_and_column_good_rows_kept(sqlite_db: Database) -> None:
    lines = [
        HEADER,
        row(record="street", code="st-01", name="S"),                                          # 2 ok
        row(record="community", code="cm-01", parent="st-01"),                                 # 3 ok
        row(record="grid", code="gr-01", parent="cm-01"),                                      # 4 ok
        row(record="building", code="bd-01", parent="gr-01"),                                  # 5 ok
        row(record="household", code="hh-1", parent="bd-01", window_h="9"),                    # 6 window
        row(record="household", code="hh-2", parent="bd-01", sleep="22h-6h"),                  # 7 sleep
        row(record="household", code="hh-3", parent="bd-99"),                                 # 8 no parent
        row(record="household", code="hh-4", parent="bd-01", flags="rich"),                    # 9 flag
        row(record="device", code="WM 1", parent="hh-5", kind="water_meter"),                  # 10 bad id
        row(record="device", code="wm-1", parent="hh-1", kind="water_meter"),                  # 11 parent rejected
        row(record="station", code="rs-1", parent="cm-01", warning_m="4", guaranteed_m="3",
            rise_m_per_h="0.2"),                                                               # 12 levels
        row(record="contact", code="c-1", parent="gr-01", role="grid_worker", channels="phone 123"),  # 13 url
        row(record="contact", code="c-2", parent="hh-5", role="family", channels="ntfy://x"),  # 14 ok (hh-5 later)
        row(record="household", code="hh-5", parent="bd-01", away_until="2026-12-31"),          # 15 ok
        row(record="grid", code="gr-01", parent="cm-01"),                                      # 16 duplicate
        row(record="building", code="bd-02", parent="gr-01", window_h="7"),                    # 17 n/a column
        row(record="contact", code="c-3", parent="cm-01", role="family", channels="ntfy://y"),  # 18 wrong level
        row(record="device", code="rg-1", parent="hh-5", kind="river_gauge"),                  # 19 wrong place
        row(record="villa", code="v-1"),                                                       # 20 record
        "street,st-x",                                                                         # 21 cells
    ]
    report = import_rows(sqlite_db, "\n".join(lines) + "\n")
    got = {(e.row, e.column) for e in report.errors}
    assert got == {(6, "window_h"), (7, "sleep"), (8, "parent"), (9, "flags"), (10, "code"), (11, "parent"),
                   (12, "guaranteed_m"), (13, "channels"), (16, "code"), (17, "window_h"), (18, "parent"),
                   (19, "parent"), (20, "record"), (21, "-")}
    msgs = {e.row: e.message for e in report.errors}
    assert "6..8" in msgs[6] and "bd-99" in msgs[8] and "rejected (row 6)" in msgs[11]
    assert "row 4" in msgs[16] and "household" in msgs[18]
    assert report.rows == 20 and report.created == 6 and report.rejected_rows == 14
    reg = load_snapshot(sqlite_db)
    assert set(reg.households) == {"hh-5"} and "c-2" in {c.code for c in reg.contacts["hh-5"]}
    assert str(report.errors[0]) .startswith("row 6, column window_h: ")


def test_strict_and_dry_run_import_nothing(sqlite_db: Database) -> None:
    text = SAMPLE_CSV + row(record="household", code="hh-9", parent="nowhere") + "\n"
    strict = import_rows(sqlite_db, text, strict=True)
    assert strict.rejected_rows == 1 and strict.created == 0
    assert load_snapshot(sqlite_db).nodes == {}
    dry = import_rows(sqlite_db, SAMPLE_CSV, dry_run=True)
    assert dry.created == 20 and load_snapshot(sqlite_db).nodes == {}


def test_file_level_problems(sqlite_db: Database, tmp_path: Path) -> None:
    with pytest.raises(RegistryFileError, match="unknown column 'mobile'"):
        import_rows(sqlite_db, "record,code,parent,mobile\n")
    with pytest.raises(RegistryFileError, match="missing column 'parent'"):
        import_rows(sqlite_db, "record,code\n")
    with pytest.raises(RegistryFileError, match="empty file"):
        import_rows(sqlite_db, "")
    with pytest.raises(RegistryFileError, match="no.csv"):
        import_file(sqlite_db, tmp_path / "no.csv")
    gbk = tmp_path / "gbk.csv"
    gbk.write_bytes((HEADER + "\n" + row(record="street", code="st-9", name="前进街道") + "\n").encode("gb18030"))
    assert import_file(sqlite_db, gbk).created == 1
    assert load_snapshot(sqlite_db).nodes["st-9"].name == "前进街道"


def test_code_unique_across_levels(sqlite_db: Database) -> None:
    import_rows(sqlite_db, SAMPLE_CSV)
    report = import_rows(sqlite_db, HEADER + "\n" + row(record="street", code="gr-01") + "\n")
    assert [(e.row, e.column) for e in report.errors] == [(2, "code")]
    assert "already a grid" in report.errors[0].message
