"""Push subscriptions, reminder occurrences (who claimed and sent which), and the delivery record."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from server.models.base import Base, UTCDateTime, new_id, utcnow


class PushSubscription(Base):
    """A browser's push subscription, tied to the device that made it: revoking the device removes it."""

    __tablename__ = "push_subscriptions"
    __table_args__ = (UniqueConstraint("user_id", "endpoint"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), index=True)
    endpoint: Mapped[str] = mapped_column(String(2048))
    p256dh: Mapped[str] = mapped_column(String(128))
    auth: Mapped[str] = mapped_column(String(64))
    app_url: Mapped[str] = mapped_column(String(300), default="")
    """The origin the app was opened at when subscribing: where a notification tap opens the note."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ReminderOccurrence(Base):
    """One due time of one note's reminder, claimed by the process that sends it.

    The unique key (user, note, at) is the claim: inserting it (or taking over a claim whose lease ran out, after a
    crash) is one atomic statement, so several server processes on one database send each occurrence once. A
    finished row keeps a one-shot reminder from being sent again without touching the note's `done`, which is the
    user's to set.
    """

    __tablename__ = "reminder_occurrences"
    __table_args__ = (
        UniqueConstraint("user_id", "note_id", "at"),
        Index("ix_reminder_occurrences_finished_at", "finished_at"),  # pruning finished occurrences
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    note_id: Mapped[str] = mapped_column(String(36))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    lease_until: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class PushDelivery(Base):
    """What happened to one message to one subscription: the answer to "did it go out?"."""

    __tablename__ = "push_deliveries"
    __table_args__ = (
        Index("ix_push_deliveries_user_id_note_id_sent_at", "user_id", "note_id", "sent_at"),
        Index("ix_push_deliveries_sent_at", "sent_at"),  # pruning old records
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    """"reminder" or "test"."""
    note_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    occurrence_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Plain columns, not foreign keys: the record outlives the subscription (a 410 removes it) and the device, and
    # a device revoked while a message is in flight must not make the record fail to write.
    subscription_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    device_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    push_service: Mapped[str] = mapped_column(String(300))
    """scheme://host of the endpoint: which push service it went to, without the per-device secret path."""
    status: Mapped[str] = mapped_column(String(16))
    """"delivered", "gone" (the push service said the subscription ended; it was removed) or "failed"."""
    http_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
