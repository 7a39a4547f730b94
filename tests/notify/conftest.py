"""Fixtures of the notification tests: local HTTP and SMTP receivers, a store with the test registry."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from registry.csvio import import_rows
from storage.sql import Database
from tests.alerts.conftest import postgres  # noqa: F401  (the session PostgreSQL cluster)
from tests.notify.fixtures import registry_csv
from tests.notify.receivers import HttpReceiver, SmtpReceiver


@pytest.fixture
def http_receiver() -> Iterator[HttpReceiver]:
    r = HttpReceiver().start()
    try:
        yield r
    finally:
        r.stop()


@pytest.fixture
def smtp_receiver() -> Iterator[SmtpReceiver]:
    r = SmtpReceiver().start()
    try:
        yield r
    finally:
        r.stop()


@pytest.fixture
def notify_db(tmp_path: Path, http_receiver: HttpReceiver, smtp_receiver: SmtpReceiver) -> Iterator[Database]:
    db = Database(f"sqlite:///{tmp_path / 'alerts.db'}")
    assert import_rows(db, registry_csv(http_receiver.port, smtp_receiver.port)).errors == []
    try:
        yield db
    finally:
        db.close()
