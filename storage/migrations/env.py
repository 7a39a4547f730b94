"""Alembic environment: runs on the engine handed over by storage.sql.migrate (or alembic.ini's URL).

The versions are explicit operations, one history for the whole shared database; the parts' tables
(registry, alerts, notify, console) register on `Base` when their modules are imported.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from storage.sql import Base

config = context.config
target_metadata = Base.metadata


def run_migrations() -> None:
    engine = config.attributes.get("engine") or create_engine(config.get_main_option("sqlalchemy.url"))
    with engine.begin() as conn:
        # batch mode: SQLite cannot ALTER most things in place, Alembic rebuilds the table instead
        context.configure(connection=conn, target_metadata=target_metadata,
                          render_as_batch=conn.dialect.name == "sqlite")
        with context.begin_transaction():
            context.run_migrations()


run_migrations()
