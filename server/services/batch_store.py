"""The reads before a batch of mutations and the writes after it: a fixed number of statements per request."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

import msgspec
from sqlalchemy import insert, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from server import memo
from server.auth import Auth
from server.models.accounts import User
from server.models.notes import AppliedMutation, DeviceNoteView, NoteRevision
from server.models.notes import Note as NoteRow
from server.services.notes import COLUMNS, PRUNE_EVERY, NoteKey, columns_of, prune_applied, prune_revisions, stored
from server.services.notes import upsert as upsert_into
from sync.merge import Stored
from sync.protocol import Mutation
from sync.state import NoteState

if TYPE_CHECKING:
    from server.services.batch import Batch

_encode = msgspec.json.Encoder().encode
_decode_state = msgspec.json.Decoder(NoteState).decode


class Current(NamedTuple):
    """A note as stored (or as the batch has changed it so far)."""

    stored: Stored
    seq: int
    created_at: datetime
    updated_at: datetime


@dataclass
class Loaded:
    """What the request's mutations can touch, read once up front."""

    notes: dict[str, Current]
    views: dict[str, tuple[int, NoteState]]
    """Note id -> the rev this device's last edit produced and the note as the device then had it."""
    revisions: dict[tuple[str, int], NoteState]
    """(note id, rev) -> content: the base revisions the mutations name."""
    applied: dict[str, str]
    """Mutation id -> note id, for the mutation ids already applied."""


async def lock_seq(session: AsyncSession, user_id: str) -> int:
    """The user's feed head, with the user's row locked: first in every write transaction, it orders the user's
    writers, so seqs become visible in the order they were given and a reader paging the feed skips none."""
    statement = update(User).where(User.id == user_id).values(seq=User.seq).returning(User.seq)
    return int((await session.execute(statement)).scalar_one())


async def load(session: AsyncSession, auth: Auth, mutations: Sequence[Mutation]) -> Loaded:
    user_id = auth.user_id
    ids = list({mutation.id for mutation in mutations})
    applied_rows = await session.execute(
        select(AppliedMutation.id, AppliedMutation.note_id).where(
            AppliedMutation.user_id == user_id, AppliedMutation.id.in_(ids)
        )
    )
    applied: dict[str, str] = {row.id: row.note_id for row in applied_rows}
    note_ids = list({mutation.note_id for mutation in mutations} | set(applied.values()))
    rows = await session.execute(
        select(*COLUMNS, NoteRow.clocks).where(NoteRow.user_id == user_id, NoteRow.id.in_(note_ids))
    )
    notes = {row.id: Current(stored(row), row.seq, row.created_at, row.updated_at) for row in rows}
    view_rows = await session.execute(
        select(DeviceNoteView.note_id, DeviceNoteView.rev, DeviceNoteView.state).where(
            DeviceNoteView.user_id == user_id,
            DeviceNoteView.device_id == auth.device_id,
            DeviceNoteView.note_id.in_(note_ids),
        )
    )
    views = {row.note_id: (row.rev, _decode_state(row.state)) for row in view_rows}
    return Loaded(notes, views, await _revisions(session, user_id, mutations, notes, views), applied)


async def _revisions(
    session: AsyncSession,
    user_id: str,
    mutations: Sequence[Mutation],
    notes: dict[str, Current],
    views: dict[str, tuple[int, NoteState]],
) -> dict[tuple[str, int], NoteState]:
    """The stored revisions a concurrent edit may be merged against (revisions the batch makes are in memory)."""
    wanted = {
        (m.note_id, m.base_rev)
        for m in mutations
        if m.note_id in notes
        and 0 < m.base_rev < notes[m.note_id].stored.rev
        and not (m.note_id in views and views[m.note_id][0] > m.base_rev)
    }
    if not wanted:
        return {}
    rows = await session.execute(
        select(NoteRevision.note_id, NoteRevision.rev, NoteRevision.state).where(
            NoteRevision.user_id == user_id, tuple_(NoteRevision.note_id, NoteRevision.rev).in_(wanted)
        )
    )
    return {(row.note_id, row.rev): _decode_state(row.state) for row in rows}


async def write(session: AsyncSession, auth: Auth, batch: Batch, now: datetime) -> None:
    """Stores what `batch` changed: notes, their new revisions, the device's views, the applied ids, the feed head."""
    user_id, loaded = auth.user_id, batch.loaded
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for note_id, is_new in batch.written.items():
        note = loaded.notes[note_id]
        values = {
            **columns_of(note.stored.state),
            **{"user_id": user_id, "id": note_id, "rev": note.stored.rev, "seq": note.seq},
            **{"clocks": _encode(note.stored.clocks).decode(), "updated_at": note.updated_at},
        }
        (inserts if is_new else updates).append({**values, "created_at": note.created_at} if is_new else values)
    if inserts:
        await session.execute(insert(NoteRow), inserts)
    if updates:
        await session.execute(update(NoteRow), updates)  # by primary key, one statement for them all
    await _write_revisions(session, user_id, batch, now)
    if batch.new_views:
        views = [
            {"user_id": user_id, "note_id": n, "device_id": auth.device_id, "rev": loaded.views[n][0]}
            | {"state": _encode(loaded.views[n][1]).decode()}
            for n in batch.new_views
        ]
        await upsert_into(session, DeviceNoteView, views, ("rev", "state"))
    if batch.new_applied:
        applied = [{"user_id": user_id, "id": m, "note_id": n, "applied_at": now} for m, n in batch.new_applied]
        await session.execute(insert(AppliedMutation), applied)
    await prune_applied(session, user_id, now)
    if batch.moved_to:
        await session.execute(update(User).where(User.id == user_id).values(seq=batch.moved_to))
        memo.moved(session, user_id, batch.moved_to)


async def _write_revisions(session: AsyncSession, user_id: str, batch: Batch, now: datetime) -> None:
    if not batch.new_revisions:
        return
    revisions = [
        {"user_id": user_id, "note_id": n, "rev": r, "created_at": now}
        | {"state": _encode(batch.loaded.revisions[(n, r)]).decode()}
        for n, r in batch.new_revisions
    ]
    await session.execute(insert(NoteRevision), revisions)
    # Old revisions are pruned when a note's rev reaches a multiple of PRUNE_EVERY (a cheap DELETE on the key).
    for note_id, rev in {n: r for n, r in batch.new_revisions if r % PRUNE_EVERY == 0}.items():
        await prune_revisions(session, NoteKey(user_id, note_id), rev, now)
