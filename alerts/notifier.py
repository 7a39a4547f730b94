"""The notifier seam: who gets told what about an alert.

The engine (alerts/manager.py) builds a Notification (alert, event, recipients from the
registry, location and household contacts) and hands it to a Notifier. The implementations
live beside the alerts they deliver, in notify/ (which sits above alerts/: nothing here imports
it): StoreNotifier records one delivery per recipient in the store, ChannelNotifier also sends
them through each contact's Apprise URLs. The engine's service hosts a ServiceNotifier that the
top (shouwang/services.py) gives it as a NotifierFactory. MemoryNotifier here keeps them in a list. A Notification carries facts; the texts people read
are rendered from them in each contact's language (notify/texts.py).
Location and contact names are personal data: they live in notifications and the store,
never in topics, tags or logs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from alerts.lifecycle import AlertView
from ground.clock import Clock
from registry.model import ContactInfo, RegistrySnapshot
from storage.sql import Database


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


class Notifier(Protocol):
    """Something that takes notifications and gets them to people (or records that it would)."""

    def notify(self, n: Notification) -> None: ...


class ServiceNotifier(Notifier, Protocol):
    """A notifier the engine's service hosts: it reads contacts from the engine's live registry and is closed with
    the service (its sends and timers stop; what is still queued stays in the store for the next start)."""

    def bind_registry(self, fn: Callable[[], RegistrySnapshot]) -> None: ...

    def observe_attempts(self, fn: Callable[[bool], None]) -> None:
        """Call fn(ok) after each send to a contact's channel (the service's metrics)."""

    def serve_only(self, owns: Callable[[str, str], bool]) -> None:
        """Resume and digest only the deliveries for which owns(alert's place, event) is true (a partition's)."""

    def start(self) -> None:
        """Start sending: resume what an earlier run left queued, run retries and digests. Until then it sends
        nothing (a standby engine builds its notifier while it waits and starts it once it holds its lease)."""

    def close(self) -> None: ...


#: builds the service's notifier on the service's store and clock, not started (the top supplies it: notify/ is
#: above alerts/)
NotifierFactory = Callable[[Database, Clock], ServiceNotifier]


class MemoryNotifier:
    """Keeps notifications in a list (for tests of code that only needs the seam)."""

    def __init__(self) -> None:
        self.sent: list[Notification] = []

    def notify(self, n: Notification) -> None:
        self.sent.append(n)
