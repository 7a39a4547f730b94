"""Tables of the registry: places (一网一码), their household / river-station / camera-zone details, devices,
contacts, and the registry revision (schema changes go through storage/migrations/).
"""

from __future__ import annotations

from sqlalchemy import Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from storage.sql import Base


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
    resident: Mapped[str] = mapped_column(String(200), default="", server_default="")  # who lives there (户主)
    phone: Mapped[str] = mapped_column(String(32), default="", server_default="")  # digits, optionally a leading +
    max_window_h: Mapped[float | None] = mapped_column(Float)  # inactivity limit staff approved above the window
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
    # what people read ("河岸"); the node's name is the local name the cameras' triggers use ("riverside")
    display_name: Mapped[str] = mapped_column(String(200), default="", server_default="")
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
    phone: Mapped[str] = mapped_column(String(32), default="", server_default="")  # digits, optionally a leading +
    channels: Mapped[str] = mapped_column(Text, default="")  # Apprise URLs, whitespace-separated
    language: Mapped[str] = mapped_column(String(8), default="zh")
    quiet_hours: Mapped[str] = mapped_column(String(20), default="")  # "22:00-07:00" or empty
    node: Mapped[Node] = relationship(lazy="joined")


class Meta(Base):
    """Key/value facts such as the registry revision the engine watches to reload."""

    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))
