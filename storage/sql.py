"""The SQL database every server part shares: engine, sessions, the declarative base, migrations.

One database holds the registry (registry/tables.py), the alerts and their audit trail
(alerts/tables.py), deliveries (notify/tables.py) and the console's accounts (console/tables.py);
each part declares its tables on `Base`. SQLite (a file under the state dir) by default,
PostgreSQL by URL. The schema is always brought to the newest Alembic revision (migrations/,
one history for the whole database) before use, so an upgraded install migrates its existing
data instead of failing.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from ground.errors import ConfigError, ServiceError
from storage.settings import SqlSettings

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).with_name("migrations")


class Base(DeclarativeBase):
    """The declarative base of every table in the shared database."""


def database_url(cfg: SqlSettings) -> str:
    """The configured URL, or a SQLite file under <state>/alerts/."""
    url = cfg.alerts.database_url.get_secret_value()
    if url:
        return url
    path = cfg.state_path / "alerts" / "alerts.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def _sqlite_pragmas(dbapi_conn, _record) -> None:  # noqa: ANN001
    # let SQLAlchemy, not pysqlite, decide where transactions begin: savepoints (one per
    # imported row) only work that way
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    # WAL: the engine writes while the CLI or console reads; NORMAL is durable across crashes in WAL mode
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


def make_engine(url: str) -> Engine:
    """A SQLAlchemy engine for url, with SQLite tuned for one writer and concurrent readers."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"alerts.database_url: {exc}") from None
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        # IMMEDIATE: take the write lock up front; a deferred read-then-write transaction
        # would fail with "database is locked" instead of waiting when another writer is busy
        event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        url = str(parsed.set(drivername="postgresql+psycopg"))  # psycopg 3 is the driver we ship
    return create_engine(url, pool_pre_ping=True)


def _alembic_config(engine: Engine):  # noqa: ANN202
    from alembic.config import Config as AlembicConfig

    acfg = AlembicConfig()
    acfg.set_main_option("script_location", str(MIGRATIONS))
    acfg.attributes["engine"] = engine
    return acfg


@contextlib.contextmanager
def _quiet_alembic() -> Iterator[None]:
    """Alembic logs a dozen INFO lines (plugins, dialect, each step) on every open; keep only its warnings."""
    alembic_log = logging.getLogger("alembic")
    level = alembic_log.level
    alembic_log.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        alembic_log.setLevel(level)


def migrate(engine: Engine, revision: str = "head") -> None:
    """Upgrade the schema to `revision` (idempotent); one INFO line if it changed anything."""
    where = engine.url.render_as_string(hide_password=True)
    try:
        with _quiet_alembic():
            from alembic import command  # its import logs too

            before = current_revision(engine)
            command.upgrade(_alembic_config(engine), revision)
            after = current_revision(engine)
    except OperationalError as exc:
        raise ServiceError(f"alert store {where}: {exc.orig}") from exc
    if after != before:
        log.info("database schema upgraded from %s to %s", before or "empty", after)


def current_revision(engine: Engine) -> str | None:
    """The Alembic revision the database is at (None if never migrated)."""
    with _quiet_alembic():
        from alembic.runtime.migration import MigrationContext

        with engine.connect() as conn:
            if not inspect(conn).has_table("alembic_version"):
                return None
            return MigrationContext.configure(conn).get_current_revision()


class Database:
    """An engine and session factory over a migrated database."""

    def __init__(self, url: str, *, migrate_schema: bool = True) -> None:
        self.url = url
        self.engine = make_engine(url)
        if migrate_schema:
            migrate(self.engine)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @classmethod
    def from_config(cls, cfg: SqlSettings) -> Database:
        return cls(database_url(cfg))

    def session(self) -> Session:
        return self.sessions()

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
