"""Live updates: each open app holds a stream that carries its user's change-feed cursor (GET /api/events).

A message only says "the feed moved to N": devices then sync from their own cursor, so a lost message costs a little
latency, never data. Streams are kept in this process's hub (server/live/hub.py); with PostgreSQL, messages reach the
other processes through one LISTEN/NOTIFY channel (server/live/relay.py). A device that signs out or is revoked has
its streams closed at once in every process, rather than at its next token check.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import msgspec
from litestar import Litestar
from litestar.config.app import AppConfig
from litestar.events import EventListener, listener
from litestar.plugins import InitPluginProtocol
from litestar.response import ServerSentEventMessage
from sqlalchemy import bindparam, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from server.config import Settings
from server.db import reading
from server.errors import ServiceUnavailable
from server.live.hub import Hub
from server.live.relay import DeviceEnded, FeedMoved, Relay
from server.models import Token, User

FEED_MOVED = "feed_moved"
HEARTBEAT_SECONDS = 15.0
TOKEN_RECHECK_SECONDS = 300.0
"""A fallback only: sign-out and revocation reach streams as messages; this bounds the effect of one lost message."""
FULL_RETRY_AFTER = 30
"""Seconds a client is asked to wait when this process holds as many streams as it may."""


class Cursor(msgspec.Struct):
    cursor: int


def plain_dsn(database_url: str) -> str:
    """asyncpg wants `postgresql://`, not SQLAlchemy's `postgresql+asyncpg://`."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


class LiveUpdates(InitPluginProtocol):
    """The streams of this process and, on PostgreSQL, the relay to the others; found in `state.live`."""

    def __init__(self, settings: Settings) -> None:
        self.hub = Hub(per_device=settings.streams_per_device, max_streams=settings.max_streams)
        self.relay = Relay(plain_dsn(settings.listen_database_url), self.hub) if settings.is_postgres else None
        self.heartbeat = HEARTBEAT_SECONDS
        self.token_recheck = TOKEN_RECHECK_SECONDS

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        app_config.state["live"] = self
        app_config.lifespan.append(self._lifespan)
        return app_config

    @asynccontextmanager
    async def _lifespan(self, _app: Litestar) -> AsyncIterator[None]:
        if self.relay is not None:
            await self.relay.start()
        try:
            yield
        finally:
            if self.relay is not None:
                await self.relay.stop()

    def admit(self) -> None:
        if self.hub.full:
            raise ServiceUnavailable(
                "This server holds as many live-update streams as it may; the app syncs on its own meanwhile.",
                headers={"Retry-After": str(FULL_RETRY_AFTER)},
            )

    def feed_moved(self, user_id: str, cursor: int) -> None:
        self.hub.feed_moved(user_id, cursor)
        if self.relay is not None:
            self.relay.publish(FeedMoved(user_id, cursor))

    def device_ended(self, user_id: str, device_id: str) -> None:
        """Sign-out or revocation: the device's streams end in every process."""
        self.hub.device_ended(user_id, device_id)
        if self.relay is not None:
            self.relay.publish(DeviceEnded(user_id, device_id))

    def feed_moved_listener(self) -> EventListener:
        async def on_feed_moved(user_id: str, cursor: int) -> None:
            self.feed_moved(user_id, cursor)

        return listener(FEED_MOVED)(on_feed_moved)


def live_channels(settings: Settings) -> LiveUpdates:
    return LiveUpdates(settings)


def sync_message(cursor: int) -> ServerSentEventMessage:
    return ServerSentEventMessage(event="sync", data=msgspec.json.encode(Cursor(cursor)).decode())


HEARTBEAT = ServerSentEventMessage(comment="ping", data=None)

_SIGNED_IN_HEAD = (
    select(User.seq).join(Token, Token.user_id == User.id).where(Token.hash == bindparam("hash"))
)


async def head_if_signed_in(engine: AsyncEngine, token_hash: str) -> int | None:
    """The user's feed head, or None once the token has ended: one indexed read answers both."""
    async with reading(engine) as conn:
        seq = (await conn.execute(_SIGNED_IN_HEAD, {"hash": token_hash})).scalar_one_or_none()
    return None if seq is None else int(seq)


async def feed_events(
    live: LiveUpdates, engine: AsyncEngine, user_id: str, device_id: str, token_hash: str
) -> AsyncIterator[ServerSentEventMessage]:
    """The user's stream: the cursor now, then every later cursor (never one going backwards), heartbeats between.

    The stream is registered before the database is read, so a change or a sign-out committed in between is not
    missed: either the read sees it or the message reaches the registered stream.
    """
    stream = live.hub.open(user_id, device_id)
    try:
        sent = -1
        check_at = 0.0
        while True:
            stream.wake.clear()
            if stream.ended:
                return
            if stream.check or time.monotonic() >= check_at:
                stream.check = False
                head = await head_if_signed_in(engine, token_hash)
                if head is None or stream.ended:
                    return
                stream.cursor = max(stream.cursor, head)
                check_at = time.monotonic() + live.token_recheck
            if stream.cursor > sent:
                sent = stream.cursor
                yield sync_message(sent)
                continue
            try:
                async with asyncio.timeout(live.heartbeat):
                    await stream.wake.wait()
            except TimeoutError:
                yield HEARTBEAT
    finally:
        live.hub.close(stream)
