"""Push subscriptions: stored per user and device, checked by the SSRF guard, and capped.

Caps (docs/deploy.md, "Push limits"): a device keeps `per_device` subscriptions (1: a browser has one at a time,
and the one it makes after `pushsubscriptionchange` replaces the old), a user `per_user` in all. A new subscription
beyond a cap replaces the least recently subscribed one rather than being refused, so that a new phone always gets
its reminders and a browser that re-subscribes never gets stuck behind an error.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated

from cryptography.hazmat.primitives.asymmetric import ec
from msgspec import Meta, Struct
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth import Auth
from server.errors import NotFound, Unprocessable
from server.models import User
from server.models.base import utcnow
from server.models.push import PushSubscription
from server.push.guard import MAX_ENDPOINT_LENGTH, EndpointGuard, EndpointRefused

B64URL = r"^[A-Za-z0-9_-]+={0,2}$"


class SubscriptionKeys(Struct):
    p256dh: Annotated[str, Meta(min_length=1, max_length=128, pattern=B64URL)]
    auth: Annotated[str, Meta(min_length=1, max_length=64, pattern=B64URL)]


class SubscriptionRequest(Struct):
    """The browser's `PushSubscription.toJSON()`."""

    endpoint: Annotated[str, Meta(min_length=1, max_length=MAX_ENDPOINT_LENGTH)]
    keys: SubscriptionKeys
    expirationTime: float | None = None


class UnsubscribeRequest(Struct):
    endpoint: Annotated[str, Meta(min_length=1, max_length=MAX_ENDPOINT_LENGTH)]


@dataclass(frozen=True)
class Caps:
    per_device: int = 1
    per_user: int = 20


def check_keys(keys: SubscriptionKeys) -> None:
    """The keys must be what a browser makes: a P-256 point and a 16-byte secret, else nothing can be encrypted."""
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), _b64url(keys.p256dh))
    except ValueError as exc:
        raise Unprocessable("keys.p256dh", "not an uncompressed P-256 public key") from exc
    if len(_b64url(keys.auth)) != 16:
        raise Unprocessable("keys.auth", "not a 16-byte authentication secret")


def _b64url(text: str) -> bytes:
    text = text.rstrip("=")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


async def subscribe(
    session: AsyncSession, guard: EndpointGuard, auth: Auth, data: SubscriptionRequest, app_url: str, caps: Caps
) -> bool:
    """Stores the subscription for this device; True when it is new, False when the endpoint was already stored."""
    check_keys(data.keys)
    try:
        # Before the transaction: resolving can take seconds, and SQLite would hold its write lock meanwhile.
        await guard.check(data.endpoint, fresh=True)
    except EndpointRefused as exc:
        raise Unprocessable("endpoint", str(exc)) from exc
    try:
        return await _store(session, auth, data, app_url, caps)
    except IntegrityError:
        # The same endpoint stored by a concurrent request in between: now it is there to update.
        return await _store(session, auth, data, app_url, caps)


async def _store(session: AsyncSession, auth: Auth, data: SubscriptionRequest, app_url: str, caps: Caps) -> bool:
    async with session.begin():
        # One subscribe per user at a time (a row lock on PostgreSQL; SQLite has one writer anyway), so that
        # concurrent ones cannot each count below a cap and all stay.
        await session.execute(select(User.id).where(User.id == auth.user_id).with_for_update(key_share=True))
        found = await session.scalar(
            select(PushSubscription).where(
                PushSubscription.user_id == auth.user_id, PushSubscription.endpoint == data.endpoint
            )
        )
        values = {"device_id": auth.device_id, "p256dh": data.keys.p256dh, "auth": data.keys.auth}
        if found is None:
            found = PushSubscription(user_id=auth.user_id, endpoint=data.endpoint, app_url=app_url, **values)
            session.add(found)
            created = True
        else:
            for name, value in {**values, "app_url": app_url, "updated_at": utcnow()}.items():
                setattr(found, name, value)
            created = False
        await session.flush()
        await _enforce_caps(session, auth, found.id, caps)
        return created


async def _enforce_caps(session: AsyncSession, auth: Auth, kept: str, caps: Caps) -> None:
    """Deletes the least recently subscribed of this device's, then of this user's, subscriptions beyond the caps
    (`kept`, the one just stored, always stays)."""
    mine = PushSubscription.user_id == auth.user_id
    newest_first = (PushSubscription.updated_at.desc(), PushSubscription.created_at.desc(), PushSubscription.id)
    for scope, cap in ((PushSubscription.device_id == auth.device_id, caps.per_device), (mine, caps.per_user)):
        extra = select(PushSubscription.id).where(mine, scope, PushSubscription.id != kept)
        ids = list(await session.scalars(extra.order_by(*newest_first).offset(cap - 1)))
        if ids:
            await session.execute(delete(PushSubscription).where(PushSubscription.id.in_(ids)))


async def unsubscribe(db: AsyncSession, auth: Auth, endpoint: str) -> None:
    result = await db.execute(
        delete(PushSubscription).where(PushSubscription.user_id == auth.user_id, PushSubscription.endpoint == endpoint)
    )
    if result.rowcount == 0:
        raise NotFound("No push subscription with this endpoint.")


async def subscriptions_of(session: AsyncSession, user_ids: Sequence[str]) -> dict[str, list[PushSubscription]]:
    by_user: dict[str, list[PushSubscription]] = {user_id: [] for user_id in user_ids}
    if user_ids:
        rows = await session.scalars(select(PushSubscription).where(PushSubscription.user_id.in_(user_ids)))
        for row in rows:
            by_user[row.user_id].append(row)
    return by_user
