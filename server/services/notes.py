"""Note storage for the sync service: rows to and from the pure `sync` types, revisions, device views, the feed.

Every function runs inside the caller's transaction, after it has taken the user's next seq (which also serialises
the user's writers), so reads here see the latest committed note and nothing races between read and write.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import msgspec
from sqlalchemy import Row, delete, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from server import memo
from server.models.accounts import User
from server.models.notes import AppliedMutation, NoteRevision
from server.models.notes import Note as NoteRow
from sync.merge import Stored
from sync.protocol import Note, Reminder
from sync.state import Clocks, NoteState

KEEP_REVISIONS = 50
KEEP_REVISIONS_FOR = timedelta(days=90)
KEEP_APPLIED_FOR = timedelta(days=30)
PRUNE_EVERY = 10
"""Old revisions of a note are pruned when its rev is a multiple of this (a cheap DELETE on the primary key)."""

_encode = msgspec.json.Encoder().encode
_decode_state = msgspec.json.Decoder(NoteState).decode
_decode_clocks = msgspec.json.Decoder(Clocks).decode

COLUMNS = (
    NoteRow.id,
    NoteRow.title,
    NoteRow.body,
    NoteRow.tags,
    NoteRow.pinned,
    NoteRow.archived,
    NoteRow.deleted,
    NoteRow.reminder_at,
    NoteRow.reminder_repeat,
    NoteRow.reminder_tz,
    NoteRow.reminder_done,
    NoteRow.rev,
    NoteRow.seq,
    NoteRow.created_at,
    NoteRow.updated_at,
)


Record = Row[*tuple[Any, ...]]
"""A row of COLUMNS (and sometimes `clocks`)."""


class NoteKey(NamedTuple):
    user_id: str
    note_id: str


class Position(NamedTuple):
    """Where a change lands: the note's new rev, the user's feed seq, and the server time."""

    rev: int
    seq: int
    now: datetime


def reminder_of(row: Record) -> Reminder | None:
    if row.reminder_at is None:
        return None
    return Reminder(at=row.reminder_at, repeat=row.reminder_repeat, tz=row.reminder_tz, done=row.reminder_done)


def wire(row: Record) -> Note:
    return wire_state(row.id, state_of(row), Position(row.rev, row.seq, row.updated_at), row.created_at)


def wire_state(note_id: str, state: NoteState, at: Position, created_at: datetime) -> Note:
    """The note as just written (no need to read it back)."""
    return Note(
        id=note_id,
        title=state.title,
        body=state.body,
        tags=list(state.tags),
        pinned=state.pinned,
        archived=state.archived,
        deleted=state.deleted,
        reminder=state.reminder,
        rev=at.rev,
        seq=at.seq,
        created_at=created_at,
        updated_at=at.now,
    )


def state_of(row: Record) -> NoteState:
    return NoteState(
        title=row.title,
        body=row.body,
        tags=tuple(row.tags),
        pinned=row.pinned,
        archived=row.archived,
        deleted=row.deleted,
        reminder=reminder_of(row),
    )


def stored(row: Record) -> Stored:
    return Stored(state=state_of(row), rev=row.rev, clocks=_decode_clocks(row.clocks))


def columns_of(state: NoteState) -> dict[str, Any]:
    reminder = state.reminder
    return {
        "title": state.title,
        "body": state.body,
        "tags": list(state.tags),
        "pinned": state.pinned,
        "archived": state.archived,
        "deleted": state.deleted,
        "reminder_at": reminder.at if reminder else None,
        "reminder_repeat": reminder.repeat if reminder else "none",
        "reminder_tz": reminder.tz if reminder else "UTC",
        "reminder_done": reminder.done if reminder else False,
    }


async def take_seq(session: AsyncSession, user_id: str) -> int:
    """The user's next change-feed position. First in every write transaction: the row lock it takes orders the
    user's writers, so seqs become visible in the order they were taken and a reader paging the feed skips none."""
    result = await session.execute(update(User).where(User.id == user_id).values(seq=User.seq + 1).returning(User.seq))
    seq = int(result.scalar_one())
    memo.moved(session, user_id, seq)
    return seq


async def load(session: AsyncSession, key: NoteKey) -> Record | None:
    statement = select(*COLUMNS, NoteRow.clocks).where(NoteRow.user_id == key.user_id, NoteRow.id == key.note_id)
    return (await session.execute(statement)).one_or_none()


async def save(session: AsyncSession, key: NoteKey, state: NoteState, clocks: Clocks, at: Position) -> None:
    """Writes the note at `at.rev` (inserting it at rev 1) and records that revision's content."""
    rev, seq, now = at
    values = {**columns_of(state), "rev": rev, "seq": seq, "clocks": _encode(clocks).decode(), "updated_at": now}
    if rev == 1:
        await session.execute(insert(NoteRow).values(user_id=key.user_id, id=key.note_id, created_at=now, **values))
    else:
        where = (NoteRow.user_id == key.user_id, NoteRow.id == key.note_id)
        await session.execute(update(NoteRow).where(*where).values(values))
    snapshot = {"user_id": key.user_id, "note_id": key.note_id, "rev": rev, "created_at": now}
    await session.execute(insert(NoteRevision).values(**snapshot, state=_encode(state).decode()))
    if rev % PRUNE_EVERY == 0:
        await prune_revisions(session, key, rev, now)


async def prune_revisions(session: AsyncSession, key: NoteKey, rev: int, now: datetime) -> None:
    """Drops revisions that are both older than the last KEEP_REVISIONS and than KEEP_REVISIONS_FOR."""
    await session.execute(
        delete(NoteRevision).where(
            NoteRevision.user_id == key.user_id,
            NoteRevision.note_id == key.note_id,
            NoteRevision.rev <= rev - KEEP_REVISIONS,
            NoteRevision.created_at < now - KEEP_REVISIONS_FOR,
        )
    )


async def upsert(session: AsyncSession, table: Any, rows: list[dict[str, Any]], replace: Sequence[str]) -> None:
    """INSERT ... ON CONFLICT (primary key) DO UPDATE SET the `replace` columns, for many rows in one statement."""
    dialect_insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = dialect_insert(table)
    keys = [column.name for column in table.__table__.primary_key]
    set_ = {name: statement.excluded[name] for name in replace}
    await session.execute(statement.on_conflict_do_update(index_elements=keys, set_=set_), rows)


async def prune_applied(session: AsyncSession, user_id: str, now: datetime) -> None:
    await session.execute(
        delete(AppliedMutation).where(
            AppliedMutation.user_id == user_id, AppliedMutation.applied_at < now - KEEP_APPLIED_FOR
        )
    )


async def wire_note(session: AsyncSession, key: NoteKey) -> Note | None:
    row = await load(session, key)
    return None if row is None else wire(row)


async def feed(session: AsyncSession, user_id: str, cursor: int, limit: int) -> tuple[Sequence[Note], bool]:
    """The user's notes changed after `cursor`, in seq order, at most `limit`; and whether more are waiting."""
    rows = (
        await session.execute(
            select(*COLUMNS)
            .where(NoteRow.user_id == user_id, NoteRow.seq > cursor)
            .order_by(NoteRow.seq)
            .limit(limit + 1)
        )
    ).all()
    return [wire(row) for row in rows[:limit]], len(rows) > limit


async def feed_head(session: AsyncSession, user_id: str) -> int:
    return int(await session.scalar(select(User.seq).where(User.id == user_id)) or 0)
