"""What both notifiers share (notify/base.py): defined once, local time, one writer of deliveries, listeners."""

from __future__ import annotations

import logging

import pytest

from alerts.notifier import Notification
from alerts.store import AlertStore
from alerts.types import Raise, Rule, Severity
from notify.base import NotifierBase
from notify.dispatch import ChannelNotifier
from notify.recorder import StoreNotifier
from registry.model import load_snapshot
from storage.sql import Database
from tests.alerts.rig import MONDAY_8AM, local_ms


def test_the_shared_half_is_defined_once() -> None:
    for cls in (ChannelNotifier, StoreNotifier):
        assert issubclass(cls, NotifierBase)
        assert not {"add_listener", "minute_of_day", "record", "told"} & vars(cls).keys(), cls.__name__


def test_minute_of_day_is_local_time() -> None:
    n = NotifierBase(Database("sqlite://"), "Asia/Shanghai")
    assert n.minute_of_day(local_ms(2026, 11, 2, 23, 45)) == 23 * 60 + 45
    assert n.minute_of_day(local_ms(2026, 11, 2, 23, 45) + 30 * 60_000) == 15  # past midnight, next day


def test_store_notifier_records_through_the_store_and_tells_listeners_only_when_someone_was_told(
        notify_db: Database, caplog: pytest.LogCaptureFixture) -> None:
    store = AlertStore(notify_db)
    alert = store.raise_alert(Raise(Rule.CALL_BUTTON, "btn-0001", Severity.CRITICAL, "hh-0001", "e1", "press btn-0001"),
                              grid="gr-01", now=MONDAY_8AM, next_escalation_at=None).alert
    reg = load_snapshot(notify_db)
    family = tuple(reg.contacts["hh-0001"])
    notifier = StoreNotifier(notify_db, "Asia/Shanghai")
    heard: list[Notification] = []
    notifier.add_listener(heard.append)

    told = Notification(alert, "opened", 0, family, reg.location("hh-0001"), family, MONDAY_8AM)
    notifier.notify(told)
    assert [(d.contact, d.status) for d in store.deliveries(alert.id)] == [(c.code, "handed_off") for c in family]
    assert store.events(alert.id)[-1]["note"] == f"{len(family)} contacts (family): handed_off {len(family)}"
    assert heard == [told]

    with caplog.at_level(logging.WARNING, logger="notify.base"):
        notifier.notify(Notification(alert, "escalated", 1, (), reg.location("hh-0001"), family, MONDAY_8AM + 1))
    assert len(store.deliveries(alert.id)) == len(family) and heard == [told]  # nothing stored, nobody told
    [warning] = [r.getMessage() for r in caplog.records if r.name == "notify.base"]
    assert "nobody to notify for escalated at step 1" in warning and "hh-0001" in warning
    assert all(c.name not in warning for c in family)  # codes only in logs, never a person's name
