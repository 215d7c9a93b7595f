"""Old finished occurrences and delivery records are pruned; the claim that stops a sent one-shot reminder stays."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.models.push import PushDelivery, ReminderOccurrence
from server.push.occurrences import KEEP_FINISHED, claim
from server.push.scheduler import ReminderScheduler
from tests.api.test_reminders_claim import notes_due_at
from tests.conftest import NewAccount

Client = AsyncTestClient[Litestar]
DAY = timedelta(days=1)


def occurrence(user_id: str, note_id: str, at: datetime, finished_at: datetime | None) -> dict[str, Any]:
    return {"user_id": user_id, "note_id": note_id, "at": at, "lease_until": at, "finished_at": finished_at}


def delivery(user_id: str, sent_at: datetime) -> dict[str, Any]:
    return {
        "user_id": user_id,
        "kind": "reminder",
        "note_id": str(uuid.uuid4()),
        "push_service": "https://push.example",
        "status": "delivered",
        "http_status": 201,
        "attempts": 1,
        "sent_at": sent_at,
    }


async def test_prune_keeps_what_stops_a_reminder_and_what_is_recent(
    client: Client, new_account: NewAccount, db_sessions: async_sessionmaker[AsyncSession]
) -> None:
    acct = await new_account(client)
    now = datetime.now(UTC)
    old, recent = now - KEEP_FINISHED - DAY, now - KEEP_FINISHED + DAY
    current_at = now + timedelta(hours=3)  # ahead, so that the app's own scheduler leaves the note alone
    [note] = await notes_due_at(client, acct.headers, current_at, 1)
    moved_on = [  # occurrences of earlier times of this note (it repeats): nothing points at them any more
        occurrence(acct.user_id, note, current_at - 1 * DAY, old),
        occurrence(acct.user_id, note, current_at - 2 * DAY, recent),
        occurrence(acct.user_id, note, current_at - 3 * DAY, None),
    ]
    async with db_sessions() as session, session.begin():
        await session.execute(insert(ReminderOccurrence), [occurrence(acct.user_id, note, current_at, old), *moved_on])
        await session.execute(insert(PushDelivery), [delivery(acct.user_id, old), delivery(acct.user_id, recent)])

    scheduler = ReminderScheduler(db_sessions, service=None)  # type: ignore[arg-type]  # pruning sends nothing
    assert await scheduler.prune(now)

    async with db_sessions() as session:
        kept = set(await session.scalars(select(ReminderOccurrence.at).where(ReminderOccurrence.note_id == note)))
        sent = set(await session.scalars(select(PushDelivery.sent_at).where(PushDelivery.user_id == acct.user_id)))
        # The old finished claim of the note's current time still stops it from being sent again once due.
        assert await claim(session, current_at + timedelta(seconds=1), 10) == []
    assert kept == {current_at, current_at - 2 * DAY, current_at - 3 * DAY}
    assert sent == {recent}


async def test_prune_runs_at_most_every_few_minutes(
    client: Client, new_account: NewAccount, db_sessions: async_sessionmaker[AsyncSession]
) -> None:
    acct = await new_account(client)
    now = datetime.now(UTC)
    scheduler = ReminderScheduler(db_sessions, service=None)  # type: ignore[arg-type]
    assert await scheduler.prune(now)
    async with db_sessions() as session, session.begin():
        await session.execute(insert(PushDelivery), [delivery(acct.user_id, now - 2 * KEEP_FINISHED)])
    assert not await scheduler.prune(now)
    async with db_sessions() as session:
        assert await session.scalar(select(PushDelivery.id).where(PushDelivery.user_id == acct.user_id)) is not None
