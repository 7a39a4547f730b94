"""The stored record of deliveries' attempts and statuses: the answer to "was the family told?".

The deliveries themselves (one row per recipient, and the alert's audit line) are created by
AlertStore.record_deliveries (alerts/store.py); here are their attempts, status changes and the report.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from alerts.tables import Delivery
from notify.tables import DeliveryAttempt
from storage.sql import Database

#: delivery statuses
QUEUED, SENT, PARTIAL, FAILED = "queued", "sent", "partial", "failed"
HELD, DIGESTED = "held", "digested"  # quiet hours: waiting for, then sent in, a digest
NO_CHANNEL, REFUSED, RECORDED = "no_channel", "refused", "recorded"
PENDING = (QUEUED, HELD)


@dataclass(frozen=True, slots=True)
class Attempt:
    at: int
    channel: int
    scheme: str
    ok: bool
    error: str
    duration_ms: int
    digest: bool = False


@dataclass(frozen=True, slots=True)
class PendingDelivery:
    id: int
    alert_id: int
    at: int
    contact: str
    status: str
    language: str
    title: str
    body: str
    event: str


def record_attempts(db: Database, delivery_ids: Iterable[int], attempts: Sequence[Attempt],
                    status: str | None) -> None:
    """Store attempts (for each delivery given) and optionally its new status, in one transaction."""
    with db.session() as s, s.begin():
        for did in delivery_ids:
            for a in attempts:
                s.add(DeliveryAttempt(delivery_id=did, at=a.at, channel=a.channel, scheme=a.scheme, ok=a.ok,
                                      error=a.error, duration_ms=a.duration_ms, digest=a.digest))
            if status is not None:
                d = s.get(Delivery, did)
                if d is not None:
                    d.status = status


def channel_history(db: Database, delivery_id: int) -> dict[int, tuple[int, bool]]:
    """Per channel index: (attempts so far, delivered)."""
    out: dict[int, tuple[int, bool]] = {}
    with db.session() as s:
        for a in s.scalars(select(DeliveryAttempt).where(DeliveryAttempt.delivery_id == delivery_id)):
            n, ok = out.get(a.channel, (0, False))
            out[a.channel] = (n + 1, ok or a.ok)
    return out


def pending(db: Database, statuses: Sequence[str] = PENDING) -> list[PendingDelivery]:
    """Deliveries still to send (after a restart) or held for a digest."""
    with db.session() as s:
        q = select(Delivery).where(Delivery.status.in_(list(statuses))).order_by(Delivery.id)
        return [PendingDelivery(d.id, d.alert_id, d.at, d.contact, d.status, d.language, d.title, d.body, d.event)
                for d in s.scalars(q)]


def delivery_report(db: Database, alert_id: int) -> list[dict[str, Any]]:
    """Every delivery of an alert with its attempts, oldest first."""
    with db.session() as s:
        deliveries = list(s.scalars(select(Delivery).where(Delivery.alert_id == alert_id).order_by(Delivery.id)))
        ids = [d.id for d in deliveries]
        attempts: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
        if ids:
            for a in s.scalars(select(DeliveryAttempt).where(DeliveryAttempt.delivery_id.in_(ids))
                               .order_by(DeliveryAttempt.id)):
                attempts[a.delivery_id].append({"at": a.at, "channel": a.channel, "scheme": a.scheme, "ok": a.ok,
                                                "error": a.error, "duration_ms": a.duration_ms, "digest": a.digest})
        return [{"id": d.id, "at": d.at, "event": d.event, "step": d.step, "contact": d.contact, "role": d.role,
                 "channels": d.channels, "language": d.language, "status": d.status, "title": d.title,
                 "attempts": attempts[d.id]} for d in deliveries]
