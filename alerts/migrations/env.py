"""Alembic environment: runs on the engine handed over by alerts.db.migrate (or alembic.ini's URL)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from alerts.tables import Base

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
