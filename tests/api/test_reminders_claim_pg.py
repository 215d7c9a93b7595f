"""PostgreSQL: a claimer that read the same candidates as another waits for it, then takes nothing."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.services.reminders import claim
from tests.api.test_reminders_claim import claim_in_own_transaction, note_ids, notes_due_at
from tests.conftest import NewAccount

Client = AsyncTestClient[Litestar]
BLOCKED = text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'")


@pytest.fixture
def db_url(pg_database_url: str) -> str:
    """This module runs on PostgreSQL only: it is about two connections racing for the same rows."""
    return pg_database_url


async def wait_until_blocked(sessions: async_sessionmaker[AsyncSession]) -> None:
    deadline = time.monotonic() + 10
    async with sessions() as session:
        while time.monotonic() < deadline:
            waiting = await session.scalar(BLOCKED)
            await session.rollback()
            if waiting:
                return
            await asyncio.sleep(0.01)
    raise AssertionError("the second claimer never waited for the first")


async def test_second_claimer_waits_then_gets_nothing(
    client: Client, new_account: NewAccount, db_sessions: async_sessionmaker[AsyncSession]
) -> None:
    acct = await new_account(client)
    at = datetime.now(UTC) + timedelta(hours=3)
    ids = await notes_due_at(client, acct.headers, at, 20)
    now = at + timedelta(seconds=1)
    async with db_sessions() as first, first.begin():
        won = await note_ids(first, await claim(first, now, 100))
        # Not committed yet: the second claimer sees no occurrence rows, picks the same candidates, and must block
        # on the first one's uncommitted keys rather than claim them too.
        second = asyncio.create_task(claim_in_own_transaction(db_sessions, now))
        await wait_until_blocked(db_sessions)
    assert won == ids
    assert await second == set()
