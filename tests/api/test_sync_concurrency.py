"""Several writers for one user, each on its own database connection, while a reader pages the feed with a small
limit: the reader ends with every note at its latest version. Seqs are handed out under the user's row lock, so a
later seq never becomes visible before an earlier one; a sequence or autoincrement would let the reader skip rows."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.auth import Auth
from server.services import sync as service
from sync.protocol import Mutation, NoteSet, SyncRequest
from tests.api.test_sync_support import Client, second_device
from tests.conftest import NewAccount

WRITERS = 5
ROUNDS = 20


async def write(sessions: async_sessionmaker[AsyncSession], auth: Auth, mine: list[str], shared: list[str]) -> None:
    for n in range(ROUNDS):
        note_id = str(uuid.uuid4())
        mine.append(note_id)
        now = datetime.now(UTC)
        mutations = [Mutation(str(uuid.uuid4()), note_id, 0, now, NoteSet(title=f"{auth.device_id} {n}"))]
        if shared:  # also edit a note some writer made earlier, so notes move along the feed while it is read
            target = shared[n % len(shared)]
            mutations.append(Mutation(str(uuid.uuid4()), target, 0, now, NoteSet(body=f"{auth.device_id} {n}\n")))
        async with sessions() as session:
            response, _ = await service.sync(session, auth, SyncRequest(limit=1, mutations=mutations))
        assert {r.status for r in response.results} <= {"applied", "merged"}
        shared.append(note_id)


async def read_until(
    sessions: async_sessionmaker[AsyncSession], auth: Auth, writers: asyncio.Future[object]
) -> dict[str, int]:
    """Pages with limit 3 until the writers are done and a page says nothing more is waiting."""
    seen: dict[str, int] = {}
    cursor = 0
    while True:
        finished = writers.done()
        async with sessions() as session:
            response, _ = await service.sync(session, auth, SyncRequest(cursor=cursor, limit=3))
        for note in response.changes:
            assert note.seq > cursor
            seen[note.id] = note.seq
        cursor = response.cursor
        if finished and not response.more:
            return seen
        await asyncio.sleep(0)  # let the writers interleave with the reader


@pytest.mark.parametrize("db_url", ["postgres", "sqlite"], indirect=True)
async def test_reader_misses_nothing_while_writers_race(
    client: Client, new_account: NewAccount, db_sessions: async_sessionmaker[AsyncSession]
) -> None:
    first = await new_account(client)
    accounts = [first, *[await second_device(client, first, f"writer {i}") for i in range(WRITERS - 1)]]
    auths = [Auth(user_id=a.user_id, device_id=a.device_id) for a in accounts]
    made: list[list[str]] = [[] for _ in auths]
    shared: list[str] = []
    writers = asyncio.gather(*(write(db_sessions, auth, ids, shared) for auth, ids in zip(auths, made, strict=True)))
    seen = await read_until(db_sessions, auths[0], writers)
    await writers
    async with db_sessions() as session:
        final, _ = await service.sync(session, auths[0], SyncRequest(limit=1000))
    assert {n.id: n.seq for n in final.changes} == seen
    assert len(seen) == WRITERS * ROUNDS and set(seen) == {i for ids in made for i in ids}
