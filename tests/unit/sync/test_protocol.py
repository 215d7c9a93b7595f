"""The wire Structs: what a request must be to decode is enforced while decoding, and errors name the field. The
limits of a note's values are not (they refuse one mutation: test_limits.py)."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest

from sync.protocol import UNSET, Note, Reminder, SyncRequest

ID = str(uuid.uuid4())
AT = "2026-12-01T09:00:00Z"


def mutation(**overrides: Any) -> dict[str, Any]:
    body = {"id": ID, "note_id": ID, "base_rev": 0, "edited_at": "2026-11-27T17:05:00.000Z", "set": {"title": "t"}}
    body.update(overrides)
    return body


def decode(*mutations: dict[str, Any], **request: Any) -> SyncRequest:
    return msgspec.json.decode(msgspec.json.encode({**request, "mutations": list(mutations)}), type=SyncRequest)


def test_defaults() -> None:
    request = msgspec.json.decode(b"{}", type=SyncRequest)
    assert (request.cursor, request.limit, request.mutations) == (0, 500, [])


def test_unset_differs_from_null() -> None:
    request = decode(mutation(set={"reminder": None}), mutation(set={}))
    assert request.mutations[0].changes.reminder is None
    assert request.mutations[1].changes.reminder is UNSET
    assert request.mutations[0].edited_at == datetime(2026, 11, 27, 17, 5, tzinfo=UTC)


def test_reminder_defaults() -> None:
    request = decode(mutation(set={"reminder": {"at": "2026-12-01T09:00:00Z"}}))
    assert request.mutations[0].changes.reminder == Reminder(at=datetime(2026, 12, 1, 9, tzinfo=UTC))
    assert request.mutations[0].changes.reminder.tz == "UTC"  # type: ignore[union-attr]


BAD = [
    (mutation(set={"title": 5}), "$.mutations[0].set.title"),
    (mutation(set={"tags": ["t", 5]}), "$.mutations[0].set.tags[1]"),
    (mutation(set={"pinned": "yes"}), "$.mutations[0].set.pinned"),
    (mutation(set={"reminder": {"at": AT, "repeat": "yearly"}}), "$.mutations[0].set.reminder.repeat"),
    (mutation(set={"reminder": {"at": "2026-12-01T09:00:00"}}), "$.mutations[0].set.reminder.at"),
    (mutation(edited_at="2026-11-27T17:05:00"), "$.mutations[0].edited_at"),
    (mutation(base_rev=-1), "$.mutations[0].base_rev"),
    (mutation(note_id="not-a-uuid"), "$.mutations[0].note_id"),
    ({k: v for k, v in mutation().items() if k != "base_rev"}, "base_rev"),
    ({k: v for k, v in mutation().items() if k != "set"}, "set"),
]


@pytest.mark.parametrize(("body", "field"), BAD, ids=[b[1] for b in BAD])
def test_invalid_mutation_names_the_field(body: dict[str, Any], field: str) -> None:
    with pytest.raises(msgspec.ValidationError, match=re.escape(field)):
        decode(body)


def test_values_over_a_note_limit_still_decode() -> None:
    request = decode(mutation(set={"title": "x" * 501, "body": "é" * 100_001, "tags": ["t" * 65] * 51}))
    assert len(request.mutations[0].changes.title) == 501  # type: ignore[arg-type]


@pytest.mark.parametrize(("field", "value"), [("limit", 1001), ("limit", 0), ("cursor", -1)])
def test_request_limits(field: str, value: int) -> None:
    with pytest.raises(msgspec.ValidationError, match=field):
        decode(**{field: value})


def test_note_encodes_times_with_z() -> None:
    at = datetime(2026, 11, 27, 17, 5, tzinfo=UTC)
    note = Note(ID, "", "", [], False, False, False, Reminder(at=at), 1, 1, at, at)
    data = msgspec.json.decode(msgspec.json.encode(note))
    assert data["created_at"] == "2026-11-27T17:05:00Z"
    assert data["reminder"] == {"at": "2026-11-27T17:05:00Z", "repeat": "none", "tz": "UTC", "done": False}
