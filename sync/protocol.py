"""The wire format of `POST /api/sync` (docs/api.md, "Notes" and "Sync").

What every request must be to decode at all is a msgspec `Meta` constraint, so that a decoding error names the
offending field (`$.mutations[0].base_rev`) and the whole request is a 422. The limits of a note's text and tags are
not: a value over one refuses only its own mutation, and only if it makes the note longer than it is (sync/limits.py
checks them); their descriptions here keep them visible in /schema.
Times are aware datetimes; the server normalises them to UTC, which msgspec encodes with a `Z`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

MAX_TITLE = 500
MAX_BODY = 100_000
MAX_TAGS = 50
MAX_TAG = 64
MAX_MUTATIONS = 500
DEFAULT_LIMIT = 500
MAX_LIMIT = 1000

UUID_PATTERN = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"

Uuid = Annotated[str, Meta(pattern=UUID_PATTERN, description="A UUID made by the client.")]
Time = Annotated[datetime, Meta(tz=True, description="ISO 8601 with a zone, years 1-9999 in UTC; answered in UTC, Z.")]
# A value over a limit gets its mutation `rejected` (the others apply), unless the note already holds a longer one.
_OVER = "; more is refused (this mutation only) unless the note already holds more, as a merge can leave it."
Title = Annotated[str, Meta(description=f"At most {MAX_TITLE} characters, no NUL{_OVER}")]
Body = Annotated[str, Meta(description=f"At most {MAX_BODY:,} characters, no NUL{_OVER}")]
Tags = Annotated[list[str], Meta(description=f"At most {MAX_TAGS} tags of at most {MAX_TAG} characters, no NUL{_OVER}")]
Repeat = Literal["none", "daily", "weekly", "monthly"]
ZoneName = Annotated[str, Meta(min_length=1, max_length=64, description="An IANA time zone, e.g. Europe/Paris.")]
Rev = Annotated[int, Meta(ge=0)]
Status = Literal["applied", "merged", "duplicate", "rejected"]


class Reminder(Struct, frozen=True):
    at: Time
    repeat: Repeat = "none"
    tz: ZoneName = "UTC"
    done: bool = False


class Note(Struct):
    """A note as the server returns it."""

    id: str
    title: str
    body: str
    tags: list[str]
    pinned: bool
    archived: bool
    deleted: bool
    reminder: Reminder | None
    rev: int
    seq: int
    created_at: datetime
    updated_at: datetime


class NoteSet(Struct, omit_defaults=True):
    """The fields a device changed; UNSET means "not sent" (distinct from `reminder: null`, which clears it)."""

    title: Title | UnsetType = UNSET
    body: Body | UnsetType = UNSET
    tags: Tags | UnsetType = UNSET
    pinned: bool | UnsetType = UNSET
    archived: bool | UnsetType = UNSET
    deleted: bool | UnsetType = UNSET
    reminder: Reminder | UnsetType | None = UNSET


class Mutation(Struct):
    id: Uuid
    note_id: Uuid
    base_rev: Rev
    edited_at: Time
    changes: NoteSet = msgspec.field(name="set")


class SyncRequest(Struct):
    cursor: Annotated[int, Meta(ge=0)] = 0
    limit: Annotated[int, Meta(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT
    mutations: list[Mutation] = msgspec.field(default_factory=list)


class MutationResult(Struct):
    id: str
    status: Status
    note: Note | None = None
    error: dict[str, Any] | None = None


class SyncResponse(Struct):
    results: list[MutationResult]
    changes: list[Note]
    cursor: int
    more: bool
    reset: bool = False
