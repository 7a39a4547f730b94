"""The notifier seam: who gets told what about an alert, and the record of each hand-off.

The engine builds a Notification (alert, event, recipients from the registry, location and
household contacts) and hands it to a Notifier. StoreNotifier, the real implementation
here, records one delivery per recipient in the store; the push channels of the
notifications issue (Apprise URLs per contact) plug in as another Notifier.
Location and contact names are personal data: they live in notifications and the store,
never in topics, tags or logs.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from alerts.lifecycle import AlertView
from alerts.store import AlertStore, DeliveryRecord
from alerts.types import Rule, Severity
from registry.model import ContactInfo, in_daily_range

log = logging.getLogger(__name__)

RULE_TITLES = {
    Rule.WATER_INACTIVITY: ("用水异常：长时间无用水", "No water use for too long"),
    Rule.WATER_FLOW: ("用水异常：持续流水", "Water running continuously"),
    Rule.CALL_BUTTON: ("一键呼叫", "Call button pressed"),
    Rule.RIVER_LEVEL: ("河道水位超线", "River level above a threshold"),
    Rule.RIVER_RISE: ("河道水位快速上涨", "River rising fast"),
    Rule.RIVER_SENSOR: ("水位计故障", "River gauge fault"),
    Rule.CAMERA_INTRUSION: ("视频告警：入侵", "Camera: intrusion"),
    Rule.CAMERA_TAMPER: ("摄像头被遮挡/破坏", "Camera tampered"),
    Rule.GATEWAY_OFFLINE: ("网关离线", "Gateway offline"),
    Rule.DEVICE_SILENT: ("设备无上报", "Device silent"),
    Rule.BATTERY_LOW: ("设备电量低", "Battery low"),
}
SEVERITY_WORDS = {Severity.CRITICAL: ("紧急", "CRITICAL"), Severity.MAJOR: ("重要", "MAJOR"),
                  Severity.WARNING: ("预警", "WARNING"), Severity.MAINTENANCE: ("维护", "MAINTENANCE")}
EVENT_WORDS = {"opened": ("", ""), "escalated": ("【升级】", "[escalated] "), "upgraded": ("【加重】", "[upgraded] "),
               "auto_cleared": ("【已解除】", "[cleared] "), "false_alarm": ("【误报已取消】", "[cancelled] ")}


@dataclass(frozen=True, slots=True)
class Notification:
    """One event of one alert, for a set of recipients."""

    alert: AlertView
    event: str  # opened, escalated, upgraded, auto_cleared, false_alarm
    step: int
    recipients: tuple[ContactInfo, ...]
    location: str  # full place path (personal data)
    household_contacts: tuple[ContactInfo, ...]  # family and grid worker of the place, for the responder
    at: int

    def render(self, language: str) -> tuple[str, str]:
        """(title, body) in zh or en."""
        en = language == "en"
        i = 1 if en else 0
        a = self.alert
        title = (f"{EVENT_WORDS.get(self.event, ('', ''))[i]}[{SEVERITY_WORDS[a.severity][i]}] "
                 f"{RULE_TITLES[a.rule][i]} — {self.location}")
        lines = [a.summary, (f"Place: {self.location} ({a.place})" if en else f"位置：{self.location}（{a.place}）")]
        if self.household_contacts:
            who = "; ".join(f"{c.name} ({c.role.value})" for c in self.household_contacts)
            lines.append(f"Contacts: {who}" if en else f"联系人：{who}")
        if self.event in ("opened", "escalated", "upgraded"):
            lines.append(f"Reply to acknowledge alert #{a.id}." if en else f"请确认告警 #{a.id}。")
        return title, "\n".join(lines)


class Notifier(Protocol):
    """Something that takes notifications and gets them to people (or records that it would)."""

    def notify(self, n: Notification) -> None: ...


def quiet_now(contact: ContactInfo, minute_of_day: int) -> bool:
    return contact.quiet is not None and in_daily_range(minute_of_day, contact.quiet)


class StoreNotifier:
    """Records each hand-off (one row per recipient) in the store; the in-process real notifier.

    During a contact's quiet hours, warnings and maintenance are recorded as `quiet`
    (the channel layer delivers them silently or later); major and critical are always `handed_off`.
    """

    def __init__(self, store: AlertStore, minute_of_day: Callable[[int], int]) -> None:
        self.store = store
        self.minute_of_day = minute_of_day
        self.recent: deque[tuple[int, str, int]] = deque(maxlen=10_000)  # (alert id, event, perf_counter_ns)
        self._listeners: list[Callable[[Notification], None]] = []
        self._lock = threading.Lock()

    def add_listener(self, fn: Callable[[Notification], None]) -> None:
        """Call fn after each notification is recorded (benchmarks, the console later)."""
        self._listeners.append(fn)

    def notify(self, n: Notification) -> None:
        minute = self.minute_of_day(n.at)
        urgent = n.alert.severity.rank >= Severity.MAJOR.rank
        records = []
        for c in n.recipients:
            title, body = n.render(c.language)
            status = "quiet" if not urgent and quiet_now(c, minute) else "handed_off"
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


class MemoryNotifier:
    """Keeps notifications in a list (for tests of code that only needs the seam)."""

    def __init__(self) -> None:
        self.sent: list[Notification] = []

    def notify(self, n: Notification) -> None:
        self.sent.append(n)
