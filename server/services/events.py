"""Live updates: every user has a channel that carries their change-feed cursor to the devices listening.

One process on SQLite uses the in-memory backend; on PostgreSQL the channel is a LISTEN/NOTIFY channel, so a change
committed through any process reaches devices connected to every other. A message only says "the feed moved to N":
devices then sync from their own cursor, so a lost message costs a little latency, never data.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from itertools import chain, repeat

import anyio
import asyncpg
import msgspec
from litestar.channels import ChannelsPlugin, Subscriber
from litestar.channels.backends.asyncpg import AsyncPgChannelsBackend
from litestar.channels.backends.base import ChannelsBackend
from litestar.channels.backends.memory import MemoryChannelsBackend
from litestar.events import EventListener, listener
from litestar.response import ServerSentEventMessage
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.config import Settings
from server.models import Token, User

FEED_MOVED = "feed_moved"
HEARTBEAT_SECONDS = 15.0
TOKEN_RECHECK_SECONDS = 60.0
RESYNC = b"resync"
"""Sent on every channel when the LISTEN connection was lost and made again: notifications may have been missed."""
RECONNECT_DELAYS = (0.1, 0.5, 1.0, 2.0, 5.0)
PUBLISH_TIMEOUT = 2.0
MAX_BACKLOG = 16
"""Only the newest cursor matters, so a slow stream keeps the last few messages and drops older ones."""

log = logging.getLogger("keeptabs.events")


class FeedMoved(msgspec.Struct):
    cursor: int


_decode_feed_moved = msgspec.json.Decoder(FeedMoved).decode


def channel_for(user_id: str) -> str:
    """A NOTIFY channel name: short, lower-case, no dashes, so PostgreSQL takes it as it is."""
    return "feed_" + user_id.replace("-", "").lower()


class NotifyBackend(AsyncPgChannelsBackend):
    """LISTEN/NOTIFY that survives a lost connection.

    Litestar's backend connects anew for every publish and stops hearing anything once its LISTEN connection drops;
    and an exception from publish kills the plugin's publishing task for good. Here publishing reuses one connection
    and never raises, and a lost LISTEN connection is made again, after which every channel is told to resync.
    """

    def __init__(self, dsn: str) -> None:
        super().__init__(dsn=dsn)
        self._publisher: asyncpg.Connection | None = None
        self._stopping = False
        self._reconnecting: asyncio.Task[None] | None = None

    async def on_startup(self) -> None:
        self._stopping = False
        await super().on_startup()
        self._listener_conn.add_termination_listener(self._on_listener_lost)

    async def on_shutdown(self) -> None:
        self._stopping = True
        if self._reconnecting is not None:
            self._reconnecting.cancel()
        if self._publisher is not None:
            await self._publisher.close()
            self._publisher = None
        await super().on_shutdown()

    async def publish(self, data: bytes, channels: Iterable[str]) -> None:
        payload = data.decode()
        for attempt in range(2):
            try:
                # Bounded: a query sent just as the server ends the connection can wait forever for its answer.
                async with asyncio.timeout(PUBLISH_TIMEOUT):
                    if self._publisher is None or self._publisher.is_closed():
                        self._publisher = await self._connect()
                    for channel in channels:
                        await self._publisher.execute("SELECT pg_notify($1, $2)", channel, payload)
                return
            # Whatever asyncpg raises (it has errors outside its own hierarchy), the publishing task must live on.
            except Exception as exc:
                if self._publisher is not None:
                    self._publisher.terminate()
                self._publisher = None
                if attempt:
                    # Devices still sync on their own schedule; a lost notification only delays them.
                    log.warning("could not publish a live update: %s", exc)

    def _on_listener_lost(self, _connection: asyncpg.Connection) -> None:
        if not self._stopping:
            self._reconnecting = asyncio.get_running_loop().create_task(self._listen_again())

    async def _listen_again(self) -> None:
        for delay in chain(RECONNECT_DELAYS, repeat(RECONNECT_DELAYS[-1])):
            try:
                await self._restore_listener()
            except Exception as exc:
                log.warning("live updates: LISTEN connection lost, retrying in %.1f s: %s", delay, exc)
                await asyncio.sleep(delay)
            else:
                log.info("live updates: LISTEN connection restored")
                return

    async def _restore_listener(self) -> None:
        async with self._listener_lock:
            connection = await self._connect()
            try:
                for channel in self._subscribed_channels:
                    await connection.add_listener(channel, self._listener)  # type: ignore[arg-type]
            except BaseException:
                connection.terminate()
                raise
            self._listener_conn = connection
            connection.add_termination_listener(self._on_listener_lost)
            for channel in self._subscribed_channels:
                self._queue.put_nowait((channel, RESYNC))  # type: ignore[union-attr]


def plain_dsn(database_url: str) -> str:
    """asyncpg wants `postgresql://`, not SQLAlchemy's `postgresql+asyncpg://`."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


class LiveChannels(ChannelsPlugin):
    """The channels plugin, plus what the events route needs: its timings and race-free subscriptions."""

    def __init__(
        self,
        backend: ChannelsBackend,
        heartbeat: float = HEARTBEAT_SECONDS,
        token_recheck: float = TOKEN_RECHECK_SECONDS,
    ) -> None:
        super().__init__(
            backend,
            arbitrary_channels_allowed=True,
            subscriber_max_backlog=MAX_BACKLOG,
            subscriber_backlog_strategy="dropleft",
        )
        self.heartbeat = heartbeat
        self.token_recheck = token_recheck
        # ChannelsPlugin decides "first subscriber: LISTEN" / "last one gone: UNLISTEN" and then awaits the backend;
        # one lock over both keeps a device's new stream from being unsubscribed by its old one closing meanwhile.
        self._subscriptions = asyncio.Lock()

    @asynccontextmanager
    async def listen(self, user_id: str) -> AsyncIterator[Subscriber]:
        channel = channel_for(user_id)
        async with self._subscriptions:
            subscriber = await self.subscribe(channel)
        try:
            yield subscriber
        finally:
            # The stream ends by cancellation when the client goes away; unsubscribing must still finish.
            with anyio.CancelScope(shield=True):
                async with self._subscriptions:
                    await self.unsubscribe(subscriber, channel)

    def feed_moved_listener(self) -> EventListener:
        async def on_feed_moved(user_id: str, cursor: int) -> None:
            self.publish(msgspec.json.encode(FeedMoved(cursor)), channel_for(user_id))

        return listener(FEED_MOVED)(on_feed_moved)


def live_channels(settings: Settings) -> LiveChannels:
    if settings.is_postgres:
        return LiveChannels(NotifyBackend(plain_dsn(settings.resolved_database_url)))
    return LiveChannels(MemoryChannelsBackend())


async def current_cursor(sessionmaker: async_sessionmaker[AsyncSession], user_id: str) -> int:
    async with sessionmaker() as session:
        seq = await session.scalar(select(User.seq).where(User.id == user_id))
    return int(seq or 0)


def sync_message(cursor: int) -> ServerSentEventMessage:
    return ServerSentEventMessage(event="sync", data=msgspec.json.encode(FeedMoved(cursor)).decode())


HEARTBEAT = ServerSentEventMessage(comment="ping", data=None)


async def token_alive(sessionmaker: async_sessionmaker[AsyncSession], token_hash: str) -> bool:
    async with sessionmaker() as session:
        return await session.scalar(select(Token.hash).where(Token.hash == token_hash)) is not None


async def feed_events(
    live: LiveChannels, sessionmaker: async_sessionmaker[AsyncSession], user_id: str, token_hash: str
) -> AsyncIterator[ServerSentEventMessage]:
    """The user's stream: the cursor now, then every later cursor (never one going backwards), heartbeats between.

    Subscribing comes before reading the cursor, so a change committed in between is not missed. The stream ends
    soon after its token does (sign-out, device removed), rather than serving a device that no longer has access.
    """
    async with live.listen(user_id) as subscriber:
        sent = await current_cursor(sessionmaker, user_id)
        yield sync_message(sent)
        checked = time.monotonic()
        async for payload in _with_heartbeats(subscriber, live.heartbeat):
            if time.monotonic() - checked >= live.token_recheck:
                if not await token_alive(sessionmaker, token_hash):
                    return
                checked = time.monotonic()
            if payload is None:
                yield HEARTBEAT
                continue
            cursor = await _cursor_from(payload, sessionmaker, user_id)
            if cursor > sent:
                sent = cursor
                yield sync_message(cursor)


async def _cursor_from(payload: bytes, sessionmaker: async_sessionmaker[AsyncSession], user_id: str) -> int:
    if payload == RESYNC:
        return await current_cursor(sessionmaker, user_id)
    return _decode_feed_moved(payload).cursor


async def _with_heartbeats(subscriber: Subscriber, every: float) -> AsyncIterator[bytes | None]:
    """The subscriber's messages, and None whenever `every` seconds pass without one."""
    messages = subscriber.iter_events()
    # One pending read carried across heartbeats: cancelling a read (as wait_for would) would close the generator.
    pending: asyncio.Future[bytes] = asyncio.ensure_future(anext(messages))
    try:
        while True:
            done, _ = await asyncio.wait({pending}, timeout=every)
            if not done:
                yield None
                continue
            try:
                payload = pending.result()
            except StopAsyncIteration:
                return
            pending = asyncio.ensure_future(anext(messages))
            yield payload
    finally:
        pending.cancel()
