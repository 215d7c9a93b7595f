"""Streams leave nothing behind: after many users' streams open, carry events and close, this process's registry is
empty, none of our stream objects is alive, and the memory allocated by server/ code is back where it was.

(What RSS does after streams close is allocator behaviour, measured in bench/bench_live.py: "memory per stream".)
"""

from __future__ import annotations

import asyncio
import gc
import tracemalloc
import types
import uuid
from collections.abc import Callable, Iterator

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.app import create_app
from server.auth import new_token
from server.config import Settings
from server.live.hub import Listener
from server.models import Device, Token, User
from server.services.events import FEED_MOVED, feed_events
from tests.live import EventStream, ThreadedServer

USERS = 100
STREAMS_PER_USER = 2
LEFT_BEHIND = 16 * 1024
"""Bytes server/ code may hold more after than before: far below one leaked stream per user (hundreds of bytes each)."""


@pytest.fixture
def server(settings: Settings) -> Iterator[ThreadedServer]:
    with ThreadedServer(create_app(settings)) as server:
        yield server


async def seed(db_sessions: async_sessionmaker[AsyncSession], count: int) -> list[tuple[str, str]]:
    """(user id, token) for `count` users made straight in the database: hashing passwords is not what is tested."""
    users = [User(id=str(uuid.uuid4()), password_hash="x") for _ in range(count)]
    devices = [Device(id=str(uuid.uuid4()), user_id=user.id, name="memory") for user in users]
    tokens = [new_token() for _ in users]
    async with db_sessions() as session, session.begin():
        for user in users:
            user.email = user.email_key = f"memory-{user.id}@example.org"
        for rows in (users, devices):  # no relationships declared: parents first, by hand
            session.add_all(rows)
            await session.flush()
        session.add_all(
            Token(hash=h, device_id=d.id, user_id=d.user_id) for (_, h), d in zip(tokens, devices, strict=True)
        )
    return [(user.id, token) for user, (token, _) in zip(users, tokens, strict=True)]


async def streams_round(server: ThreadedServer, accounts: list[tuple[str, str]]) -> None:
    """Every account opens its streams, hears one change, and goes away."""
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=0)
    async with httpx.AsyncClient(timeout=httpx.Timeout(10, read=None), limits=limits) as client:
        streams = [EventStream(server.base_url, t, client=client) for _, t in accounts for _ in range(STREAMS_PER_USER)]
        await asyncio.gather(*(s.__aenter__() for s in streams))
        assert [await s.next_sync() for s in streams] == [0] * len(streams)
        for user_id, _ in accounts:
            server.call(emit(server, user_id, 1))
        assert [await s.next_sync() for s in streams] == [1] * len(streams)
        await asyncio.gather(*(s.__aexit__(None, None, None) for s in streams))


async def emit(server: ThreadedServer, user_id: str, cursor: int) -> None:
    server.app.emit(FEED_MOVED, user_id=user_id, cursor=cursor)


async def until(condition: Callable[[], bool], timeout: float = 20) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)


def ours_alive() -> dict[str, int]:
    gc.collect()
    objects = gc.get_objects()
    return {
        "listeners": sum(isinstance(o, Listener) for o in objects),
        "stream generators": sum(
            isinstance(o, types.AsyncGeneratorType) and o.ag_code is feed_events.__code__ for o in objects
        ),
    }


def by_server(snapshot: tracemalloc.Snapshot) -> tracemalloc.Snapshot:
    """Memory allocated by a line of server/ code (the innermost frame)."""
    return snapshot.filter_traces([tracemalloc.Filter(True, "*/server/*")])


async def test_closed_streams_leave_nothing_behind(
    server: ThreadedServer, db_sessions: async_sessionmaker[AsyncSession]
) -> None:
    accounts = await seed(db_sessions, USERS)
    hub = server.app.state.live.hub
    # A first round fills what is meant to stay (caches of tokens and statements, codecs): not what is looked for.
    await streams_round(server, accounts)
    await until(lambda: len(hub) == 0)
    tracemalloc.start(5)
    try:
        gc.collect()
        before = tracemalloc.take_snapshot()
        await streams_round(server, accounts)
        await until(lambda: len(hub) == 0 and hub.users == 0)
        # A stream's task ends once the server has seen its client go: on a busy machine that can come a little later.
        await until(lambda: ours_alive() == {"listeners": 0, "stream generators": 0})
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    diff = by_server(after).compare_to(by_server(before), "lineno")
    grown = sum(s.size_diff for s in diff)
    top = diff[:3]
    where = ", ".join(
        f"{s.traceback[0].filename.rsplit('/server/', 1)[-1]}:{s.traceback[0].lineno} {s.size_diff:+}" for s in top
    )
    print(f"{USERS * STREAMS_PER_USER} streams opened and closed: server/ code holds {grown:+,} bytes more ({where})")
    assert grown < LEFT_BEHIND
