"""SQLAlchemy 2.x tables of the registry and the alert store (schema changes go through migrations/).

Times are integer milliseconds since the Unix epoch (as on the wire): one portable type on
SQLite and PostgreSQL, exact, and cheap to compare.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


class Node(Base):
    """A place with a unique code: street, community, grid, building, household, station, zone."""

    __tablename__ = "node"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    level: Mapped[str] = mapped_column(String(16), index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("node.id", ondelete="RESTRICT"), index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    parent: Mapped[Node | None] = relationship(remote_side=[id], lazy="joined")
    household: Mapped[Household | None] = relationship(back_populates="node", uselist=False,
                                                       cascade="all, delete-orphan")
    station: Mapped[RiverStation | None] = relationship(back_populates="node", uselist=False,
                                                        cascade="all, delete-orphan")
    zone: Mapped[CameraZone | None] = relationship(back_populates="node", uselist=False,
                                                   cascade="all, delete-orphan")


class Household(Base):
    __tablename__ = "household"
    node_id: Mapped[int] = mapped_column(ForeignKey("node.id", ondelete="CASCADE"), primary_key=True)
    flags: Mapped[str] = mapped_column(String(200), default="")  # comma-separated HouseholdFlag values
    sleep_start_min: Mapped[int] = mapped_column(Integer, default=22 * 60)  # minutes after local midnight
    sleep_end_min: Mapped[int] = mapped_column(Integer, default=6 * 60 + 30)
    window_h: Mapped[float] = mapped_column(Float, default=7.0)
    away_until: Mapped[str | None] = mapped_column(String(10))  # ISO date, inclusive
    node: Mapped[Node] = relationship(back_populates="household")


class RiverStation(Base):
    __tablename__ = "river_station"
    node_id: Mapped[int] = mapped_column(ForeignKey("node.id", ondelete="CASCADE"), primary_key=True)
    warning_m: Mapped[float] = mapped_column(Float)
    guaranteed_m: Mapped[float] = mapped_column(Float)
    rise_m_per_h: Mapped[float] = mapped_column(Float)
    node: Mapped[Node] = relationship(back_populates="station")


class CameraZone(Base):
    __tablename__ = "camera_zone"
    node_id: Mapped[int] = mapped_column(ForeignKey("node.id", ondelete="CASCADE"), primary_key=True)
    schedule: Mapped[str] = mapped_column(String(100), default="")  # "22:00-06:00" or empty = always
    types: Mapped[str] = mapped_column(String(200), default="intrusion,line_crossing,person")
    node: Mapped[Node] = relationship(back_populates="zone")


class Device(Base):
    """A device (wire id) bound to a household, a river station or a camera zone."""

    __tablename__ = "device"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    gateway: Mapped[str] = mapped_column(String(64), default="")
    kind: Mapped[str] = mapped_column(String(32))
    node_id: Mapped[int] = mapped_column(ForeignKey("node.id", ondelete="RESTRICT"), index=True)
    interval_s: Mapped[int | None] = mapped_column(Integer)
    meter_step_l: Mapped[float | None] = mapped_column(Float)
    node: Mapped[Node] = relationship(lazy="joined")


class Contact(Base):
    __tablename__ = "contact"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    node_id: Mapped[int] = mapped_column(ForeignKey("node.id", ondelete="RESTRICT"), index=True)
    role: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200), default="")
    channels: Mapped[str] = mapped_column(Text, default="")  # Apprise URLs, whitespace-separated
    language: Mapped[str] = mapped_column(String(8), default="zh")
    quiet_hours: Mapped[str] = mapped_column(String(20), default="")  # "22:00-07:00" or empty
    node: Mapped[Node] = relationship(lazy="joined")


class Meta(Base):
    """Key/value facts such as the registry revision the engine watches to reload."""

    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))


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
