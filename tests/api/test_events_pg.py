"""Live updates on PostgreSQL when the LISTEN connection is lost (a database restart, a proxy cutting it)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from pathlib import Path

import asyncpg
import httpx
import pytest
from litestar import Litestar

from server.app import create_app
from server.config import Settings
from server.live.relay import APPLICATION_NAME
from server.services.events import FEED_MOVED, plain_dsn
from tests.live import EventStream, ThreadedServer, register


@pytest.fixture
def pg_settings(pg_database_url: str, tmp_path: Path) -> Settings:
    return Settings(database_url=pg_database_url, data_dir=str(tmp_path / "data"))


@pytest.fixture
def server(pg_settings: Settings) -> Iterator[ThreadedServer]:
    with ThreadedServer(create_app(pg_settings)) as server:
        yield server


@pytest.fixture
async def database(pg_settings: Settings) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(plain_dsn(pg_settings.resolved_database_url))
    yield connection
    await connection.close()


async def emit_feed_moved(app: Litestar, user_id: str, cursor: int) -> None:
    app.emit(FEED_MOVED, user_id=user_id, cursor=cursor)


LIVE_CONNECTIONS = (
    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1"
    " AND state IS NOT NULL"
)


async def live_connections(database: asyncpg.Connection, expected: int) -> list[int]:
    """The processes' live-update connections, once there are `expected` of them (each connects at startup)."""
    async with asyncio.timeout(10):
        while len(pids := [r["pid"] for r in await database.fetch(LIVE_CONNECTIONS, APPLICATION_NAME)]) != expected:
            await asyncio.sleep(0.02)
    return pids


async def terminate_listeners(database: asyncpg.Connection, expected: int = 1) -> list[int]:
    pids = await live_connections(database, expected)
    await database.execute("SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid", pids)
    return pids


async def test_a_lost_listen_connection_is_made_again_and_missed_changes_are_sent(
    server: ThreadedServer, database: asyncpg.Connection
) -> None:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
        account = await register(http)
    async with EventStream(server.base_url, account["token"]) as stream:
        assert await stream.next_sync() == 0
        # A change whose notification is lost with the connection: the feed moved, nobody was told.
        await database.execute("UPDATE users SET seq = 4 WHERE id = $1", account["user_id"])
        await terminate_listeners(database)
        assert await stream.next_sync() == 4
        server.call(emit_feed_moved(server.app, account["user_id"], 5))
        assert await stream.next_sync() == 5


async def test_messages_published_while_the_connection_is_down_reach_other_processes(
    pg_settings: Settings, database: asyncpg.Connection
) -> None:
    """Only A's connection is cut (B keeps listening), so what B hears after it can only be A's queued messages."""
    with ThreadedServer(create_app(pg_settings)) as a:
        [a_connection] = await live_connections(database, 1)
        with ThreadedServer(create_app(pg_settings)) as b:
            async with httpx.AsyncClient(base_url=a.base_url, timeout=10) as http:
                account = await register(http)
            async with EventStream(b.base_url, account["token"]) as stream:
                assert await stream.next_sync() == 0
                a.call(emit_feed_moved(a.app, account["user_id"], 1))
                assert await stream.next_sync() == 1  # from A to B through PostgreSQL
                await database.execute("SELECT pg_terminate_backend($1)", a_connection)
                for cursor in (2, 3):
                    a.call(emit_feed_moved(a.app, account["user_id"], cursor))
                assert await asyncio.wait_for(stream.wait_for_cursor(3), 10) == 3


async def test_one_connection_per_process_whatever_the_number_of_users(
    server: ThreadedServer, database: asyncpg.Connection
) -> None:
    """Live updates hold one connection per process, on one channel, however many users listen."""
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
        accounts = [await register(http, f"user {i}") for i in range(3)]
    async with AsyncExitStack() as stack:
        streams = [await stack.enter_async_context(EventStream(server.base_url, a["token"])) for a in accounts]
        assert [await s.next_sync() for s in streams] == [0, 0, 0]
        assert server.app.state.live.hub.users == 3
        assert len(await live_connections(database, 1)) == 1
