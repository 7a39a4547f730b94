"""People in the registry: phone numbers (CSV column, validation, migration from the schema before them) and the
demo community's fictitious residents, family members, grid workers and duty officers with their addresses."""

from __future__ import annotations

import logging
import re

import pytest
from alembic import command
from sqlalchemy import text

from firmware_sim.scenario import load_scenario
from registry.csvio import COLUMNS, export_text, import_rows
from registry.model import load_snapshot
from registry.scenario import community_snapshot, import_community, registry_rows
from registry.types import Level, Role
from storage.sql import Database, _alembic_config, current_revision, migrate
from tests.alerts.conftest import SAMPLE_CSV

HEADER = ",".join(COLUMNS)


def row(**kw: str) -> str:
    return ",".join(kw.get(c, "") for c in COLUMNS)


def test_phone_numbers_are_validated_per_row_and_stored_as_digits(sqlite_db: Database) -> None:
    assert import_rows(sqlite_db, SAMPLE_CSV).errors == []  # a file without the phone columns still imports
    lines = [HEADER,
        row(record="contact", code="c-p1", parent="gr-01", role="grid_worker", channels="ntfy://a",
            phone="138-0000-0001"),                                                                      # ok
        row(record="contact", code="c-p2", parent="gr-02", role="grid_worker", channels="ntfy://b",
            phone="+86 (138) 0000 0002"),                                                                # ok
        row(record="contact", code="c-p3", parent="gr-01", role="grid_worker", channels="ntfy://c",
            phone="138OOOO0003"),                                                                        # letters
        row(record="contact", code="c-p4", parent="gr-01", role="grid_worker", channels="ntfy://d", phone="12"),
        row(record="contact", code="c-p5", parent="gr-01", role="grid_worker", channels="ntfy://e",
            phone="１３８００００００５"),                                                                  # full-width
        row(record="building", code="bd-09", parent="gr-01", phone="13800000009"),                       # n/a
        row(record="household", code="hh-0009", parent="bd-01", name="1单元 902", resident="周桂兰",
            phone="010 6000 0009"),                                                                       # ok
    ]
    report = import_rows(sqlite_db, "\n".join(lines) + "\n")
    assert [(e.row, e.column) for e in report.errors] == [(4, "phone"), (5, "phone"), (6, "phone"), (7, "phone")]
    msgs = [e.message for e in report.errors]
    assert "digits" in msgs[0] and "3 to 15 digits, this one 2" in msgs[1] and "does not apply" in msgs[3]
    assert not any("138" in m for m in msgs)  # the row and column say where; the number itself is personal data
    reg = load_snapshot(sqlite_db)
    phones = {c.code: c.phone for cs in reg.contacts.values() for c in cs}
    assert phones["c-p1"] == "13800000001" and phones["c-p2"] == "+8613800000002" and phones["c-gw1"] == ""
    assert {"c-p3", "c-p4", "c-p5"}.isdisjoint(phones)
    hh = reg.households["hh-0009"]
    assert (hh.resident, hh.phone) == ("周桂兰", "01060000009")
    assert reg.address("hh-0009") == "Building 3 1单元 902" and reg.address("hh-0001") == "Building 3 Room 301"

    exported = export_text(sqlite_db)
    assert ",13800000001,\r\n" in exported and ",周桂兰,01060000009,\r\n" in exported  # then display_name (zones)
    again = import_rows(sqlite_db, exported)
    assert again.errors == [] and again.created == 0 and export_text(sqlite_db) == exported
    # a file from before the phone column updates a contact without wiping the number; an empty cell clears it
    assert import_rows(sqlite_db, "record,code,parent,name,role,channels\n"
                                  "contact,c-p1,gr-01,Wang,grid_worker,ntfy://a2\n").errors == []
    assert import_rows(sqlite_db, "record,code,parent,name,resident,phone\nhousehold,hh-0009,bd-01,1单元 902,,\n"
                                  "street,st-01,,Qianjin Street,,\n").errors == []
    reg = load_snapshot(sqlite_db)
    assert {c.code: c.phone for c in reg.contacts["gr-01"]}["c-p1"] == "13800000001"
    assert (reg.households["hh-0009"].resident, reg.households["hh-0009"].phone) == ("", "")


def test_address_does_not_repeat_the_building(sqlite_db: Database) -> None:
    csv = "\n".join([HEADER, row(record="street", code="st-1", name="河畔街道"),
                     row(record="community", code="cm-1", parent="st-1", name="望川社区"),
                     row(record="grid", code="gr-1", parent="cm-1", name="第一网格"),
                     row(record="building", code="bd-1", parent="gr-1", name="3号楼"),
                     row(record="household", code="hh-1", parent="bd-1", name="3号楼 2单元 501"),
                     row(record="household", code="hh-2", parent="bd-1", name="2单元 502"),
                     row(record="household", code="hh-3", parent="bd-1")]) + "\n"
    assert import_rows(sqlite_db, csv).errors == []
    reg = load_snapshot(sqlite_db)
    assert reg.address("hh-1") == "3号楼 2单元 501" and reg.address("hh-2") == "3号楼 2单元 502"
    assert reg.address("hh-3") == "hh-3" and reg.address("gr-1") == "第一网格" and reg.address("nowhere") == "nowhere"


def test_migration_adds_phone_columns_to_a_filled_registry(db: Database) -> None:
    """From the revision before (0002) with people in it: upgrade keeps every row, the new columns are empty;
    downgrade and upgrade again work (SQLite rebuilds the tables, PostgreSQL alters them)."""
    engine = db.engine
    command.downgrade(_alembic_config(engine), "0002")
    assert current_revision(engine) == "0002"
    with engine.begin() as conn:
        for table in ("contact", "household", "node"):
            conn.execute(text(f"DELETE FROM {table}"))
        conn.execute(text("INSERT INTO node (id, code, level, parent_id, name) VALUES "
                          "(1, 'st-1', 'street', NULL, '河畔街道'), (2, 'cm-1', 'community', 1, '望川社区'), "
                          "(3, 'gr-1', 'grid', 2, ''), (4, 'bd-1', 'building', 3, '1号楼'), "
                          "(5, 'hh-1', 'household', 4, '1单元 101')"))
        conn.execute(text("INSERT INTO household (node_id, flags, sleep_start_min, sleep_end_min, window_h, "
                          "away_until) VALUES (5, 'solitary_elderly', 1320, 390, 7, NULL)"))
        conn.execute(text("INSERT INTO contact (id, code, node_id, role, name, channels, language, quiet_hours) "
                          "VALUES (1, 'c-1', 5, 'family', '王磊', 'ntfy://x', 'zh', ''), "
                          "(2, 'c-2', 3, 'grid_worker', '田芳', 'ntfy://y', 'zh', '22:00-07:00')"))
    migrate(engine)
    assert current_revision(engine) == head_revision()  # and the migrations after 0003
    reg = load_snapshot(db)
    assert {c.code: (c.name, c.phone) for cs in reg.contacts.values() for c in cs} == {"c-1": ("王磊", ""),
                                                                                       "c-2": ("田芳", "")}
    assert reg.households["hh-1"].flags == {"solitary_elderly"} and reg.households["hh-1"].resident == ""
    assert reg.contacts["gr-1"][0].quiet == (22 * 60, 7 * 60)
    assert import_rows(db, "record,code,parent,name,role,channels,phone\ncontact,c-2,gr-1,田芳,grid_worker,ntfy://y,"
                           "13800009001\n").errors == []
    assert load_snapshot(db).contacts["gr-1"][0].phone == "13800009001"
    command.downgrade(_alembic_config(engine), "0002")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT name FROM contact WHERE code = 'c-2'")).scalar_one() == "田芳"
    migrate(engine)
    assert load_snapshot(db).contacts["gr-1"][0].phone == ""


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    from storage.sql import MIGRATIONS

    return ScriptDirectory(str(MIGRATIONS)).get_current_head()


PHONE = re.compile(r"^13[89]0000\d{4}$")  # 138-0000-xxxx / 139-0000-xxxx: reads as fake
CODE_LIKE = re.compile(r"(hh|bld|grid|worker|duty|family)-", re.IGNORECASE)


def test_demo_registry_names_people_and_places() -> None:
    demo = load_scenario("demo")
    reg = community_snapshot(demo)
    contacts = [c for cs in reg.contacts.values() for c in cs]
    assert {c.role for c in contacts} == set(Role)
    for c in contacts:
        assert re.fullmatch(r"[\u4e00-\u9fff]{2,3}", c.name), c
        assert PHONE.match(c.phone), c
    workers = {c.place: c for c in contacts if c.role is Role.GRID_WORKER}
    assert set(workers) == {"grid-01", "grid-02"} and workers["grid-01"].name != workers["grid-02"].name
    # the household the issue saw as "hh-0005 / bld-03"
    assert reg.address("hh-0005") == "3号楼 1单元 402" and reg.households["hh-0005"].resident == "陈玉梅"
    assert reg.households["hh-0005"].phone == "13800000005"
    assert reg.location("hh-0005") == "河畔街道 / 望川社区 / 第二网格 / 3号楼 / 1单元 402"
    by_building: dict[str, set[str]] = {}
    for code, h in reg.households.items():
        node = reg.nodes[code]
        address = reg.address(code)
        assert re.fullmatch(r"\d号楼 \d+单元 \d{3}", address), (code, address)
        assert address not in by_building.setdefault(node.parent or "", set()), f"two households at {address}"
        by_building[node.parent or ""].add(address)
        assert re.fullmatch(r"[\u4e00-\u9fff]{2,3}", h.resident) and PHONE.match(h.phone), (code, h)
    assert sum(len(v) for v in by_building.values()) == 40
    names = [n.name for n in reg.nodes.values()] + [c.name for c in contacts] + [h.resident for h in
                                                                                 reg.households.values()]
    assert not [n for n in names if CODE_LIKE.search(n)]
    phones = [c.phone for c in contacts] + [h.phone for h in reg.households.values()]
    assert len(set(phones)) == len(phones)  # nobody shares a number by accident
    assert registry_rows(demo) == registry_rows(load_scenario("demo"))  # the same people on every run


def test_a_large_scenario_gets_buildings_flats_and_residents() -> None:
    big = load_scenario("community-500")
    rows = registry_rows(big)
    buildings = [r for r in rows if r["record"] == "building"]
    households = [r for r in rows if r["record"] == "household"]
    assert all(re.fullmatch(r"\d+号楼", r["name"]) for r in buildings)
    assert len({r["name"] for r in buildings}) == len(buildings)
    assert all(re.fullmatch(r"\d+单元 \d{3}", r["name"]) and r["resident"] for r in households)
    assert len({(r["parent"], r["name"]) for r in households}) == len(households)


def test_personal_data_stays_out_of_logs(sqlite_db: Database, caplog: pytest.LogCaptureFixture) -> None:
    demo = load_scenario("demo")
    reg = community_snapshot(demo)
    personal = {c.name for cs in reg.contacts.values() for c in cs} | {c.phone for cs in reg.contacts.values()
                                                                       for c in cs}
    personal |= {h.resident for h in reg.households.values()} | {h.phone for h in reg.households.values()}
    personal |= {reg.address(h) for h in reg.households} | {reg.nodes[h].name for h in reg.households}
    assert len(personal) > 100
    with caplog.at_level(logging.DEBUG):
        report = import_community(sqlite_db, demo)
        load_snapshot(sqlite_db)
    assert report.errors == [] and "registry import" in caplog.text
    assert not [p for p in personal if p and p in caplog.text]
    assert reg.nodes["hh-0005"].level is Level.HOUSEHOLD
