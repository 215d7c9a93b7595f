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
from datetime import datetime
from typing import Any, NamedTuple

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.auth import Auth
from server.errors import PayloadTooLarge, Unprocessable
from server.models.base import utcnow
from server.services import notes
from server.services.notes import NoteKey, Position
from sync.merge import NEW, BaseAhead, Edit, merge_mutation
from sync.protocol import (
    MAX_MUTATIONS,
    Mutation,
    MutationResult,
    Note,
    NoteSet,
    Reminder,
    Status,
    SyncRequest,
    SyncResponse,
)
from sync.reminders import zone
from sync.state import EMPTY, SERVER, NoteState

FEED_MOVED = "feed_moved"
REMINDERS_CHANGED = "reminders_changed"


@dataclass
class FeedMove:
    """What a sync committed: the highest seq it gave a note (0: the feed did not move), and any reminder change."""

    cursor: int = 0
    reminders: bool = False


class Applied(NamedTuple):
    result: MutationResult
    seq: int = 0
    reminder_changed: bool = False


class _Undo(Exception):
    """Rolls back a mutation's transaction (its seq included) and carries the answer for that mutation."""

    def __init__(self, applied: Applied) -> None:
        self.applied = applied


def check(request: SyncRequest) -> None:
    """The limits msgspec cannot express: the mutation count (413) and reminder zones (422)."""
    if len(request.mutations) > MAX_MUTATIONS:
        raise PayloadTooLarge(f"At most {MAX_MUTATIONS} mutations per request; send the rest in another.")
    for i, mutation in enumerate(request.mutations):
        reminder = mutation.changes.reminder
        if isinstance(reminder, Reminder) and zone(reminder.tz) is None:
            raise Unprocessable(f"mutations[{i}].set.reminder.tz", f"{reminder.tz!r} is not an IANA time zone")


async def sync(session: AsyncSession, auth: Auth, request: SyncRequest) -> tuple[SyncResponse, FeedMove]:
    """Applies each mutation in its own transaction, then reads the feed. `session` must have no transaction open."""
    move = FeedMove()
    results = []
    for i, mutation in enumerate(request.mutations):
        applied = await apply_mutation(session, auth, mutation, prune=i == 0)
        results.append(applied.result)
        move.cursor = max(move.cursor, applied.seq)
        move.reminders = move.reminders or applied.reminder_changed
    async with session.begin():
        # A cursor ahead of the feed means the database went back in time (a restored backup): start again from 0.
        head = await notes.feed_head(session, auth.user_id)
        reset = request.cursor > head
        cursor = 0 if reset else request.cursor
        # At the head (the common no-op sync) there is nothing to read.
        changes, more = await notes.feed(session, auth.user_id, cursor, request.limit) if cursor < head else ([], False)
    response = SyncResponse(results, list(changes), changes[-1].seq if changes else cursor, more, reset)
    return response, move


async def apply_mutation(session: AsyncSession, auth: Auth, mutation: Mutation, *, prune: bool = False) -> Applied:
    """One mutation, atomically: either all of it (note, revision, device view, mutation id) commits or none."""
    try:
        async with session.begin():
            return await _apply(session, auth, mutation, utcnow(), prune)
    except _Undo as undo:
        return undo.applied


async def _apply(session: AsyncSession, auth: Auth, mutation: Mutation, now: datetime, prune: bool) -> Applied:
    key = NoteKey(auth.user_id, mutation.note_id)
    seq = await notes.take_seq(session, auth.user_id)
    if not await notes.record_applied(session, key, mutation.id, now):
        earlier = await notes.applied_note(session, auth.user_id, mutation.id)
        note = await notes.wire_note(session, NoteKey(auth.user_id, earlier or mutation.note_id))
        raise _Undo(Applied(MutationResult(mutation.id, "duplicate", note)))
    row = await notes.load(session, key)
    current = notes.stored(row) if row else NEW
    edit = Edit(mutation.base_rev, mutation.edited_at, auth.device_id, mutation.changes)
    try:
        base = await _base(session, key, auth.device_id, mutation.base_rev, current.rev)
        outcome = merge_mutation(current, base, edit, now=now)
    except BaseAhead as exc:
        problem = {"type": "about:blank", "title": "Conflict", "status": 409, "detail": str(exc)}
        note = notes.wire(row) if row else None
        raise _Undo(Applied(MutationResult(mutation.id, "rejected", note, problem))) from exc
    written = outcome.changed or row is None  # a note a device created is stored even if it is still empty
    rev = current.rev + 1 if written else current.rev
    if written:
        await notes.save(session, key, outcome.state, outcome.clocks, Position(rev, seq, now))
    await notes.save_view(session, key, auth.device_id, rev, outcome.seen)
    if prune:
        await notes.prune_applied(session, auth.user_id, now)
    status: Status = "merged" if outcome.merged else "applied"
    if written:
        note = notes.wire_state(key.note_id, outcome.state, Position(rev, seq, now), row.created_at if row else now)
    else:
        assert row is not None
        note = notes.wire(row)
    result = MutationResult(mutation.id, status, note)
    return Applied(result, seq if written else 0, written and outcome.state.reminder != current.state.reminder)


async def _base(session: AsyncSession, key: NoteKey, device_id: str, base_rev: int, rev: int) -> NoteState | None:
    """What the device edited: its own last edit if it has not seen that edit's result yet (a lost response), else
    the revision it names. None if that revision was pruned."""
    if base_rev >= rev:
        return None  # not a concurrent edit: the merge does not look at the base
    view = await notes.device_view(session, key, device_id)
    if view is not None and view[0] > base_rev:
        return view[1]
    if base_rev == 0:
        return EMPTY
    return await notes.revision(session, key, base_rev)


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
