"""Push subscriptions, messages to a user's devices, and the delivery record (what routes and the scheduler call)."""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Annotated, Any
from urllib.parse import urlsplit

import msgspec
from cryptography.hazmat.primitives.asymmetric import ec
from msgspec import Meta, Struct
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.auth import Auth
from server.config import Settings
from server.errors import NotFound, Unprocessable
from server.models.base import utcnow
from server.models.push import PushSubscription
from server.push.deliveries import record
from server.push.guard import MAX_ENDPOINT_LENGTH, EndpointGuard, EndpointRefused
from server.push.vapid import VapidKeys
from server.push.webpush import MAX_PAYLOAD_BYTES, Encryptor, PushSender, PushTarget, Result, new_http_client

log = logging.getLogger("keeptabs.push")

BODY_CHARS = 200
NOTE_PATH = "/#note/{note_id}"
"""Where the PWA opens a note (pwa/sw.js openNote)."""
DECLARATIVE_PUSH = 8030
B64URL = r"^[A-Za-z0-9_-]+={0,2}$"
SHUTDOWN_GRACE = 3.0
RESOLVE_EVERY = 5.0
"""Seconds a push host's checked addresses are reused for: a burst resolves each host once, and a changed DNS
answer is trusted only briefly."""


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
class Outgoing:
    """One message for one subscription, with what the delivery record needs to say about it."""

    subscription_id: str
    user_id: str
    device_id: str
    target: PushTarget
    payload: bytes
    kind: str
    topic: str | None = None
    note_id: str | None = None
    occurrence_at: datetime | None = None


@lru_cache(maxsize=4096)
def iso_z(when: datetime) -> str:
    # Cached: the reminders of a burst share a few due times, and strftime is a real cost per message.
    when = when.astimezone(UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def reminder_payload(note_id: str, title: str, body: str, at: datetime, app_url: str) -> bytes:
    """The spec's reminder message, plus WebKit's declarative form so Safari 18.4+ shows it without the worker.

    Cut to fit MAX_PAYLOAD_BYTES: a 500-character title in a 4-byte script would not fit twice otherwise.
    """
    title_chars, body_chars = len(title), BODY_CHARS
    while True:
        message: dict[str, Any] = {
            "type": "reminder",
            "note_id": note_id,
            "title": title[:title_chars],
            "body": body[:body_chars],
            "at": iso_z(at),
        }
        if app_url:
            shown = title[:title_chars] or body[:body_chars].split("\n", 1)[0] or "Reminder"
            message["web_push"] = DECLARATIVE_PUSH
            message["notification"] = {
                "title": shown,
                "body": body[:body_chars],
                "navigate": app_url + NOTE_PATH.format(note_id=note_id),
                "tag": note_id,
                "mutable": True,  # a service worker, where there is one, shows it with the Done/Snooze actions
            }
        encoded = msgspec.json.encode(message)
        if len(encoded) <= MAX_PAYLOAD_BYTES:
            return encoded
        if title_chars > 60:
            title_chars //= 2
        else:
            body_chars //= 2


def ping_payload(app_url: str) -> bytes:
    message: dict[str, Any] = {"type": "test", "title": "KeepTabs", "body": "Notifications work on this device."}
    if app_url:
        notification = {"title": message["title"], "body": message["body"], "navigate": app_url + "/"}
        message.update(web_push=DECLARATIVE_PUSH, notification=notification)
    return msgspec.json.encode(message)


def app_origin(origin_header: str | None, base_url: str) -> str:
    """scheme://host[:port] the app runs at: the browser's Origin header when it is one, else the request's URL."""
    for candidate in (origin_header or "", base_url):
        split = urlsplit(candidate)
        if split.scheme in ("http", "https") and split.netloc and "@" not in split.netloc:
            return f"{split.scheme}://{split.netloc}"
    return ""


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
    session: AsyncSession, guard: EndpointGuard, auth: Auth, data: SubscriptionRequest, app_url: str
) -> bool:
    """Stores the subscription for this device; True when it is new, False when the endpoint was already stored."""
    check_keys(data.keys)
    try:
        # Before the transaction: resolving can take seconds, and SQLite would hold its write lock meanwhile.
        await guard.check(data.endpoint, fresh=True)
    except EndpointRefused as exc:
        raise Unprocessable("endpoint", str(exc)) from exc
    try:
        return await _store(session, auth, data, app_url)
    except IntegrityError:
        # The same endpoint stored by a concurrent request in between: now it is there to update.
        return await _store(session, auth, data, app_url)


async def _store(session: AsyncSession, auth: Auth, data: SubscriptionRequest, app_url: str) -> bool:
    async with session.begin():
        found = await session.scalar(
            select(PushSubscription).where(
                PushSubscription.user_id == auth.user_id, PushSubscription.endpoint == data.endpoint
            )
        )
        values = {"device_id": auth.device_id, "p256dh": data.keys.p256dh, "auth": data.keys.auth}
        if found is None:
            session.add(PushSubscription(user_id=auth.user_id, endpoint=data.endpoint, app_url=app_url, **values))
            return True
        for name, value in {**values, "app_url": app_url, "updated_at": utcnow()}.items():
            setattr(found, name, value)
        return False


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


def outgoing_for(subscription: PushSubscription, payload: bytes, kind: str, **occurrence: Any) -> Outgoing:
    target = PushTarget(subscription.endpoint, subscription.p256dh, subscription.auth)
    return Outgoing(subscription.id, subscription.user_id, subscription.device_id, target, payload, kind, **occurrence)


class PushService:
    """The process's push machinery: keys, the endpoint guard and one pooled sender, on `app.state.push`."""

    def __init__(self, settings: Settings, keys: VapidKeys, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.keys = keys
        self.sessionmaker = sessionmaker
        self.guard = EndpointGuard(settings.push_allow_loopback, cache_seconds=RESOLVE_EVERY)
        self.client = new_http_client()
        self.sender = PushSender(Encryptor(keys, settings.vapid_subject, settings.push_ttl), self.guard, self.client)
        self._background: set[asyncio.Task[Any]] = set()

    async def send(self, outgoing: Sequence[Outgoing]) -> list[tuple[Outgoing, Result]]:
        if len(outgoing) == 1:  # the common case, without a task per message
            only = outgoing[0]
            return [(only, await self.sender.send(only.payload, only.target, only.topic))]
        results = await asyncio.gather(*(self.sender.send(o.payload, o.target, o.topic) for o in outgoing))
        return list(zip(outgoing, results, strict=True))

    async def send_test(self, user_id: str) -> int:
        """Starts a test message to every subscription of the user; returns how many."""
        async with self.sessionmaker() as session:
            subscriptions = (await subscriptions_of(session, [user_id]))[user_id]
        outgoing = [outgoing_for(s, ping_payload(s.app_url), "test") for s in subscriptions]
        if outgoing:
            self.spawn(self._send_and_record(outgoing))
        return len(outgoing)

    async def _send_and_record(self, outgoing: Sequence[Outgoing]) -> None:
        results = await self.send(outgoing)
        async with self.sessionmaker() as session, session.begin():
            await record(session, results)

    def spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("push task failed", exc_info=task.exception())

    async def drain(self, timeout: float = SHUTDOWN_GRACE) -> None:
        """Waits a little for messages in flight to be answered (on shutdown), so that they can be recorded."""
        if self._background:
            await asyncio.wait(list(self._background), timeout=timeout)

    async def aclose(self) -> None:
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        await self.client.aclose()
