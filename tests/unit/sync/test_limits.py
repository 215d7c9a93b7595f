"""sync/limits.py: which values refuse their mutation, table-driven; a note already over a limit stays editable."""

from __future__ import annotations

from typing import Any

import pytest

from sync.limits import Refusal, refusal
from sync.protocol import MAX_BODY, MAX_TAG, MAX_TAGS, MAX_TITLE, NoteSet
from sync.state import EMPTY, NoteState

LONG = NoteState(title="t" * 600, body="b" * 100_500, tags=(*(f"t{i}" for i in range(60)), "x" * 70))

# (name, the values sent, what the note holds, the field refused or None)
# fmt: off
CASES: list[tuple[str, dict[str, Any], list[NoteState], str | None]] = [
    ("at the limits", {"title": "x" * MAX_TITLE, "body": "é" * MAX_BODY, "tags": ["t" * MAX_TAG] * MAX_TAGS},
     [EMPTY], None),
    ("title one over", {"title": "x" * (MAX_TITLE + 1)}, [EMPTY], "set.title"),
    ("body one over", {"body": "x" * (MAX_BODY + 1)}, [EMPTY], "set.body"),
    ("a tag one over", {"tags": ["a", "x" * (MAX_TAG + 1)]}, [EMPTY], "set.tags[1]"),
    ("one tag too many", {"tags": [str(i) for i in range(MAX_TAGS + 1)]}, [EMPTY], "set.tags"),
    ("a repeated tag counts once", {"tags": ["same"] * (MAX_TAGS + 1)}, [EMPTY], None),
    ("NUL in a short title", {"title": "\x00"}, [EMPTY], "set.title"),
    ("NUL in the body of a long note", {"body": "b\x00"}, [LONG], "set.body"),
    ("NUL in a tag", {"tags": ["ok", "n\x00"]}, [EMPTY], "set.tags[1]"),
    ("the title first", {"title": "x" * 501, "body": "x" * 100_001}, [EMPTY], "set.title"),
    ("nothing sent", {}, [EMPTY], None),
    ("flags only on a long note", {"pinned": True, "reminder": None}, [LONG], None),
    # A note a merge made longer than a limit: an edit that does not make it longer is accepted.
    ("long body trimmed", {"body": "b" * 100_400}, [LONG], None),
    ("long body kept as is", {"body": "c" * 100_500}, [LONG], None),
    ("long body made longer", {"body": "b" * 100_501}, [LONG], "set.body"),
    ("long title trimmed", {"title": "t" * 550}, [LONG], None),
    ("long title made longer", {"title": "t" * 601}, [LONG], "set.title"),
    ("title alone on a long note", {"title": "short"}, [LONG], None),
    ("many tags, one removed", {"tags": list(LONG.tags[1:])}, [LONG], None),
    ("many tags, one added", {"tags": [*LONG.tags, "new"]}, [LONG], "set.tags"),
    ("a long tag the note has", {"tags": ["x" * 70]}, [LONG], None),
    ("a long tag the note has not", {"tags": ["y" * 70]}, [LONG], "set.tags[0]"),
    # The base the device edited counts too: it may trim the long text it saw though the stored one is short now.
    ("the long base the device edited", {"body": "b" * 100_450}, [EMPTY, LONG], None),
    ("longer than stored and base", {"body": "b" * 100_501}, [EMPTY, LONG], "set.body"),
]
# fmt: on


@pytest.mark.parametrize(("name", "sent", "held", "field"), CASES, ids=[c[0] for c in CASES])
def test_refusal(name: str, sent: dict[str, Any], held: list[NoteState], field: str | None) -> None:
    found = refusal(NoteSet(**sent), held)
    assert (found.field if found else None) == field
    if found:
        assert found.message.endswith(".")
        assert "the most is" in found.message or "NUL" in found.message


def test_the_reason_says_how_long_and_the_most() -> None:
    assert refusal(NoteSet(body="x" * 100_234), [EMPTY]) == Refusal(
        "set.body", "The body is 100,234 characters long; the most is 100,000."
    )
