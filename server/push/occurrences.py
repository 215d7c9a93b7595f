"""Reminder occurrences: which due reminders a process claims, sends and finishes (the scheduler's queries).

Each occurrence (user, note, at) is claimed with one INSERT .. SELECT .. ON CONFLICT DO UPDATE .. RETURNING, which
PostgreSQL and SQLite both run atomically, so several processes on one database send it once; a claim is a lease,
so an occurrence claimed by a process that died is taken over when the lease runs out. On PostgreSQL the SELECT
locks the due notes it picks with SKIP LOCKED, so two processes claiming at the same moment take different notes
instead of one waiting for the other and then finding nothing left (SQLite has one writer at a time anyway).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, exists, false, func, literal, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from server.models.base import UTCDateTime
from server.models.notes import Note
from server.models.push import ReminderOccurrence as Occ

LEASE = timedelta(minutes=5)
"""Longer than the longest send (bounded retries); an occurrence claimed by a dead process goes out after this."""
KEEP_FINISHED = timedelta(days=30)
"""Finished occurrences of reminders that have moved on are kept this long, then pruned."""
PRUNE_LIMIT = 10_000
"""Rows one prune deletes at most: a short transaction, and the next prune takes the rest."""


@dataclass(frozen=True)
class Occurrence:
    id: int
    user_id: str
    note_id: str
    at: datetime
    title: str
    body: str
    repeating: bool


def _due(now: datetime):  # type: ignore[no-untyped-def]
    return and_(
        Note.reminder_at.is_not(None),
        Note.reminder_at <= now,
        Note.reminder_done == false(),
        Note.deleted == false(),
    )


SAME_OCCURRENCE = and_(Occ.user_id == Note.user_id, Occ.note_id == Note.id, Occ.at == Note.reminder_at)


async def claim(session: AsyncSession, now: datetime, limit: int) -> list[int]:
    """Claims up to `limit` due occurrences that nobody holds; returns the ids of those this call won."""
    candidates = (
        select(Note.user_id, Note.id, Note.reminder_at, literal(now + LEASE, UTCDateTime()))
        .outerjoin(Occ, SAME_OCCURRENCE)
        .where(_due(now), or_(Occ.id.is_(None), and_(Occ.finished_at.is_(None), Occ.lease_until < now)))
        # Earliest first; then one order in every process, so two claims cannot deadlock on PostgreSQL.
        .order_by(Note.reminder_at, Note.user_id, Note.id)
        .limit(limit)
        # NO KEY UPDATE: the weakest lock that two claimers conflict on; rows referencing the note are not held up.
        .with_for_update(of=Note, skip_locked=True, key_share=True)
    )
    insert = pg_insert if session.bind.dialect.name == "postgresql" else sqlite_insert
    statement = insert(Occ).from_select([Occ.user_id, Occ.note_id, Occ.at, Occ.lease_until], candidates)
    statement = statement.on_conflict_do_update(
        index_elements=[Occ.user_id, Occ.note_id, Occ.at],
        set_={"lease_until": statement.excluded.lease_until},
        where=and_(Occ.finished_at.is_(None), Occ.lease_until < now),
    ).returning(Occ.id)
    return list((await session.scalars(statement)).all())


async def load(session: AsyncSession, claimed: Sequence[int], now: datetime) -> list[Occurrence]:
    """The claimed occurrences whose note is still due at that time (it may have changed since the claim query)."""
    if not claimed:
        return []
    rows = await session.execute(
        select(Occ.id, Note.user_id, Note.id, Note.reminder_at, Note.title, Note.body, Note.reminder_repeat)
        .join(Note, SAME_OCCURRENCE)
        .where(Occ.id.in_(claimed), _due(now))
    )
    return [Occurrence(*row[:6], repeating=row[6] != "none") for row in rows]


async def finish(session: AsyncSession, occurrence_ids: Sequence[int], now: datetime) -> None:
    if occurrence_ids:
        # On the table, not the ORM class: the ORM's bulk UPDATE path costs more than the statement, every batch.
        table = Occ.__table__
        await session.execute(update(table).where(table.c.id.in_(occurrence_ids)).values(finished_at=now))


async def release(session: AsyncSession, occurrence_ids: Sequence[int]) -> None:
    """Gives up unfinished claims, so that they are due again at once rather than when their lease runs out."""
    if occurrence_ids:
        await session.execute(delete(Occ).where(Occ.id.in_(occurrence_ids), Occ.finished_at.is_(None)))


async def sent_repeating(session: AsyncSession, now: datetime, limit: int) -> list[tuple[str, str, datetime, str, str]]:
    """Repeating reminders whose current occurrence went out but whose `at` has not moved on yet."""
    rows = await session.execute(
        select(Note.user_id, Note.id, Note.reminder_at, Note.reminder_repeat, Note.reminder_tz)
        .join(Occ, SAME_OCCURRENCE)
        .where(_due(now), Note.reminder_repeat != "none", Occ.finished_at.is_not(None))
        .limit(limit)
    )
    return [(r[0], r[1], r[2], r[3], r[4]) for r in rows]


async def next_due(session: AsyncSession, after: datetime) -> datetime | None:
    """The earliest reminder later than `after` that is waiting to be sent.

    Everything due at `after` was just claimed (or is held by another process, whose lease IDLE_SECONDS covers),
    so the index on the due time is read from `after` on instead of past every sent one-shot reminder.
    """
    return await session.scalar(
        select(func.min(Note.reminder_at))
        .outerjoin(Occ, SAME_OCCURRENCE)
        .where(
            Note.reminder_at > after,
            Note.reminder_done == false(),
            Note.deleted == false(),
            Occ.id.is_(None),
        )
    )


async def prune(session: AsyncSession, now: datetime) -> int:
    """Deletes occurrences finished over KEEP_FINISHED ago that no note still points at; returns how many.

    The one a note's reminder still points at stays, however old: it is what keeps a sent one-shot reminder from
    being sent again (also after the user marks it not done).
    """
    current = exists().where(Note.user_id == Occ.user_id, Note.id == Occ.note_id, Note.reminder_at == Occ.at)
    old = select(Occ.id).where(Occ.finished_at < now - KEEP_FINISHED, ~current).limit(PRUNE_LIMIT)
    result = await session.execute(delete(Occ).where(Occ.id.in_(old.scalar_subquery())))
    return int(result.rowcount or 0)
