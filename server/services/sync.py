"""The sync service: what `POST /api/sync` does, and the server's own changes to notes.

For the reminder scheduler (and any server-side change), one entry point:

    async def apply_server_change(
        db: AsyncSession | async_sessionmaker[AsyncSession], user_id: str, note_id: str,
        changes: Mapping[str, Any] | None = None, *,
        expected_at: datetime | None = None, reminder_at: datetime | None = None,
        emit: Callable[..., None] | None = None,
    ) -> Note | None

It goes through the same path as a device's edit (next seq, new rev, revision recorded). Given a session it runs in
the caller's transaction (the caller commits and emits); given a sessionmaker it commits its own and, with `emit`
(e.g. `app.emit`), announces `feed_moved` and `reminders_changed` after the commit. `changes` holds NoteSet fields;
`reminder_at` moves the reminder's time keeping its repeat, zone and done; `expected_at` applies the change only if
the reminder is still at that time. Returns the changed note, or None when nothing changed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.auth import Auth
from server.db import READ_ONLY
from server.errors import PayloadTooLarge, Unprocessable
from server.memo import Memo
from server.models.base import utcnow
from server.services import notes
from server.services.batch import apply_mutations
from server.services.notes import NoteKey, Position
from sync.merge import Edit, merge_mutation
from sync.protocol import (
    MAX_MUTATIONS,
    MutationResult,
    Note,
    NoteSet,
    Reminder,
    SyncRequest,
    SyncResponse,
)
from sync.reminders import zone
from sync.state import SERVER

FEED_MOVED = "feed_moved"
REMINDERS_CHANGED = "reminders_changed"


@dataclass
class FeedMove:
    """What a sync committed: the highest seq it gave a note (0: the feed did not move), and any reminder change."""

    cursor: int = 0
    reminders: bool = False


def check(request: SyncRequest) -> None:
    """What decoding cannot check and would refuse the whole request: the mutation count (413), reminder zones and
    times that have no UTC or local form (422). Limits on a note's values refuse one mutation (batch.py)."""
    if len(request.mutations) > MAX_MUTATIONS:
        raise PayloadTooLarge(f"At most {MAX_MUTATIONS} mutations per request; send the rest in another.")
    for i, mutation in enumerate(request.mutations):
        _check_time(f"mutations[{i}].edited_at", mutation.edited_at, UTC)
        reminder = mutation.changes.reminder
        if isinstance(reminder, Reminder):
            place = zone(reminder.tz)
            if place is None:
                raise Unprocessable(f"mutations[{i}].set.reminder.tz", f"{reminder.tz!r} is not an IANA time zone")
            _check_time(f"mutations[{i}].set.reminder.at", reminder.at, place)


def _check_time(field: str, at: datetime, place: tzinfo) -> None:
    """Refuses a time past the ends of the calendar once moved to UTC (or to the reminder's zone, where repeats are
    counted): `0001-01-01T00:00:00+14:00` is in the year 0 in UTC, which no datetime (or database) holds."""
    try:
        at.astimezone(UTC)
        at.astimezone(place)
    except OverflowError:
        raise Unprocessable(field, f"{at.isoformat()} is outside the years 1 to 9999 in UTC or its zone") from None


async def sync(
    session: AsyncSession, auth: Auth, request: SyncRequest, memo: Memo | None = None
) -> tuple[SyncResponse, FeedMove]:
    """Applies the mutations in one transaction, then reads the feed. `session` must have no transaction open."""
    results: list[MutationResult] = []
    move = FeedMove()
    if request.mutations:
        async with session.begin():
            results, batch = await apply_mutations(session, auth, request.mutations, utcnow())
        move = FeedMove(batch.moved_to, batch.reminders_changed)
    head = None if request.mutations else _known_head(auth, request, memo)
    if head is not None and request.cursor == head:
        return SyncResponse(results, [], head, False, False), move  # the most common request: nothing new
    async with session.begin():
        await session.connection(execution_options={READ_ONLY: True})
        if head is None:
            head = await notes.feed_head(session, auth.user_id)
            if memo is not None:
                memo.read_head(auth.user_id, head)
        # A cursor ahead of the feed means the database went back in time (a restored backup): start again from 0.
        reset = request.cursor > head
        cursor = 0 if reset else request.cursor
        changes, more = await notes.feed(session, auth.user_id, cursor, request.limit) if cursor < head else ([], False)
    response = SyncResponse(results, list(changes), changes[-1].seq if changes else cursor, more, reset)
    return response, move


def _known_head(auth: Auth, request: SyncRequest, memo: Memo | None) -> int | None:
    """The feed head without asking the database: from the memo, or as the token's query read it. The memo's head
    may be behind, never ahead, so it is only trusted when the device is not past it."""
    known = memo.head(auth.user_id) if memo is not None else None
    if known is not None and request.cursor <= known:
        return known
    return auth.feed_head


async def apply_server_change(
    db: AsyncSession | async_sessionmaker[AsyncSession],
    user_id: str,
    note_id: str,
    changes: Mapping[str, Any] | None = None,
    *,
    expected_at: datetime | None = None,
    reminder_at: datetime | None = None,
    emit: Callable[..., None] | None = None,
) -> Note | None:
    """A change the server makes to a note (see the module docstring)."""
    key = NoteKey(user_id, note_id)
    if isinstance(db, AsyncSession):
        return (await _server_change(db, key, dict(changes or {}), expected_at, reminder_at))[0]
    async with db() as session, session.begin() as transaction:
        note, reminder_changed = await _server_change(session, key, dict(changes or {}), expected_at, reminder_at)
        if note is None:
            await transaction.rollback()  # gives back the seq it took
    if note is not None and emit is not None:
        emit(FEED_MOVED, user_id=user_id, cursor=note.seq)
        if reminder_changed:
            emit(REMINDERS_CHANGED)
    return note


async def _server_change(
    session: AsyncSession, key: NoteKey, fields: dict[str, Any], expected_at: datetime | None, at: datetime | None
) -> tuple[Note | None, bool]:
    now = utcnow()
    seq = await notes.take_seq(session, key.user_id)
    row = await notes.load(session, key)
    if row is None or (expected_at is not None and row.reminder_at != expected_at):
        return None, False
    current = notes.stored(row)
    if at is not None:
        if current.state.reminder is None:
            return None, False
        fields["reminder"] = msgspec.structs.replace(current.state.reminder, at=at)
    outcome = merge_mutation(current, None, Edit(current.rev, now, SERVER, NoteSet(**fields)), now=now)
    if not outcome.changed:
        return None, False
    await notes.save(session, key, outcome.state, outcome.clocks, Position(current.rev + 1, seq, now))
    return await notes.wire_note(session, key), outcome.state.reminder != current.state.reminder
