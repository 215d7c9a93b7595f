"""The delivery record: what happened to each message to each subscription, the answer to "did it go out?"."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from msgspec import Struct
from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.models.push import PushDelivery, PushSubscription
from server.push.failures import shown
from server.push.retries import Outcome
from server.push.webpush import Result

if TYPE_CHECKING:
    from server.push.service import Outgoing

KEEP_DELIVERIES = timedelta(days=30)
PRUNE_LIMIT = 10_000
"""Rows one prune deletes at most: a short transaction, and the next prune takes the rest."""

# Core, not ORM, inserts: the ORM's bulk path costs several times more per row, paid for every message of a burst.
_INSERT = insert(PushDelivery.__table__)  # type: ignore[arg-type]


class DeliveryInfo(Struct):
    id: int
    kind: str
    note_id: str | None
    at: datetime | None
    """The reminder occurrence this message was for."""
    device_id: str | None
    push_service: str
    status: str
    http_status: int | None
    attempts: int
    error: str | None
    """A fixed category ("timeout", "connection refused", "tls", "dns", "http 4xx"...: server/push/failures.py),
    never what the endpoint answered."""
    sent_at: datetime


async def record(session: AsyncSession, results: Sequence[tuple[Outgoing, Result]]) -> None:
    """Writes the delivery record and removes the subscriptions the push service said are gone."""
    if not results:
        return
    rows = [
        {
            "user_id": out.user_id,
            "kind": out.kind,
            "note_id": out.note_id,
            "occurrence_at": out.occurrence_at,
            "subscription_id": out.subscription_id,
            "device_id": out.device_id,
            "push_service": push_service(out.target.endpoint),
            "status": str(result.outcome),
            "http_status": result.status,
            "attempts": result.attempts,
            "error": None if result.error is None else str(result.error),
            "sent_at": result.finished_at,
        }
        for out, result in results
    ]
    await session.execute(_INSERT, rows)
    gone = [out.subscription_id for out, result in results if result.outcome is Outcome.GONE]
    if gone:
        await session.execute(delete(PushSubscription).where(PushSubscription.id.in_(gone)))


def push_service(endpoint: str) -> str:
    """scheme://host of an endpoint: which push service, without the per-device secret path."""
    split = urlsplit(endpoint)
    return f"{split.scheme}://{split.hostname or ''}"


async def list_deliveries(db: AsyncSession, user_id: str, note_id: str | None, limit: int) -> list[DeliveryInfo]:
    query = select(PushDelivery).where(PushDelivery.user_id == user_id)
    if note_id is not None:
        query = query.where(PushDelivery.note_id == note_id)
    rows = await db.scalars(query.order_by(PushDelivery.sent_at.desc(), PushDelivery.id.desc()).limit(limit))
    return [
        DeliveryInfo(
            r.id,
            r.kind,
            r.note_id,
            r.occurrence_at,
            r.device_id,
            r.push_service,
            r.status,
            r.http_status,
            r.attempts,
            shown(r.error, r.http_status),
            r.sent_at,
        )
        for r in rows
    ]


async def prune(session: AsyncSession, now: datetime) -> int:
    """Deletes delivery records older than KEEP_DELIVERIES (at most PRUNE_LIMIT of them); returns how many."""
    old = select(PushDelivery.id).where(PushDelivery.sent_at < now - KEEP_DELIVERIES).limit(PRUNE_LIMIT)
    result = await session.execute(delete(PushDelivery).where(PushDelivery.id.in_(old.scalar_subquery())))
    return int(result.rowcount or 0)
