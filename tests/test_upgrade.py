"""Upgrading an installation: the store as the previous landed version left it (schema 0002, with a demo
registry, alerts with their audit trail, a delivery and a staff account in it) is migrated to this version's
schema on SQLite and PostgreSQL, and everything in it still reads and works through today's code.

tests/fixtures/store_0002.sql was written by the previous landed version's own code (commit 2e6e52e:
registry seeding, AlertStore, console.auth.create_user) and dumped with `sqlite3 .dump`.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import MetaData, create_engine, insert, select

from alerts.store import AlertStore
from alerts.types import AlertState, Outcome
from console.auth import verify_login
from registry.model import load_snapshot
from storage.sql import Database, current_revision, make_engine, migrate
from tests.alerts.conftest import postgres  # noqa: F401  (the session PostgreSQL cluster)

DUMP = Path(__file__).with_name("fixtures") / "store_0002.sql"


def _sqlite_0002(path: Path) -> str:
    with sqlite3.connect(path) as conn:
        conn.executescript(DUMP.read_text())
    conn.close()
    return f"sqlite:///{path}"


def _postgres_0002(postgres, tmp_path: Path) -> str:  # noqa: ANN001
    """The same rows in a PostgreSQL store at 0002: schema by the migrations, rows copied table by table."""
    url = postgres.create_database()
    engine = make_engine(url)
    migrate(engine, "0002")
    src = create_engine(_sqlite_0002(tmp_path / "src.db"))
    meta = MetaData()
    meta.reflect(engine)
    with src.connect() as s, engine.begin() as d:
        for table in meta.sorted_tables:
            if table.name == "alembic_version":
                continue
            rows = [dict(r._mapping) for r in s.execute(select(table))]
            if rows:
                d.execute(insert(table), rows)
        for table in meta.sorted_tables:  # PostgreSQL sequences continue after the copied ids
            if "id" in table.c and table.c.id.type.python_type is int:
                d.exec_driver_sql(f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                                  f"COALESCE((SELECT MAX(id) FROM {table.name}), 1))")
    src.dispose()
    engine.dispose()
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def old_store(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return _sqlite_0002(tmp_path / "old.db")
    return _postgres_0002(request.getfixturevalue("postgres"), tmp_path)


def test_the_previous_landed_store_upgrades_and_everything_in_it_still_works(old_store: str) -> None:
    engine = make_engine(old_store)
    assert current_revision(engine) == "0002"
    engine.dispose()
    with Database(old_store) as db:  # opening migrates to the newest schema, as every service does on start
        assert current_revision(db.engine) not in (None, "0002")
        reg = load_snapshot(db)
        assert len(reg.nodes) == 55 and len(reg.households) > 0
        store = AlertStore(db)
        alerts = {a.id: a for a in store.all()}
        assert len(alerts) == 3
        closed = alerts[1]
        assert closed.state is AlertState.CLOSED and closed.feedback == "all fine" and closed.rating == 5
        assert closed.time_to_acknowledge_s == 60 and closed.time_to_resolve_s == 120
        assert [e["action"] for e in store.events(1)][:4] == ["opened", "acknowledged", "resolved", "closed"]
        assert len(store.deliveries(2)) == 1
        # today's code works on the old rows: handle an old open alert, log in with the old account
        store.acknowledge(2, "oldstaff", "console", closed.opened_at + 600_000)
        store.resolve(2, "oldstaff", "console", closed.opened_at + 700_000)
        after = store.get(2)
        assert after.state is AlertState.RESOLVED and after.outcome in (None, Outcome.HANDLED)
        user = verify_login(db, "oldstaff", "an old password 123")
        assert user is not None and user.username == "oldstaff"
