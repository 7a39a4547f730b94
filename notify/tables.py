"""Tables of the delivery layer: every channel attempt, and acknowledgement links already used."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.sql import Base


class DeliveryAttempt(Base):
    """One try of one channel (Apprise URL) of one delivery: when, which scheme, and what happened."""

    __tablename__ = "delivery_attempt"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("delivery.id", ondelete="CASCADE"), index=True)
    at: Mapped[int] = mapped_column(BigInteger)
    channel: Mapped[int] = mapped_column(Integer)  # index of the URL in the contact's channel list
    scheme: Mapped[str] = mapped_column(String(32))  # e.g. wecombot, mailto; never the URL (it holds keys)
    ok: Mapped[bool] = mapped_column(Boolean)
    error: Mapped[str] = mapped_column(Text, default="")
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
    digest: Mapped[bool] = mapped_column(Boolean, default=False)


class AckUse(Base):
    """A used acknowledgement link (its nonce): each link works once."""

    __tablename__ = "ack_use"
    nonce: Mapped[str] = mapped_column(String(32), primary_key=True)
    alert_id: Mapped[int] = mapped_column(Integer, index=True)
    contact: Mapped[str] = mapped_column(String(64))
    at: Mapped[int] = mapped_column(BigInteger)
    result: Mapped[str] = mapped_column(String(32))
