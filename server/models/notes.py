"""Notes, their past revisions, what each device last sent for a note, and the mutation ids already applied.

A note belongs to (user_id, id): the id is made by the client and only unique per user. Its reminder is stored as
columns, not JSON, so the scheduler can find due reminders through an index.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from server.models.base import Base, UTCDateTime, utcnow


def _of_note() -> ForeignKeyConstraint:
    return ForeignKeyConstraint(["user_id", "note_id"], ["notes.user_id", "notes.id"], ondelete="CASCADE")


class Note(Base):
    __tablename__ = "notes"
    __table_args__ = (
        UniqueConstraint("user_id", "seq"),  # the change feed reads (user_id, seq > cursor) in seq order
        Index("ix_notes_reminder_done_reminder_at", "reminder_done", "reminder_at"),
    )

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    title: Mapped[str] = mapped_column(Text, default="")
    body: Mapped[str] = mapped_column(Text, default="")
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    pinned: Mapped[bool] = mapped_column(Boolean, default=False)
    archived: Mapped[bool] = mapped_column(Boolean, default=False)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    reminder_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    """NULL: no reminder (then repeat, tz and done hold their defaults)."""
    reminder_repeat: Mapped[str] = mapped_column(String(16), default="none")
    reminder_tz: Mapped[str] = mapped_column(String(64), default="UTC")
    reminder_done: Mapped[bool] = mapped_column(Boolean, default=False)
    rev: Mapped[int] = mapped_column(Integer)
    seq: Mapped[int] = mapped_column(BigInteger)
    clocks: Mapped[str] = mapped_column(Text, default="{}")
    """sync.state.Clocks as JSON: who last changed each "later edit wins" field, at which rev and time."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class NoteRevision(Base):
    """A note's content at one rev: the base a device that edited that rev is merged against."""

    __tablename__ = "note_revisions"
    __table_args__ = (_of_note(),)

    user_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    note_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    rev: Mapped[int] = mapped_column(Integer, primary_key=True)
    state: Mapped[str] = mapped_column(Text)
    """sync.state.NoteState as JSON."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DeviceNoteView(Base):
    """What a device last sent for a note and the rev that produced: its base if it edits again before hearing back."""

    __tablename__ = "device_note_views"
    __table_args__ = (_of_note(),)

    user_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    note_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True)
    rev: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(Text)


class AppliedMutation(Base):
    """A mutation id already applied for this user: a replay of it is answered `duplicate`."""

    __tablename__ = "applied_mutations"
    __table_args__ = (Index("ix_applied_mutations_user_id_applied_at", "user_id", "applied_at"),)

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    note_id: Mapped[str] = mapped_column(String(36))
    applied_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
