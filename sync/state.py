"""A note's mergeable state and the per-field clocks that tell concurrent changes apart.

These are stored by the server (the clocks as JSON) but belong to the merge rules, so they live here.
"""

from __future__ import annotations

from datetime import datetime

from msgspec import Struct

from sync.protocol import Reminder

CONTENT_FIELDS = ("title", "body", "tags", "pinned", "archived", "reminder")
FIELDS = (*CONTENT_FIELDS, "deleted")
CLOCKED = ("pinned", "archived", "reminder", "deleted", "content")
SERVER = ""
"""The `device` of a change the server made itself (a repeating reminder moving on)."""


class NoteState(Struct, frozen=True):
    """What a device can change: every field of a note except its identity and counters."""

    title: str = ""
    body: str = ""
    tags: tuple[str, ...] = ()
    pinned: bool = False
    archived: bool = False
    deleted: bool = False
    reminder: Reminder | None = None


EMPTY = NoteState()


class FieldClock(Struct, frozen=True, array_like=True):
    """The last accepted change to a field: the note revision it made, its (clamped) edited_at, and who made it."""

    rev: int
    at: datetime
    device: str


class Clocks(Struct, frozen=True, omit_defaults=True):
    """One clock per field merged by "later edit wins"; `content` is the last change to any content field."""

    pinned: FieldClock | None = None
    archived: FieldClock | None = None
    reminder: FieldClock | None = None
    deleted: FieldClock | None = None
    content: FieldClock | None = None
