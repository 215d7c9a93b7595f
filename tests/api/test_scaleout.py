"""Several `keeptabs serve` processes on one PostgreSQL: live updates cross processes, and a SIGKILL loses nothing."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from pathlib import Path

import asyncpg
import httpx
import pytest

from server.services.events import channel_for, plain_dsn
from tests.live import EventStream, SimDevice, login, register
from tests.server_process import ServerProcess


@pytest.fixture
def pg_env(pg_database_url: str, tmp_path: Path) -> dict[str, str]:
    # One data directory for all processes: they must share the VAPID keys.
    return {"KEEPTABS_DATABASE_URL": pg_database_url, "KEEPTABS_DATA_DIR": str(tmp_path / "data")}


@pytest.fixture
def two_servers(pg_env: dict[str, str]) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    with ServerProcess(pg_env) as a, ServerProcess(pg_env) as b:
        yield a, b


@pytest.fixture
async def clients(two_servers: tuple[ServerProcess, ServerProcess]) -> AsyncIterator[list[httpx.AsyncClient]]:
    a, b = two_servers
    async with (
        httpx.AsyncClient(base_url=a.base_url, timeout=10) as ha,
        httpx.AsyncClient(base_url=b.base_url, timeout=10) as hb,
    ):
        yield [ha, hb]


async def test_a_change_through_one_process_reaches_a_device_on_the_other(
    two_servers: tuple[ServerProcess, ServerProcess], clients: list[httpx.AsyncClient]
) -> None:
    a, b = two_servers
    via_a, via_b = clients
    account = await register(via_a, "laptop")
    laptop, phone = SimDevice(account["token"]), SimDevice(await login(via_b, account, "phone"))
    async with EventStream(a.base_url, phone.token, via_query=True) as phone_hears:
        assert await phone_hears.next_sync() == 0
        note_id = str(uuid.uuid4())
        laptop.edit(note_id, title="Call the plumber", body="before Friday")
        await laptop.sync(via_b)
        assert await phone_hears.next_sync() == laptop.cursor > 0
        await phone.sync(via_a)
    assert phone.notes[note_id]["title"] == "Call the plumber"
    # And back the other way: the laptop listens on B, the phone writes through A.
    async with EventStream(b.base_url, laptop.token) as laptop_hears:
        assert await laptop_hears.next_sync() == phone.cursor
        phone.edit(note_id, body="before Friday, 9:00")
        await phone.sync(via_a)
        assert await laptop_hears.next_sync() == phone.cursor
        await laptop.sync(via_b)
    assert laptop.notes[note_id]["body"] == "before Friday, 9:00"


async def listening_processes(database_url: str, user_id: str) -> int:
    """How many server processes LISTEN on the user's channel (each process has one LISTEN connection)."""
    connection = await asyncpg.connect(plain_dsn(database_url))
    try:
        return int(
            await connection.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query = $1",
                f'LISTEN "{channel_for(user_id)}"',
            )
        )
    finally:
        await connection.close()


async def open_streams_on_every_worker(
    server: ServerProcess, database_url: str, account: dict[str, str], stack: AsyncExitStack
) -> list[EventStream]:
    """Streams until every worker holds at least one (the kernel, not us, picks the worker for a connection)."""
    streams: list[EventStream] = []
    while await listening_processes(database_url, account["user_id"]) < server.workers:
        assert len(streams) < 60, "new connections never reached every worker"
        stream = await stack.enter_async_context(EventStream(server.base_url, account["token"]))
        assert await stream.next_sync() == 0  # subscribed by now
        streams.append(stream)
    return streams


async def test_workers_behind_one_port_all_hear_every_change(pg_env: dict[str, str]) -> None:
    with ServerProcess(pg_env, workers=2) as server:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http, AsyncExitStack() as stack:
            account = await register(http)
            streams = await open_streams_on_every_worker(server, pg_env["KEEPTABS_DATABASE_URL"], account, stack)
            writer = SimDevice(account["token"])
            for title in ("one", "two"):
                writer.edit(str(uuid.uuid4()), title=title)
                await writer.sync(http)
                assert [await s.next_sync() for s in streams] == [writer.cursor] * len(streams)
