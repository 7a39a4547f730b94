"""Fixtures of the registry tests: the store fixtures of the alerts tests (SQLite and a private PostgreSQL)."""

from __future__ import annotations

from tests.alerts.conftest import db, postgres, sqlite_db  # noqa: F401  (fixtures: the session PostgreSQL cluster)
