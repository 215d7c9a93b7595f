"""Whether a mutation's values may be stored (docs/api.md, "Notes" and "Sync"): lengths, counts, NUL characters.

A value that breaks a rule refuses that one mutation (`rejected`, the reason in its result); the rest of the request
still applies. This is not done while decoding because the rule depends on the note: a merge of two devices' edits
may leave a field longer than a limit (both versions kept whole), and such a note must stay editable. So a value over
a limit is refused only when it is also longer than what the note already holds, the stored version or the base the
device edited: an edit that does not make the field longer is accepted, and one of another field is not affected.
NUL is refused whatever the length: PostgreSQL text cannot hold it, and no keyboard types it.
"""

from __future__ import annotations

from collections.abc import Sequence

from msgspec import UNSET, Struct

from sync.protocol import MAX_BODY, MAX_TAG, MAX_TAGS, MAX_TITLE, NoteSet
from sync.state import NoteState

NUL = "\x00"


class Refusal(Struct, frozen=True):
    """Why a mutation cannot be stored: the field, as its path inside the mutation, and a sentence for a person."""

    field: str
    message: str


def refusal(changes: NoteSet, held: Sequence[NoteState]) -> Refusal | None:
    """The first rule `changes` breaks, or None. `held` is what the note holds now: the stored version and, when
    known, the base the device edited (empty for a note the server does not have yet)."""
    for name, limit in (("title", MAX_TITLE), ("body", MAX_BODY)):
        value = getattr(changes, name)
        if value is not UNSET:
            found = _text(name, value, limit, max((len(getattr(state, name)) for state in held), default=0))
            if found:
                return found
    if changes.tags is not UNSET:
        return _tags(changes.tags, held)
    return None


def _text(name: str, value: str, limit: int, longest_held: int) -> Refusal | None:
    if NUL in value:
        return Refusal(f"set.{name}", f"The {name} contains a NUL character (\\u0000), which cannot be stored.")
    if len(value) > limit and len(value) > longest_held:
        return Refusal(f"set.{name}", f"The {name} is {len(value):,} characters long; the most is {limit:,}.")
    return None


def _tags(tags: Sequence[str], held: Sequence[NoteState]) -> Refusal | None:
    known = {tag for state in held for tag in state.tags}
    for i, tag in enumerate(tags):
        if NUL in tag:
            return Refusal(f"set.tags[{i}]", "A tag contains a NUL character (\\u0000), which cannot be stored.")
        if len(tag) > MAX_TAG and tag not in known:
            return Refusal(f"set.tags[{i}]", f"A tag is {len(tag):,} characters long; the most is {MAX_TAG}.")
    count = len(set(tags))
    if count > MAX_TAGS and count > max((len(state.tags) for state in held), default=0):
        return Refusal("set.tags", f"The note has {count:,} tags; the most is {MAX_TAGS}.")
    return None
