"""A camera zone has two names: the local one its cameras' triggers use ("riverside", the key they are matched by) and
the one people read ("河岸"). The registry column (migration 0004), the CSV column, the demo registry, and everything a
person reads about a zone -- console place names, notifications, the CLI -- use the display name; matching does not."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo

from alembic import command
from sqlalchemy import text

from alerts.commands import _names
from alerts.lifecycle import AlertView
from alerts.types import AlertState, Rule, Severity
from console.present import area, place_name
from firmware_sim.scenario import load_scenario
from notify.texts import alert_sentence, digest_item, render_message
from registry.csvio import COLUMNS, export_text, import_rows
from registry.model import ContactInfo, load_snapshot
from registry.scenario import ZONE_NAMES, community_snapshot
from registry.types import Level, Role
from storage.sql import Database, _alembic_config, current_revision, migrate
from tests.registry.test_people import head_revision

HEADER = ",".join(COLUMNS)
LATIN = re.compile(r"[A-Za-z]")
T0 = 1_800_000_000_000


def row(**kw: str) -> str:
    return ",".join(kw.get(c, "") for c in COLUMNS)


SITE = [row(record="street", code="st-1", name="河畔街道"), row(record="community", code="cm-1", parent="st-1",
                                                                  name="望川社区"),
        row(record="grid", code="gr-1", parent="cm-1", name="第二网格")]


def test_migration_adds_the_display_name_to_a_filled_registry(db: Database) -> None:
    """From 0003 with a zone and its camera in it: upgrade keeps them, the display name is empty (people read the
    node's name until one is given), triggers still find the zone; downgrade and upgrade again work."""
    engine = db.engine
    command.downgrade(_alembic_config(engine), "0003")
    assert current_revision(engine) == "0003"
    with engine.begin() as conn:
        for table in ("device", "camera_zone", "contact", "household", "river_station", "node"):
            conn.execute(text(f"DELETE FROM {table}"))
        conn.execute(text("INSERT INTO node (id, code, level, parent_id, name) VALUES "
                          "(1, 'st-1', 'street', NULL, '河畔街道'), (2, 'cm-1', 'community', 1, '望川社区'), "
                          "(3, 'gr-1', 'grid', 2, '第二网格'), (4, 'gr-1.riverside', 'zone', 3, 'riverside')"))
        conn.execute(text("INSERT INTO camera_zone (node_id, schedule, types) VALUES (4, '22:00-06:00', 'intrusion')"))
        conn.execute(text("INSERT INTO device (id, gateway, kind, node_id, interval_s, meter_step_l) VALUES "
                          "('cam-01', 'gw-1', 'camera', 4, 60, NULL)"))
    migrate(engine)
    assert current_revision(engine) == head_revision()
    reg = load_snapshot(db)
    zone = reg.zones["gr-1.riverside"]
    assert zone.display_name == "" and zone.schedule == (22 * 60, 6 * 60) and zone.types == {"intrusion"}
    assert reg.address("gr-1.riverside") == "riverside" and reg.zone_for("cam-01", "riverside") == "gr-1.riverside"
    assert import_rows(db, "record,code,parent,name,schedule,types,display_name\n"
                           "zone,gr-1.riverside,gr-1,riverside,22:00-06:00,intrusion,河岸\n").errors == []
    reg = load_snapshot(db)
    assert reg.address("gr-1.riverside") == "河岸" and reg.zone_for("cam-01", "riverside") == "gr-1.riverside"
    command.downgrade(_alembic_config(engine), "0003")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT name FROM node WHERE code = 'gr-1.riverside'")).scalar_one() == "riverside"
        assert conn.execute(text("SELECT schedule FROM camera_zone")).scalar_one() == "22:00-06:00"
    migrate(engine)
    assert load_snapshot(db).zones["gr-1.riverside"].display_name == ""


def test_display_name_column_of_the_registry_csv(sqlite_db: Database) -> None:
    lines = [HEADER, *SITE,
             row(record="zone", code="gr-1.bike-shed", parent="gr-1", name="bike-shed", display_name="自行车棚"),
             row(record="zone", code="gr-1.gate", parent="gr-1", name="gate"),
             row(record="building", code="bd-1", parent="gr-1", name="1号楼", display_name="一号楼"),
             row(record="device", code="cam-02", parent="gr-1.bike-shed", gateway="gw-1", kind="camera")]
    report = import_rows(sqlite_db, "\n".join(lines) + "\n")
    assert [(e.row, e.column) for e in report.errors] == [(7, "display_name")]  # zones only
    assert "does not apply to a building" in report.errors[0].message
    reg = load_snapshot(sqlite_db)
    assert reg.address("gr-1.bike-shed") == "自行车棚" and reg.address("gr-1.gate") == "gate"
    assert reg.location("gr-1.bike-shed") == "河畔街道 / 望川社区 / 第二网格 / 自行车棚"
    assert reg.nodes["gr-1.bike-shed"].name == "bike-shed"  # the matching key is untouched
    assert reg.zone_for("cam-02", "bike-shed") == "gr-1.bike-shed" and reg.zone_for("cam-02", "自行车棚") == \
        "gr-1.bike-shed"  # not by the display name: the camera's own zone, as for any unknown name
    exported = export_text(sqlite_db)
    assert ",自行车棚\r\n" in exported
    again = import_rows(sqlite_db, exported)
    assert again.errors == [] and again.created == 0 and export_text(sqlite_db) == exported
    # a file from before the column keeps the display name; an empty cell clears it
    assert import_rows(sqlite_db, "record,code,parent,name,schedule\nzone,gr-1.bike-shed,gr-1,bike-shed,\n").errors == []
    assert load_snapshot(sqlite_db).address("gr-1.bike-shed") == "自行车棚"
    assert import_rows(sqlite_db, "record,code,parent,name,display_name\nzone,gr-1.bike-shed,gr-1,bike-shed,\n"
                       ).errors == []
    assert load_snapshot(sqlite_db).address("gr-1.bike-shed") == "bike-shed"


def camera_alert(zone: str, rule: Rule = Rule.CAMERA_INTRUSION, **facts: object) -> AlertView:
    return AlertView(3, rule, f"{zone}", "e1", Severity.MAJOR, AlertState.OPEN, None, zone, "grid-02", "code only",
                     T0, T0, 0, 0, None, details={"reason": "intrusion", "type": "intrusion", **facts})


def test_the_demo_zones_read_in_chinese_everywhere_and_cameras_still_match_them() -> None:
    reg = community_snapshot(load_scenario("demo"))
    zones = [c for c, n in reg.nodes.items() if n.level is Level.ZONE]
    assert {reg.nodes[z].name for z in zones} == {"gate", "parking", "gate-line", "riverside", "bridge", "bike-shed",
                                                  "courtyard"}
    for z in zones:
        assert reg.address(z) == ZONE_NAMES[reg.nodes[z].name] and not LATIN.search(reg.address(z)), z
        assert not LATIN.search(place_name(reg, z)) and not LATIN.search(reg.location(z)), z
    cameras = {d.id: d for d in reg.devices.values() if d.kind == "camera"}
    riverside = next(z for z in zones if reg.nodes[z].name == "riverside")
    cam = next(d for d in cameras.values() if reg.nodes[d.place].parent == reg.nodes[riverside].parent)
    assert reg.zone_for(cam.id, "riverside") == riverside  # triggers name the local name, as before
    # the console: the card's place line and area
    assert place_name(reg, riverside) == f"{reg.nodes[reg.nodes[riverside].parent].name} · 河岸"
    assert not LATIN.search(area(reg, riverside))
    # notifications: title, body, the sentence naming the zone that confirmed, a digest line
    gate_line = next(z for z in zones if reg.nodes[z].name == "gate-line")
    a = camera_alert(riverside, confirmed_by_zone=gate_line)
    worker = ContactInfo("w-1", "grid-02", Role.GRID_WORKER, "王芳", ("json://x",), "zh", None)
    title, body = render_message(a, "opened", worker, address=reg.location(riverside), contacts=(), now=T0,
                                 tz=ZoneInfo("Asia/Shanghai"), names=reg.address)
    assert title.endswith("— 河岸") and "大门警戒线" in body and "riverside" not in title + body and \
        "gate" not in body, (title, body)
    assert "「大门警戒线」" in alert_sentence(a, "zh", reg.address)
    no_names = render_message(a, "opened", worker, address=reg.location(riverside), contacts=(), now=T0,
                              tz=ZoneInfo("Asia/Shanghai"))[0]
    assert no_names.endswith("— 河岸")  # from the registry path alone
    assert digest_item(a, "zh", ZoneInfo("Asia/Shanghai"), reg.location(riverside)).place == "河岸"
    # the CLI names places the same way
    assert _names(reg)(riverside) == "河岸"
