"""Values over a limit refuse their own mutation only (`rejected`, 422 in its result); a note a merge made longer
than a limit stays editable. On SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.test_sync_support import Client, mutation, new_id, pull, push, second_device
from tests.conftest import Account, NewAccount

# (name, the refused values, the field the problem names)
OVER: list[tuple[str, dict[str, Any], str]] = [
    ("title over 500", {"title": "x" * 501}, "set.title"),
    ("body over 100,000", {"body": "x" * 100_001}, "set.body"),
    ("51 tags", {"tags": [f"t{i}" for i in range(51)]}, "set.tags"),
    ("a tag over 64", {"tags": ["ok", "x" * 65]}, "set.tags[1]"),
    ("NUL in the title", {"title": "a\x00b"}, "set.title"),
    ("NUL in the body", {"body": "line\n\x00"}, "set.body"),
    ("NUL in a tag", {"tags": ["a\x00"]}, "set.tags[0]"),
]


@pytest.mark.parametrize(("name", "values", "field"), OVER, ids=[o[0] for o in OVER])
async def test_an_over_limit_mutation_is_rejected_alone_and_stores_nothing(
    client: Client, new_account: NewAccount, name: str, values: dict[str, Any], field: str
) -> None:
    acct = await new_account(client)
    first, refused, last = new_id(), new_id(), new_id()
    bad = mutation(refused, **values)
    results = await push(client, acct, mutation(first, title="before"), bad, mutation(last, title="after"))

    assert [r["status"] for r in results] == ["applied", "rejected", "applied"]
    problem = results[1]["error"]
    assert problem["status"] == 422 and problem["detail"]
    assert problem["errors"] == [{"field": field, "message": problem["detail"]}]
    assert results[1]["note"] is None  # the server has no such note
    notes, _ = await pull(client, acct)
    assert set(notes) == {first, last}

    # Nothing of it was recorded, not even its id: the same mutation, fixed, applies (it is not a "duplicate").
    fixed = {**bad, "set": {"title": "fixed"}}
    (result,) = await push(client, acct, fixed)
    assert result["status"] == "applied" and result["note"]["title"] == "fixed"


async def test_a_refused_edit_leaves_the_note_as_it_was_and_a_later_edit_applies(
    client: Client, new_account: NewAccount
) -> None:
    acct = await new_account(client)
    note = new_id()
    (created,) = await push(client, acct, mutation(note, title="Kept", body="short"))

    (refused,) = await push(client, acct, mutation(note, base_rev=1, body="y" * 100_001, pinned=True))
    assert refused["status"] == "rejected" and refused["error"]["status"] == 422
    assert refused["note"] == created["note"]  # the server's version, untouched (not even `pinned`)

    (later,) = await push(client, acct, mutation(note, base_rev=1, body="shorter"))
    assert later["status"] == "applied"
    assert (later["note"]["body"], later["note"]["rev"], later["note"]["pinned"]) == ("shorter", 2, False)


async def merged_too_long(client: Client, acct: Account) -> tuple[str, dict[str, Any], Account]:
    """A note that two devices' concurrent edits, merged, made longer than every limit; and the second device."""
    other = await second_device(client, acct)
    note = new_id()
    await push(client, acct, mutation(note))
    title_a, body_a, tags_a = "a" * 300, "x" * 60_000, [f"a{i}" for i in range(30)]
    title_b, body_b, tags_b = "b" * 300, "y" * 60_000, [f"b{i}" for i in range(30)]
    await push(client, acct, mutation(note, base_rev=1, title=title_a, body=body_a, tags=tags_a))
    (result,) = await push(client, other, mutation(note, base_rev=1, title=title_b, body=body_b, tags=tags_b))
    merged = result["note"]
    assert result["status"] == "merged"
    assert len(merged["title"]) > 500 and len(merged["body"]) > 100_000 and len(merged["tags"]) > 50
    return note, merged, other


async def test_a_note_a_merge_made_too_long_stays_editable(client: Client, new_account: NewAccount) -> None:
    acct = await new_account(client)
    note, merged, other = await merged_too_long(client, acct)
    rev = merged["rev"]

    # Shorter, though still over the limit: accepted. So is an edit of another field, whatever the body's length.
    shorter = merged["body"][:-100]
    (result,) = await push(client, other, mutation(note, base_rev=rev, body=shorter))
    assert result["status"] == "applied" and result["note"]["body"] == shorter
    (result,) = await push(client, acct, mutation(note, base_rev=rev + 1, pinned=True))
    assert result["status"] == "applied"
    (result,) = await push(client, acct, mutation(note, base_rev=rev + 2, title=merged["title"][:-1]))
    assert result["status"] == "applied"
    (result,) = await push(client, acct, mutation(note, base_rev=rev + 3, tags=merged["tags"][1:]))
    assert result["status"] == "applied" and len(result["note"]["tags"]) == len(merged["tags"]) - 1

    # Longer than it is stored, and over the limit: refused, and the note keeps what it had.
    (result,) = await push(client, acct, mutation(note, base_rev=rev + 4, body=shorter + "z" * 101))
    assert result["status"] == "rejected" and result["error"]["errors"][0]["field"] == "set.body"
    assert result["note"]["body"] == shorter and result["note"]["rev"] == rev + 4
    (result,) = await push(client, acct, mutation(note, base_rev=rev + 4, tags=[*merged["tags"], "one-more"]))
    assert result["status"] == "rejected" and result["error"]["errors"][0]["field"] == "set.tags"


async def test_a_device_editing_its_own_long_base_is_not_refused(client: Client, new_account: NewAccount) -> None:
    """The base the device edited counts as held: trimming the long text it saw is not "making it longer", even if
    another device shortened the note meanwhile."""
    acct = await new_account(client)
    note, merged, other = await merged_too_long(client, acct)
    rev = merged["rev"]
    await push(client, other, mutation(note, base_rev=rev, body="cut short on the laptop"))

    (result,) = await push(client, acct, mutation(note, base_rev=rev, body=merged["body"][:-10]))
    assert result["status"] == "merged"
    notes, _ = await pull(client, acct)
    assert notes[note]["body"] == result["note"]["body"]
