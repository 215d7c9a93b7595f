"""POST /api/sync against the real app, on SQLite and PostgreSQL: the merge rules of docs/api.md, one row each, and the
result statuses (applied, merged, duplicate, rejected)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.api.test_sync_support import Client, mutation, new_id, pull, push, second_device, sync
from tests.conftest import NewAccount

FIELDS = ("title", "body", "tags", "pinned", "archived", "deleted", "reminder")
INITIAL = {"title": "Groceries", "body": "milk\neggs\n", "tags": ["home", "food"]}
AT = "2030-01-01T09:00:00Z"
REMINDER = {"at": AT, "repeat": "daily", "tz": "Europe/Paris", "done": False}

# (name, other device's edit of rev 1, this device's edit of rev 1, (seconds before now: other, mine),
#  expected fields afterwards, expected status of this device's mutation)
# fmt: off
RULES: list[tuple[str, dict[str, Any], dict[str, Any], tuple[int, int], dict[str, Any], str]] = [
    ("title/body: edits to different places both survive",
     {"body": "oat milk\neggs\n"}, {"body": "milk\neggs\nbread\n"}, (60, 30),
     {"body": "oat milk\neggs\nbread\n"}, "merged"),
    ("title/body: same place, both versions kept, stored first",
     {"title": "Groceries today"}, {"title": "Groceries Monday"}, (60, 30),
     {"title": "Groceries today Monday"}, "merged"),
    ("title/body: a deletion never removes text the deleting device had not seen",
     {"body": "milk\neggs\nflour\n"}, {"body": "eggs\n"}, (60, 30),
     {"body": "eggs\nflour\n"}, "merged"),
    ("tags: added and removed against the base, the rest stays",
     {"tags": ["home", "food", "urgent"]}, {"tags": ["food", "weekly"]}, (60, 30),
     {"tags": ["food", "urgent", "weekly"]}, "merged"),
    ("pinned: nobody else changed it since the base, the mutation wins whatever its time",
     {"title": "Shop"}, {"pinned": True}, (30, 600),
     {"pinned": True, "title": "Shop"}, "merged"),
    ("pinned: concurrent, the later edited_at wins (the stored one)",
     {"pinned": True}, {"pinned": False}, (30, 60),
     {"pinned": True}, "merged"),
    ("pinned: concurrent, the later edited_at wins (the mutation)",
     {"pinned": True}, {"pinned": False}, (60, 30),
     {"pinned": False}, "applied"),
    ("archived: concurrent, the later edited_at wins",
     {"archived": True}, {"archived": False}, (30, 60),
     {"archived": True}, "merged"),
    ("reminder: concurrent, the later edited_at wins",
     {"reminder": REMINDER}, {"reminder": None}, (30, 60),
     {"reminder": REMINDER}, "merged"),
    ("reminder: concurrent, the later edited_at wins (clearing it)",
     {"reminder": REMINDER}, {"reminder": None}, (60, 30),
     {"reminder": None}, "applied"),
    # An hour ahead counts as its arrival; half an hour ahead, arriving later, is then later (unclamped, it is not).
    ("an edited_at in the future counts as now",
     {"pinned": True}, {"pinned": False}, (-3600, -1800),
     {"pinned": False}, "applied"),
    ("deleted against a note others edited since the base: the edit wins, the note stays",
     {"body": "milk\n"}, {"deleted": True}, (60, 30),
     {"deleted": False, "body": "milk\n"}, "merged"),
    ("an edit against a concurrent delete: the note comes back",
     {"deleted": True}, {"body": "milk\neggs\nham\n"}, (60, 30),
     {"deleted": False, "body": "milk\neggs\nham\n"}, "applied"),
]
# fmt: on


@pytest.mark.parametrize(("name", "other", "mine", "ages", "expected", "status"), RULES, ids=[r[0] for r in RULES])
async def test_merge_rule(
    client: Client,
    new_account: NewAccount,
    name: str,
    other: dict[str, Any],
    mine: dict[str, Any],
    ages: tuple[int, int],
    expected: dict[str, Any],
    status: str,
) -> None:
    now = datetime.now(UTC)
    phone = await new_account(client)
    laptop = await second_device(client, phone)
    note_id = new_id()
    [created] = await push(client, phone, mutation(note_id, **INITIAL))
    [theirs] = await push(client, laptop, mutation(note_id, 1, now - timedelta(seconds=ages[0]), **other))
    [result] = await push(client, phone, mutation(note_id, 1, now - timedelta(seconds=ages[1]), **mine))
    assert (created["status"], theirs["status"], result["status"]) == ("applied", "applied", status)
    note = result["note"]
    assert {k: note[k] for k in expected} == expected
    changed = any(note[k] != theirs["note"][k] for k in FIELDS)
    assert note["rev"] == note["seq"] == (3 if changed else 2)  # a mutation that changes nothing takes no rev
    notes, _ = await pull(client, laptop)
    assert notes[note_id] == note


async def test_new_note_has_every_field(client: Client, new_account: NewAccount) -> None:
    acct = await new_account(client)
    note_id = new_id()
    data = await sync(client, acct, mutation(note_id, title="Hi", reminder={"at": "2030-01-01T10:00:00+02:00"}))
    [result] = data["results"]
    assert (result["status"], result["error"]) == ("applied", None)
    note = result["note"]
    assert note["reminder"] == {"at": "2030-01-01T08:00:00Z", "repeat": "none", "tz": "UTC", "done": False}
    assert {k: note[k] for k in ("id", "title", "body", "tags", "pinned", "archived", "deleted", "rev", "seq")} == {
        "id": note_id,
        "title": "Hi",
        "body": "",
        "tags": [],
        "pinned": False,
        "archived": False,
        "deleted": False,
        "rev": 1,
        "seq": 1,
    }
    assert note["created_at"].endswith("Z") and note["updated_at"] == note["created_at"]
    assert data["changes"] == [note] and (data["cursor"], data["more"], data["reset"]) == (1, False, False)


async def test_base_equal_to_rev_replaces(client: Client, new_account: NewAccount) -> None:
    acct = await new_account(client)
    note_id = new_id()
    await push(client, acct, mutation(note_id, **INITIAL))
    [result] = await push(client, acct, mutation(note_id, 1, body="bread\n", tags=["x"], archived=True))
    assert result["status"] == "applied"
    assert (result["note"]["body"], result["note"]["tags"], result["note"]["archived"]) == ("bread\n", ["x"], True)


async def test_replay_is_duplicate_and_applies_once(client: Client, new_account: NewAccount) -> None:
    acct = await new_account(client)
    note_id = new_id()
    first = mutation(note_id, title="a")
    second = mutation(note_id, 1, body="b")
    assert [r["status"] for r in await push(client, acct, first, second)] == ["applied", "applied"]
    replay = await push(client, acct, second, first)
    assert [r["status"] for r in replay] == ["duplicate", "duplicate"]
    assert all(r["note"]["rev"] == 2 and r["note"]["seq"] == 2 for r in replay)
    notes, cursor = await pull(client, acct)
    assert (notes[note_id]["rev"], cursor) == (2, 2)


async def test_rejected_mutation_does_not_stop_the_others(client: Client, new_account: NewAccount) -> None:
    acct = await new_account(client)
    note_id, unknown = new_id(), new_id()
    await push(client, acct, mutation(note_id, title="kept"))
    results = await push(
        client,
        acct,
        mutation(note_id, 5, title="from the future"),
        mutation(unknown, 1, title="never created"),
        mutation(note_id, 1, body="applied"),
    )
    assert [r["status"] for r in results] == ["rejected", "rejected", "applied"]
    for rejected in results[:2]:
        assert rejected["error"]["status"] == 409 and rejected["error"]["title"]
    assert results[0]["note"]["title"] == "kept" and results[1]["note"] is None
    notes, _ = await pull(client, acct)
    assert set(notes) == {note_id} and notes[note_id]["body"] == "applied" and notes[note_id]["rev"] == 2
    # A rejected mutation is not remembered: once it can apply, the same id applies.
    [retry] = await push(client, acct, {**mutation(unknown, 0, title="now"), "id": results[1]["id"]})
    assert retry["status"] == "applied"


async def test_lost_response_does_not_double_the_devices_text(client: Client, new_account: NewAccount) -> None:
    phone = await new_account(client)
    laptop = await second_device(client, phone)
    note_id = new_id()
    await push(client, phone, mutation(note_id, body="Dear Ann,\n"))
    await push(client, phone, mutation(note_id, 1, body="Dear Ann,\nthanks for the book.\n"))  # answer lost
    await push(client, laptop, mutation(note_id, 2, title="Letter"))
    # Still on base 1, the phone goes on typing: its text builds on what it sent, which must not come back twice.
    [result] = await push(client, phone, mutation(note_id, 1, body="Dear Ann,\nthanks for the book.\nBest, Bo\n"))
    assert result["note"]["body"] == "Dear Ann,\nthanks for the book.\nBest, Bo\n"
    assert result["note"]["title"] == "Letter"
    [created] = await push(client, laptop, mutation(new_id(), body="x"))
    assert created["note"]["rev"] == 1


async def test_lost_response_then_deleting_own_text(client: Client, new_account: NewAccount) -> None:
    acct = await new_account(client)
    note_id = new_id()
    await push(client, acct, mutation(note_id, body="a\nb\n"))
    await push(client, acct, mutation(note_id, 1, body="a\nb\nc\n"))  # answer lost
    # Against rev 1 ("a b") this would look like "b replaced by c" racing "c added"; against what the device sent
    # last ("a b c") it is what it is: b deleted.
    [result] = await push(client, acct, mutation(note_id, 1, body="a\nc\n"))
    assert result["note"]["body"] == "a\nc\n"


async def test_lost_response_for_a_new_note(client: Client, new_account: NewAccount) -> None:
    acct = await new_account(client)
    note_id = new_id()
    await push(client, acct, mutation(note_id, body="first line\n"))
    [result] = await push(client, acct, mutation(note_id, 0, body="first line\nsecond line\n"))
    assert result["note"]["body"] == "first line\nsecond line\n" and result["status"] == "applied"


async def test_each_change_gets_its_own_increasing_seq(client: Client, new_account: NewAccount) -> None:
    acct = await new_account(client)
    a, b = new_id(), new_id()
    results = await push(
        client,
        acct,
        mutation(a, title="1"),
        mutation(b, title="2"),
        mutation(a, 1, title="3"),
        mutation(b, 1, title="4"),
    )
    assert [r["note"]["seq"] for r in results] == [1, 2, 3, 4]
    assert [r["note"]["rev"] for r in results] == [1, 1, 2, 2]
    # One request, yet each change has its own moment, in order (the notes list sorts on created_at).
    moments = [datetime.fromisoformat(r["note"]["updated_at"]) for r in results]
    assert moments == sorted(moments) and len(set(moments)) == 4
    created = [datetime.fromisoformat(r["note"]["created_at"]) for r in results[:2]]
    assert created[0] < created[1]


async def test_mutations_of_one_request_apply_in_order_each_seeing_the_last(
    client: Client, new_account: NewAccount
) -> None:
    acct = await new_account(client)
    note_id = new_id()
    first = mutation(note_id, body="milk\neggs\n")
    results = await push(
        client,
        acct,
        first,
        mutation(note_id, 1, body="oat milk\neggs\n"),
        # Still based on rev 1, as if the answer to the edit before was lost: merged against that edit's text, so
        # the device's own "oat " goes, as it asked, and nothing is doubled.
        mutation(note_id, 1, body="milk\neggs\nbread\n"),
        first,
        mutation(note_id, 9, body="ahead"),
    )
    assert [r["status"] for r in results] == ["applied", "applied", "applied", "duplicate", "rejected"]
    assert [(r["note"]["rev"], r["note"]["seq"]) for r in results] == [(1, 1), (2, 2), (3, 3), (3, 3), (3, 3)]
    notes, cursor = await pull(client, acct)
    assert notes[note_id]["body"] == "milk\neggs\nbread\n" and cursor == 3


async def test_unchanged_note_keeps_rev_and_seq(client: Client, new_account: NewAccount) -> None:
    acct = await new_account(client)
    note_id = new_id()
    await push(client, acct, mutation(note_id, title="same"))
    [result] = await push(client, acct, mutation(note_id, 1, title="same"))
    assert result["status"] == "applied" and (result["note"]["rev"], result["note"]["seq"]) == (1, 1)


async def test_users_do_not_meet(client: Client, new_account: NewAccount) -> None:
    ann, bo = await new_account(client), await new_account(client)
    note_id = new_id()
    await push(client, ann, mutation(note_id, title="Ann's"))
    [result] = await push(client, bo, mutation(note_id, title="Bo's"))
    assert (result["status"], result["note"]["rev"], result["note"]["seq"]) == ("applied", 1, 1)
    ann_notes, _ = await pull(client, ann)
    bo_notes, _ = await pull(client, bo)
    assert ann_notes[note_id]["title"] == "Ann's" and bo_notes[note_id]["title"] == "Bo's"
