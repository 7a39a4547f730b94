"""Tables of the alert store: alerts, the episodes they were raised for, their audit trail, deliveries
(schema changes go through storage/migrations/; the registry's tables are in registry/tables.py).

Times are integer milliseconds since the Unix epoch (as on the wire): one portable type on
SQLite and PostgreSQL, exact, and cheap to compare.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.sql import Base


class Alert(Base):
    __tablename__ = "alert"
    __table_args__ = (Index("ix_alert_escalation", "state", "next_escalation_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rule: Mapped[str] = mapped_column(String(32), index=True)
    subject: Mapped[str] = mapped_column(String(64))
    episode: Mapped[str] = mapped_column(String(64))  # the first episode; all of them are in alert_episode
    #: "rule|subject" while the alert is active, NULL after: one active alert per (rule, subject)
    active_key: Mapped[str | None] = mapped_column(String(100), unique=True)
    severity: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), index=True)
    outcome: Mapped[str | None] = mapped_column(String(16))
    place: Mapped[str] = mapped_column(String(64), default="")
    grid: Mapped[str] = mapped_column(String(64), default="")
    summary: Mapped[str] = mapped_column(String(300), default="")
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    opened_at: Mapped[int] = mapped_column(BigInteger, index=True)
    last_event_at: Mapped[int] = mapped_column(BigInteger)
    merged_count: Mapped[int] = mapped_column(Integer, default=0)
    acknowledged_at: Mapped[int | None] = mapped_column(BigInteger)
    acknowledged_by: Mapped[str | None] = mapped_column(String(64))
    dispatched_at: Mapped[int | None] = mapped_column(BigInteger)
    dispatched_to: Mapped[str | None] = mapped_column(String(64))
    resolved_at: Mapped[int | None] = mapped_column(BigInteger)
    closed_at: Mapped[int | None] = mapped_column(BigInteger)
    feedback: Mapped[str | None] = mapped_column(Text)
    rating: Mapped[int | None] = mapped_column(Integer)
    escalation_step: Mapped[int] = mapped_column(Integer, default=0)
    next_escalation_at: Mapped[int | None] = mapped_column(BigInteger)
    #: the check-in step (alerts/checkin.py, alerts.types.CheckIn): NULL when staff were told at once
    checkin: Mapped[str | None] = mapped_column(String(16))
    checkin_at: Mapped[int | None] = mapped_column(BigInteger)  # answered or given up
    staff_pushed_at: Mapped[int | None] = mapped_column(BigInteger)  # staff last pushed (NULL: not yet, or never)


class AlertEpisode(Base):
    """Every occurrence a rule raised, and the alert it opened or merged into: none is raised twice."""

    __tablename__ = "alert_episode"
    __table_args__ = (UniqueConstraint("rule", "subject", "episode", name="uq_alert_episode"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alert.id", ondelete="CASCADE"), index=True)
    rule: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(64))
    episode: Mapped[str] = mapped_column(String(64))
    at: Mapped[int] = mapped_column(BigInteger)


class AlertEvent(Base):
    """Audit trail: every transition, merge, escalation and notification of an alert."""

    __tablename__ = "alert_event"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alert.id", ondelete="CASCADE"), index=True)
    at: Mapped[int] = mapped_column(BigInteger)
    action: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(32))
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str | None] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(Text, default="")


class Delivery(Base):
    """One notification handed to the notifier for one contact (channels come with issue 6)."""

    __tablename__ = "delivery"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alert.id", ondelete="CASCADE"), index=True)
    at: Mapped[int] = mapped_column(BigInteger)
    event: Mapped[str] = mapped_column(String(32))
    step: Mapped[int] = mapped_column(Integer, default=0)
    contact: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(32))
    channels: Mapped[int] = mapped_column(Integer, default=0)
    language: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
