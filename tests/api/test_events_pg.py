"""Live updates on PostgreSQL when the LISTEN connection is lost (a database restart, a proxy cutting it)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from litestar import Litestar

from server.app import create_app
from server.config import Settings
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


async def terminate_listeners(database: asyncpg.Connection) -> list[int]:
    rows = await database.fetch(
        "SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity"
        " WHERE datname = current_database() AND query LIKE 'LISTEN %' AND pid <> pg_backend_pid()"
    )
    return [row["pid"] for row in rows]


async def test_a_lost_listen_connection_is_made_again_and_missed_changes_are_sent(
    server: ThreadedServer, database: asyncpg.Connection
) -> None:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
        account = await register(http)
    async with EventStream(server.base_url, account["token"]) as stream:
        assert await stream.next_sync() == 0
        # A change whose notification is lost with the connection: the feed moved, nobody was told.
        await database.execute("UPDATE users SET seq = 4 WHERE id = $1", account["user_id"])
        assert len(await terminate_listeners(database)) == 1
        assert await stream.next_sync() == 4
        server.call(emit_feed_moved(server.app, account["user_id"], 5))
        assert await stream.next_sync() == 5


async def test_publishing_survives_a_lost_connection(server: ThreadedServer, database: asyncpg.Connection) -> None:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
        account = await register(http)
    async with EventStream(server.base_url, account["token"]) as stream:
        assert await stream.next_sync() == 0
        server.call(emit_feed_moved(server.app, account["user_id"], 1))
        assert await stream.next_sync() == 1
        publishers = await database.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND query LIKE 'SELECT pg_notify%'"
        )
        assert len(publishers) == 1
        for cursor in (2, 3):
            server.call(emit_feed_moved(server.app, account["user_id"], cursor))
        assert await asyncio.wait_for(stream.wait_for_cursor(3), 10) == 3
