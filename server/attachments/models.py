"""Tables: the photos each user stored (with their OCR queue state), and shares waiting to be claimed.

A blob belongs to (user_id, sha256): content-addressed per user, so a retry or a second device uploading the same
photo finds it stored. The OCR queue is the `ocr_*` columns: a row is claimed by moving its lease forward with a
compare-and-set UPDATE, which works the same on SQLite and PostgreSQL and lets several processes share the queue.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from server.models.base import Base, UTCDateTime, utcnow


class Blob(Base):
    __tablename__ = "blobs"
    __table_args__ = (Index("ix_blobs_ocr_state_created_at", "ocr_state", "created_at"),)

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    type: Mapped[str] = mapped_column(String(32))
    """Sniffed from the bytes: image/jpeg, image/png, image/webp, image/heic, image/heif or image/avif."""
    size: Mapped[int] = mapped_column(BigInteger)
    width: Mapped[int | None] = mapped_column(Integer, nullable=True)
    height: Mapped[int | None] = mapped_column(Integer, nullable=True)
    ocr_state: Mapped[str] = mapped_column(String(16), default="pending")
    """pending (queued), done, failed (gave up after a few attempts), skipped (a type tesseract cannot read)."""
    ocr_text: Mapped[str] = mapped_column(Text, default="")
    ocr_attempts: Mapped[int] = mapped_column(Integer, default=0)
    ocr_lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    """While in the future, one process holds this row's OCR; once past, another may take it over."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PendingShare(Base):
    """Something shared to the app before it could take it (no service worker yet): kept until a signed-in device
    claims it, or until it expires."""

    __tablename__ = "pending_shares"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    """SHA-256 of the share's id: the id is a secret (whoever holds it may claim the share), so it is not stored."""
    title: Mapped[str] = mapped_column(Text, default="")
    text: Mapped[str] = mapped_column(Text, default="")
    url: Mapped[str] = mapped_column(Text, default="")
    images: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    """[{"sha256", "type", "size", "width", "height", "name"}], in the order they were shared."""
    refused: Mapped[list[str]] = mapped_column(JSON, default=list)
    """Why a shared file was not kept (not an image, too large), one line each, shown on the page."""
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
