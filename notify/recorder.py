"""StoreNotifier: records each hand-off (one delivery row per recipient) in the store and sends nothing.

The notifier of the evaluation and of tests that look at who was told; the service delivers with
ChannelNotifier (notify/dispatch.py), which records deliveries the same way and then sends them.
The texts are the ones ChannelNotifier sends (notify/texts.py), without the links.
During a contact's quiet hours, warnings and maintenance are recorded as `quiet` (the channel
layer delivers them silently or later); major and critical are always `handed_off`.
"""

from __future__ import annotations

from alerts.notifier import Notification
from alerts.store import DeliveryRecord
from alerts.types import Severity
from notify.base import NotifierBase
from notify.texts import render_message


class StoreNotifier(NotifierBase):
    """Records each hand-off (one row per recipient) in the store; the in-process notifier that sends nothing."""

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
        if self.record(n, records):
            self.told(n)
