"""StoreNotifier: records each hand-off (one delivery row per recipient) in the store and sends nothing.

The notifier of the evaluation and of tests that look at who was told; the service delivers with
ChannelNotifier (notify/dispatch.py), which records deliveries the same way and then sends them.
The texts are the ones ChannelNotifier sends (notify/texts.py), without the links.
During a contact's quiet hours, warnings and maintenance are recorded as `quiet` (the channel
layer delivers them silently or later); major and critical are always `handed_off`.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from zoneinfo import ZoneInfo

from alerts.notifier import Notification
from alerts.store import AlertStore, DeliveryRecord
from alerts.types import Severity
from notify.texts import render_message
from storage.sql import Database

log = logging.getLogger(__name__)


class StoreNotifier:
    """Records each hand-off (one row per recipient) in the store; the in-process notifier that sends nothing."""

    def __init__(self, db: Database, timezone: str) -> None:
        self.store = AlertStore(db)
        self.tz = ZoneInfo(timezone)
        self.recent: deque[tuple[int, str, int]] = deque(maxlen=10_000)  # (alert id, event, perf_counter_ns)
        self._listeners: list[Callable[[Notification], None]] = []
        self._lock = threading.Lock()

    def add_listener(self, fn: Callable[[Notification], None]) -> None:
        """Call fn after each notification is recorded (benchmarks, the console later)."""
        self._listeners.append(fn)

    def minute_of_day(self, ms: int) -> int:
        t = dt.datetime.fromtimestamp(ms / 1000, self.tz)
        return t.hour * 60 + t.minute

    def notify(self, n: Notification) -> None:
        minute = self.minute_of_day(n.at)
        urgent = n.alert.severity.rank >= Severity.MAJOR.rank
        records = []
        for c in n.recipients:
            title, body = render_message(n.alert, n.event, c, address=n.location, contacts=n.household_contacts,
                                         now=n.at, tz=self.tz)
            status = "quiet" if not urgent and c.quiet_at(minute) else "handed_off"
            records.append(DeliveryRecord(c.code, c.role.value, len(c.channels), c.language, status, title, body,
                                          n.event, n.step))
        if not records:
            log.warning("alert %d (%s, place %s): nobody to notify for %s at step %d; check the registry contacts",
                        n.alert.id, n.alert.rule, n.alert.place, n.event, n.step)
            return
        self.store.record_deliveries(n.alert.id, n.at, records)
        with self._lock:
            self.recent.append((n.alert.id, n.event, time.perf_counter_ns()))
        for fn in self._listeners:
            fn(n)
