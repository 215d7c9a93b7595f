"""PostgreSQL: a claimer skips the notes another claimer holds, without waiting, and takes the next ones."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.push.occurrences import claim
from tests.api.test_reminders_claim import claim_in_own_transaction, note_ids, notes_due_at
from tests.conftest import NewAccount

Client = AsyncTestClient[Litestar]


@pytest.fixture
def db_url(pg_database_url: str) -> str:
    """This module runs on PostgreSQL only: it is about two connections racing for the same rows."""
    return pg_database_url


async def test_second_claimer_skips_what_the_first_holds(
    client: Client, new_account: NewAccount, db_sessions: async_sessionmaker[AsyncSession]
) -> None:
    acct = await new_account(client)
    at = datetime.now(UTC) + timedelta(hours=3)
    ids = await notes_due_at(client, acct.headers, at, 30)
    now = at + timedelta(seconds=1)
    async with db_sessions() as first, first.begin():
        won = await note_ids(first, await claim(first, now, 20))
        # Not committed yet: the second claimer must neither wait for the first nor take what it holds, but take
        # the rest. A claimer that blocked here would hang until the timeout, as this transaction stays open.
        second = await asyncio.wait_for(claim_in_own_transaction(db_sessions, now), timeout=10)
        third = await asyncio.wait_for(claim_in_own_transaction(db_sessions, now), timeout=10)
    assert len(won) == 20
    assert second == ids - won
    assert third == set()


async def test_claims_racing_on_many_connections_share_the_work_once(
    client: Client, new_account: NewAccount, db_sessions: async_sessionmaker[AsyncSession]
) -> None:
    acct = await new_account(client)
    at = datetime.now(UTC) + timedelta(hours=3)
    ids = await notes_due_at(client, acct.headers, at, 90)
    now = at + timedelta(seconds=1)

    async def claim_until_empty() -> list[set[str]]:
        batches = []
        while won := await claim_in_own_transaction_limited(db_sessions, now, 10):
            batches.append(won)
        return batches

    results = await asyncio.gather(*(claim_until_empty() for _ in range(4)))
    batches = [batch for result in results for batch in result]
    assert set().union(*batches) == ids
    assert sum(len(batch) for batch in batches) == len(ids), "an occurrence was claimed twice"
    assert sum(1 for result in results if result) >= 2, "one claimer took everything: the others waited"


async def claim_in_own_transaction_limited(
    sessions: async_sessionmaker[AsyncSession], now: datetime, limit: int
) -> set[str]:
    async with sessions() as session, session.begin():
        return await note_ids(session, await claim(session, now, limit))
