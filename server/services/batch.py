"""A sync request's mutations, applied in order in memory over what a few SELECTs loaded, then written in bulk.

The round trips to the database, not the merging, are what a mutation costs: one at a time, each took eight or so.
Here a whole request takes about a dozen statements, however many mutations it holds. The caller runs it inside one
transaction that `lock_seq` opens by locking the user's row, so no other writer of this user runs meanwhile and what
was loaded stays true until the commit. Every mutation sees the ones before it in the same request, exactly as if each
had been committed on its own; the request commits as a whole, so a crash applies none of it and the device, which
got no answer, sends it all again (mutation ids make that safe).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from server.auth import Auth
from server.errors import problem
from server.models.base import utcnow
from server.services import batch_store as store
from server.services.batch_store import Current, Loaded
from server.services.notes import Position, wire_state
from sync.limits import refusal
from sync.merge import NEW, BaseAhead, Edit, Outcome, Stored, merge_mutation
from sync.protocol import Mutation, MutationResult, Note, Status
from sync.state import EMPTY, NoteState

TICK = timedelta(microseconds=1)


@dataclass
class Batch:
    """The user's notes as the request's mutations leave them, and what must be written to store that."""

    device_id: str
    now: datetime
    seq: int
    loaded: Loaded
    first_seq: int = 0
    reminders_changed: bool = False
    written: dict[str, bool] = field(default_factory=dict)
    """Note id -> whether it is new (an INSERT) rather than an UPDATE."""
    new_revisions: list[tuple[str, int]] = field(default_factory=list)
    new_views: set[str] = field(default_factory=set)
    new_applied: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.first_seq = self.seq

    @property
    def moved_to(self) -> int:
        """The last seq this batch gave out; 0 if it wrote nothing (the feed did not move)."""
        return self.seq if self.seq != self.first_seq else 0

    def apply(self, mutation: Mutation) -> MutationResult:
        notes, note_id = self.loaded.notes, mutation.note_id
        # Each mutation gets its own moment, after the one before: notes made in one request keep their order.
        self.now = max(utcnow(), self.now + TICK)
        if mutation.id in self.loaded.applied:
            return MutationResult(mutation.id, "duplicate", self.wire(self.loaded.applied[mutation.id]))
        current = notes.get(note_id)
        stored = current.stored if current else NEW
        base = self._base(note_id, mutation.base_rev, stored.rev)
        # Refused alone, before anything is recorded: not applied, so the device may fix it and send it again.
        refused = refusal(mutation.changes, [state for state in (stored.state, base) if state is not None])
        if refused is not None:
            return self._rejected(mutation, 422, refused.message, refused.field)
        edit = Edit(mutation.base_rev, mutation.edited_at, self.device_id, mutation.changes)
        try:
            outcome = merge_mutation(stored, base, edit, now=self.now)
        except BaseAhead as exc:
            return self._rejected(mutation, 409, str(exc))
        self.loaded.applied[mutation.id] = note_id
        self.new_applied.append((mutation.id, note_id))
        if outcome.changed or current is None:  # a note a device created is stored even if it is still empty
            self._write(note_id, current, outcome)
        self.loaded.views[note_id] = (notes[note_id].stored.rev, outcome.seen)
        self.new_views.add(note_id)
        status: Status = "merged" if outcome.merged else "applied"
        return MutationResult(mutation.id, status, self.wire(note_id))

    def _rejected(self, mutation: Mutation, status: int, detail: str, field: str | None = None) -> MutationResult:
        """A mutation that cannot apply, with the note as the server holds it (None if it has none)."""
        extra = {"errors": [{"field": field, "message": detail}]} if field else {}
        return MutationResult(mutation.id, "rejected", self.wire(mutation.note_id), problem(status, detail, **extra))

    def _write(self, note_id: str, current: Current | None, outcome: Outcome) -> None:
        rev = (current.stored.rev if current else 0) + 1
        self.seq += 1
        created_at = current.created_at if current else self.now
        self.loaded.notes[note_id] = Current(Stored(outcome.state, rev, outcome.clocks), self.seq, created_at, self.now)
        self.loaded.revisions[(note_id, rev)] = outcome.state
        self.new_revisions.append((note_id, rev))
        self.written[note_id] = self.written.get(note_id, current is None)
        before = current.stored.state.reminder if current else None
        self.reminders_changed = self.reminders_changed or outcome.state.reminder != before

    def _base(self, note_id: str, base_rev: int, rev: int) -> NoteState | None:
        """What the device edited: its own last edit if it has not seen that edit's result yet (a lost response),
        else the revision it names. None if that revision was pruned."""
        if base_rev >= rev:
            return None  # not a concurrent edit: the merge does not look at the base
        view = self.loaded.views.get(note_id)
        if view is not None and view[0] > base_rev:
            return view[1]
        if base_rev == 0:
            return EMPTY
        return self.loaded.revisions.get((note_id, base_rev))

    def wire(self, note_id: str) -> Note | None:
        current = self.loaded.notes.get(note_id)
        if current is None:
            return None
        at = Position(current.stored.rev, current.seq, current.updated_at)
        return wire_state(note_id, current.stored.state, at, current.created_at)


async def apply_mutations(
    session: AsyncSession, auth: Auth, mutations: Sequence[Mutation], now: datetime
) -> tuple[list[MutationResult], Batch]:
    """Applies `mutations` in order inside the caller's transaction; the results, and the batch (for its seqs)."""
    seq = await store.lock_seq(session, auth.user_id)
    loaded = await store.load(session, auth, mutations)
    batch = Batch(auth.device_id, now - TICK, seq, loaded)
    results = [batch.apply(mutation) for mutation in mutations]
    await store.write(session, auth, batch, now)
    return results, batch
