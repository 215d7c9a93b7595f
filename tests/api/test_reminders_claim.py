"""The occurrence claim: concurrent claimers never share an occurrence; a dead claimer's lease is taken over."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.models.push import ReminderOccurrence
from server.push.occurrences import LEASE, claim
from tests.conftest import NewAccount

Client = AsyncTestClient[Litestar]


async def notes_due_at(client: Client, headers: dict[str, str], at: datetime, count: int) -> set[str]:
    """Notes with a reminder far enough ahead that the app's own scheduler leaves them alone."""
    stamp = at.isoformat().replace("+00:00", "Z")
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    ids = [str(uuid.uuid4()) for _ in range(count)]
    mutations = [
        {"id": str(uuid.uuid4()), "note_id": i, "base_rev": 0, "edited_at": now, "set": {"reminder": {"at": stamp}}}
        for i in ids
    ]
    response = await client.post("/api/sync", json={"mutations": mutations}, headers=headers)
    assert response.status_code == 200, response.text
    return set(ids)


async def claim_in_own_transaction(sessions: async_sessionmaker[AsyncSession], now: datetime) -> set[str]:
    """The note ids of the occurrences this claimer won."""
    async with sessions() as session, session.begin():
        return await note_ids(session, await claim(session, now, 1000))


async def note_ids(session: AsyncSession, occurrence_ids: list[int]) -> set[str]:
    if not occurrence_ids:
        return set()
    rows = await session.scalars(select(ReminderOccurrence.note_id).where(ReminderOccurrence.id.in_(occurrence_ids)))
    found = set(rows)
    assert len(found) == len(occurrence_ids)
    return found


async def test_concurrent_claims_are_disjoint_and_complete(
    client: Client, new_account: NewAccount, db_sessions: async_sessionmaker[AsyncSession]
) -> None:
    acct = await new_account(client)
    at = datetime.now(UTC) + timedelta(hours=3)
    ids = await notes_due_at(client, acct.headers, at, 60)
    # Concurrent on PostgreSQL (each on its own connection, all reading the same candidates before inserting);
    # SQLite serialises writers, which is also what makes the claim atomic there.
    results = await asyncio.gather(
        *(claim_in_own_transaction(db_sessions, at + timedelta(seconds=1)) for _ in range(3))
    )
    assert set().union(*results) == ids
    assert sum(len(r) for r in results) == len(ids), "an occurrence was claimed twice"


async def test_a_lease_that_ran_out_is_taken_over_but_not_a_finished_one(
    client: Client, new_account: NewAccount, db_sessions: async_sessionmaker[AsyncSession]
) -> None:
    acct = await new_account(client)
    at = datetime.now(UTC) + timedelta(hours=3)
    ids = await notes_due_at(client, acct.headers, at, 4)
    now = at + timedelta(seconds=1)
    assert await claim_in_own_transaction(db_sessions, now) == ids
    async with db_sessions() as session, session.begin():
        assert await claim(session, now + timedelta(seconds=5), 100) == []  # held by a live lease
    finished = sorted(ids)[:2]
    async with db_sessions() as session, session.begin():
        await session.execute(
            update(ReminderOccurrence).where(ReminderOccurrence.note_id.in_(finished)).values(finished_at=now)
        )
    later = now + LEASE + timedelta(seconds=1)
    assert await claim_in_own_transaction(db_sessions, later) == ids - set(finished)
