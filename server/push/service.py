"""The process's push machinery (keys, the endpoint guard, one pooled sender, the limits) and the messages it sends:
what routes and the scheduler call."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.config import Settings
from server.errors import TooManyRequests
from server.models.push import PushSubscription
from server.push.deliveries import record
from server.push.guard import EndpointGuard
from server.push.limits import PerKeyRate
from server.push.payloads import ping_payload
from server.push.retries import TEST, Profile
from server.push.subscriptions import Caps, subscriptions_of
from server.push.vapid import VapidKeys
from server.push.webpush import Encryptor, PushSender, PushTarget, Result, new_http_client

log = logging.getLogger("keeptabs.push")

SHUTDOWN_GRACE = 3.0
RESOLVE_EVERY = 5.0
"""Seconds a push host's checked addresses are reused for: a burst resolves each host once, and a changed DNS
answer is trusted only briefly."""


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


def outgoing_for(subscription: PushSubscription, payload: bytes, kind: str, **occurrence: Any) -> Outgoing:
    target = PushTarget(subscription.endpoint, subscription.p256dh, subscription.auth)
    return Outgoing(subscription.id, subscription.user_id, subscription.device_id, target, payload, kind, **occurrence)


class PushService:
    """On `app.state.push`. Its limits (docs/deploy.md, "Push limits") keep one user's endpoints from delaying
    everyone's reminders: subscription caps, a per-user share of the sender, and a rate for test messages."""

    def __init__(self, settings: Settings, keys: VapidKeys, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.keys = keys
        self.sessionmaker = sessionmaker
        self.caps = Caps(settings.push_subscriptions_per_device, settings.push_subscriptions_per_user)
        self.guard = EndpointGuard(settings.push_allow_loopback, cache_seconds=RESOLVE_EVERY)
        self.client = new_http_client(settings.push_max_in_flight)
        encryptor = Encryptor(keys, settings.vapid_subject, settings.push_ttl)
        self.sender = PushSender(encryptor, self.guard, self.client, per_owner=settings.push_sends_per_user)
        self.test_rate = PerKeyRate(settings.push_test_burst, settings.push_test_refill_seconds)
        self._background: set[asyncio.Task[Any]] = set()

    async def send(self, outgoing: Sequence[Outgoing], profile: Profile | None = None) -> list[tuple[Outgoing, Result]]:
        """Sends each message (a reminder's retries, unless `profile` says otherwise)."""
        if len(outgoing) == 1:  # the common case, without a task per message
            only = outgoing[0]
            return [(only, await self._send_one(only, profile))]
        results = await asyncio.gather(*(self._send_one(o, profile) for o in outgoing))
        return list(zip(outgoing, results, strict=True))

    def _send_one(self, out: Outgoing, profile: Profile | None) -> Coroutine[Any, Any, Result]:
        return self.sender.send(out.payload, out.target, out.topic, owner=out.user_id, profile=profile)

    async def send_test(self, user_id: str) -> int:
        """Starts a test message to every subscription of the user; returns how many. TooManyRequests beyond the
        user's rate."""
        wait = self.test_rate.take(user_id)
        if wait:
            raise TooManyRequests("Too many test messages: try again in a minute.", wait)
        async with self.sessionmaker() as session:
            subscriptions = (await subscriptions_of(session, [user_id]))[user_id]
        outgoing = [outgoing_for(s, ping_payload(s.app_url), "test") for s in subscriptions]
        if outgoing:
            self.spawn(self._send_and_record(outgoing))
        return len(outgoing)

    async def _send_and_record(self, outgoing: Sequence[Outgoing]) -> None:
        results = await self.send(outgoing, TEST)
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
