"""What the notifiers of this package share: the contacts' local time, storing who was told, listeners.

ChannelNotifier (dispatch.py) and StoreNotifier (recorder.py) each decide a status per recipient and render
its text; both then store the deliveries through record() and tell their listeners.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from zoneinfo import ZoneInfo

from alerts.notifier import Notification
from alerts.store import AlertStore, DeliveryRecord
from storage.sql import Database

log = logging.getLogger(__name__)


class NotifierBase:
    """The shared half of a notifier: a store to record deliveries in, the local time zone, listeners."""

    def __init__(self, db: Database, timezone: str) -> None:
        self.db = db
        self.store = AlertStore(db)
        self.tz = ZoneInfo(timezone)
        self._listeners: list[Callable[[Notification], None]] = []
        self._attempt_observers: list[Callable[[bool], None]] = []

    def observe_attempts(self, fn: Callable[[bool], None]) -> None:
        """Call fn(ok) after each send to a channel (a notifier that only records never calls it)."""
        self._attempt_observers.append(fn)

    def attempted(self, ok: bool) -> None:
        for fn in self._attempt_observers:
            fn(ok)

    def add_listener(self, fn: Callable[[Notification], None]) -> None:
        """Call fn after each notification is recorded (and, for a notifier that sends, its sends are queued)."""
        self._listeners.append(fn)

    def minute_of_day(self, ms: int) -> int:
        """Local minute of the day at ms (quiet hours are local)."""
        t = dt.datetime.fromtimestamp(ms / 1000, self.tz)
        return t.hour * 60 + t.minute

    def record(self, n: Notification, records: Sequence[DeliveryRecord]) -> list[int]:
        """Store one delivery per recipient with the alert's audit line; returns their ids (none: nobody to tell,
        which is logged with codes only: a registry without contacts for that place)."""
        if not records:
            log.warning("alert %d (%s, place %s): nobody to notify for %s at step %d; check the registry contacts",
                        n.alert.id, n.alert.rule, n.alert.place, n.event, n.step)
            return []
        return self.store.record_deliveries(n.alert.id, n.at, records)

    def told(self, n: Notification) -> None:
        """Tell the listeners that n was handled."""
        for fn in self._listeners:
            fn(n)
