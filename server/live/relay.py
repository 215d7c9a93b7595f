"""PostgreSQL LISTEN/NOTIFY between server processes: one channel per database, one connection per process.

Why one channel: a backend that LISTENs does work per channel it listens on for every notification, so a channel per
user grows linearly with users; here every message carries its user id and each process routes it in memory (hub.py),
dropping the ones for users with no stream open in that process.

The one connection both listens and publishes (publishes are batched: one round trip carries every message queued
meanwhile), so a process holds one connection for live updates beside its request pool. It must reach PostgreSQL
directly: LISTEN does not work through a pooler in transaction mode (docs/deploy.md). If it drops, it is made again
with backoff, messages not yet published are sent then, and every stream of the process asks the database for its
cursor and token, since notifications from other processes may have been missed meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
from itertools import chain, repeat

import asyncpg
import msgspec

from server.live.hub import Hub

CHANNEL = "keeptabs_live"
APPLICATION_NAME = "keeptabs live"
"""Shown in pg_stat_activity, to tell this connection from the request pool's."""
RECONNECT_DELAYS = (0.1, 0.5, 1.0, 2.0, 5.0)
PUBLISH_TIMEOUT = 2.0
MAX_OUTBOX = 10_000
"""Messages kept while the connection is down; older ones go first (devices still sync on their own timer)."""

log = logging.getLogger("keeptabs.live")


class FeedMoved(msgspec.Struct, tag="feed", frozen=True):
    user: str
    cursor: int


class DeviceEnded(msgspec.Struct, tag="ended", frozen=True):
    user: str
    device: str


Message = FeedMoved | DeviceEnded
encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(Message).decode


def deliver(hub: Hub, message: Message) -> None:
    match message:
        case FeedMoved(user, cursor):
            hub.feed_moved(user, cursor)
        case DeviceEnded(user, device):
            hub.device_ended(user, device)


class Relay:
    def __init__(self, dsn: str, hub: Hub) -> None:
        self.dsn = dsn
        self.hub = hub
        self._outbox: list[str] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="keeptabs live relay")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    def publish(self, message: Message) -> None:
        """Queue a message for the other processes (this one has already delivered it); never waits, never raises."""
        if len(self._outbox) >= MAX_OUTBOX:
            del self._outbox[0]
        self._outbox.append(encode(message).decode())
        self._wake.set()

    async def _run(self) -> None:
        delays = chain(RECONNECT_DELAYS, repeat(RECONNECT_DELAYS[-1]))
        while True:
            try:
                connection = await self._connect()
            except Exception as exc:  # asyncpg raises OSError, its own errors and others: all mean "not now"
                delay = next(delays)
                log.warning("live updates: no LISTEN connection, retrying in %.1f s: %s", delay, exc)
                await asyncio.sleep(delay)
                continue
            delays = chain(RECONNECT_DELAYS, repeat(RECONNECT_DELAYS[-1]))
            self.connected.set()
            self.hub.recheck_all()
            try:
                await self._publish_until_lost(connection)
            except Exception as exc:
                log.warning("live updates: LISTEN connection lost: %s", exc)
            finally:
                self.connected.clear()
                connection.terminate()

    async def _connect(self) -> asyncpg.Connection:
        connection = await asyncpg.connect(self.dsn, timeout=10, server_settings={"application_name": APPLICATION_NAME})
        try:
            own_pid = connection.get_server_pid()

            def on_notification(_c: object, pid: int, _channel: str, payload: object) -> None:
                if pid != own_pid:  # this process delivered its own messages when it published them
                    self._receive(str(payload))

            await connection.add_listener(CHANNEL, on_notification)
            connection.add_termination_listener(lambda _c: self._wake.set())
        except BaseException:
            connection.terminate()
            raise
        return connection

    def _receive(self, payload: str) -> None:
        try:
            message = _decode(payload)
        except msgspec.DecodeError:
            log.warning("live updates: ignored a notification that is not ours: %.80r", payload)
            return
        deliver(self.hub, message)

    async def _publish_until_lost(self, connection: asyncpg.Connection) -> None:
        if self._outbox:
            self._wake.set()  # queued while there was no connection
        while True:
            await self._wake.wait()
            self._wake.clear()
            if connection.is_closed():
                raise ConnectionError("the connection was closed")
            batch, self._outbox = self._outbox, []
            if not batch:
                continue
            try:
                # Bounded: a query sent just as the server ends the connection can wait forever for its answer.
                async with asyncio.timeout(PUBLISH_TIMEOUT):
                    await connection.execute("SELECT pg_notify($1, m) FROM unnest($2::text[]) AS m", CHANNEL, batch)
            except BaseException:
                self._outbox[:0] = batch[-MAX_OUTBOX:]  # sent again on the next connection
                raise
