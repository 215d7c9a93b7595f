"""Merging one mutation into a stored note (docs/api.md, "How concurrent edits merge").

State in, state out: the caller supplies the stored note with its field clocks, the base the device edited (the
revision it names, or the text it sent last when its previous response was lost) and the server's `now`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec
from msgspec import UNSET, Struct

from sync.protocol import NoteSet, Reminder
from sync.state import CONTENT_FIELDS, EMPTY, Clocks, FieldClock, NoteState
from sync.text import merge_text


class BaseAhead(ValueError):
    """The mutation names a base revision the note never had (or has not reached)."""


class Edit(Struct, frozen=True):
    """A mutation as the merge sees it: `device` is who sent it (`SERVER` for the server's own changes)."""

    base_rev: int
    edited_at: datetime
    device: str
    changes: NoteSet


class Stored(Struct, frozen=True):
    state: NoteState
    rev: int
    clocks: Clocks


NEW = Stored(EMPTY, 0, Clocks())
"""A note no device has created yet."""


class Outcome(Struct, frozen=True):
    state: NoteState
    clocks: Clocks
    changed: bool
    """Whether the note differs from the stored one: only then does it need a new rev and seq."""
    merged: bool
    """Whether the note differs from base-plus-this-mutation (the device must take the server's version)."""
    seen: NoteState
    """The device's own view after this edit: the base for its next edit if this response is lost."""


def merge_mutation(stored: Stored, base: NoteState | None, edit: Edit, *, now: datetime) -> Outcome:
    """Apply `edit` to `stored`; `base` is None when the base revision's content is no longer known."""
    if edit.base_rev > stored.rev:
        raise BaseAhead(f"base_rev {edit.base_rev} is ahead of the note's rev {stored.rev}")
    fields = sent_fields(edit.changes)
    at = min(edit.edited_at, now).astimezone(UTC)
    if edit.base_rev == stored.rev:
        state = _replace(stored.state, fields)
        expected = state
    else:
        state = _merge_fields(stored, base, fields, edit, at)
        expected = _replace(base or stored.state, fields)
    changed = state != stored.state
    clocks = _tick(stored, state, FieldClock(stored.rev + 1, at, edit.device)) if changed else stored.clocks
    return Outcome(state=state, clocks=clocks, changed=changed, merged=state != expected, seen=expected)


def sent_fields(changes: NoteSet) -> dict[str, Any]:
    """The fields a mutation sent, normalised: tags without duplicates, reminder times in UTC."""
    fields = {k: v for k, v in msgspec.structs.asdict(changes).items() if v is not UNSET}
    if "tags" in fields:
        fields["tags"] = tuple(dict.fromkeys(fields["tags"]))
    if isinstance(fields.get("reminder"), Reminder):
        reminder: Reminder = fields["reminder"]
        fields["reminder"] = msgspec.structs.replace(reminder, at=reminder.at.astimezone(UTC))
    return fields


def merge_tags(base: tuple[str, ...] | None, stored: tuple[str, ...], mine: tuple[str, ...]) -> tuple[str, ...]:
    """Set deltas: what `mine` added to `base` is added, what it removed is removed, the rest of `stored` stays."""
    if base is None:
        base = tuple(t for t in stored if t in mine)  # unknown base: only additions, nothing is removed
    if stored == base:
        return mine
    removed = set(base) - set(mine)
    kept = [t for t in stored if t not in removed]
    return (*kept, *(t for t in mine if t not in base and t not in kept))


def _replace(state: NoteState, fields: dict[str, Any]) -> NoteState:
    return msgspec.structs.replace(state, **fields) if fields else state


def _merge_fields(
    stored: Stored, base: NoteState | None, fields: dict[str, Any], edit: Edit, at: datetime
) -> NoteState:
    now_state = stored.state
    merged: dict[str, Any] = {}
    for name in ("title", "body"):
        if name in fields:
            merged[name] = merge_text(getattr(base, name) if base else None, getattr(now_state, name), fields[name])
    if "tags" in fields:
        merged["tags"] = merge_tags(base.tags if base else None, now_state.tags, fields["tags"])
    for name in ("pinned", "archived", "reminder"):
        if name in fields and _mutation_wins(getattr(stored.clocks, name), edit, at):
            merged[name] = fields[name]
    merged["deleted"] = _merge_deleted(stored, base, fields, edit)
    return msgspec.structs.replace(now_state, **merged)


def _concurrent(clock: FieldClock | None, edit: Edit) -> bool:
    """Whether another device (or the server) changed the field after the revision this edit started from."""
    return clock is not None and clock.rev > edit.base_rev and clock.device != edit.device


def _mutation_wins(clock: FieldClock | None, edit: Edit, at: datetime) -> bool:
    # Device clocks only break true ties: a field nobody else touched since the base takes the edit whatever its time.
    # On an exact tie the stored value, which arrived first, stays.
    return not _concurrent(clock, edit) or (clock is not None and at > clock.at)


def _merge_deleted(stored: Stored, base: NoteState | None, fields: dict[str, Any], edit: Edit) -> bool:
    """Deletion loses to concurrent edits: the note stays, or comes back if an edit meets a concurrent delete."""
    if "deleted" in fields:
        if fields["deleted"] and _concurrent(stored.clocks.content, edit):
            return stored.state.deleted
        return bool(fields["deleted"])
    reference = base or EMPTY
    edits_content = any(name in fields and fields[name] != getattr(reference, name) for name in CONTENT_FIELDS)
    if stored.state.deleted and edits_content and _concurrent(stored.clocks.deleted, edit):
        return False
    return stored.state.deleted


def _tick(stored: Stored, state: NoteState, clock: FieldClock) -> Clocks:
    """New clocks for the fields `state` changed relative to the stored note."""
    ticks: dict[str, FieldClock] = {}
    for name in ("pinned", "archived", "reminder", "deleted"):
        if getattr(state, name) != getattr(stored.state, name):
            ticks[name] = clock
    if any(getattr(state, name) != getattr(stored.state, name) for name in CONTENT_FIELDS):
        ticks["content"] = clock
    return msgspec.structs.replace(stored.clocks, **ticks)
