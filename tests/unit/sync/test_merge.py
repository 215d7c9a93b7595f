"""merge_mutation, one row per rule of the merge section of docs/api.md ("How concurrent edits merge")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync.merge import NEW, BaseAhead, Edit, Stored, merge_mutation, merge_tags, sent_fields
from sync.protocol import NoteSet, Reminder
from sync.state import Clocks, FieldClock, NoteState

NOW = datetime(2026, 11, 27, 17, 0, tzinfo=UTC)
T = [NOW - timedelta(minutes=10 - i) for i in range(10)]  # T[0] < T[1] < ... < T[9] < NOW
BASE = NoteState(title="Groceries", body="milk\neggs\n", tags=("home", "food"))
REMINDER = Reminder(at=datetime(2026, 12, 1, 9, tzinfo=UTC), tz="Europe/Paris")


def stored(rev: int = 1, **changes: object) -> Stored:
    """BASE at rev 1, then (if `changes`) changed by device "other" at rev 2 and time T[5]."""
    if rev == 1:
        return Stored(BASE, 1, Clocks())
    state = msgspec.structs.replace(BASE, **changes)
    clock = FieldClock(2, T[5], "other")
    ticks = {k: clock for k in changes if k in ("pinned", "archived", "reminder", "deleted")}
    content = clock if set(changes) - {"deleted"} else None
    return Stored(state, rev, Clocks(**ticks, content=content))


def edit(base_rev: int = 1, at: datetime = T[3], device: str = "me", **changes: object) -> Edit:
    return Edit(base_rev=base_rev, edited_at=at, device=device, changes=NoteSet(**changes))  # type: ignore[arg-type]


def test_base_equal_to_rev_replaces_fields() -> None:
    out = merge_mutation(stored(), BASE, edit(title="Shopping", pinned=True, tags=["x"]), now=NOW)
    assert out.state == msgspec.structs.replace(BASE, title="Shopping", pinned=True, tags=("x",))
    assert (out.changed, out.merged) == (True, False)
    assert out.clocks.pinned == FieldClock(2, T[3], "me")
    assert out.clocks.content == FieldClock(2, T[3], "me")


def test_new_note_from_rev_zero() -> None:
    out = merge_mutation(NEW, None, edit(base_rev=0, title="Hi", body="there"), now=NOW)
    assert out.state == NoteState(title="Hi", body="there")
    assert (out.changed, out.merged) == (True, False)


def test_base_ahead_is_refused() -> None:
    with pytest.raises(BaseAhead):
        merge_mutation(stored(), BASE, edit(base_rev=2, title="x"), now=NOW)


def test_nothing_changed() -> None:
    out = merge_mutation(stored(), BASE, edit(title="Groceries"), now=NOW)
    assert (out.changed, out.merged) == (False, False)
    assert out.clocks == Clocks()


# (name, other device's changes at rev 2, this mutation's set (base rev 1, edited at T[3]), expected fields, merged)
CASES = [
    (
        "text: different lines both survive",
        {"body": "oat milk\neggs\n"},
        {"body": "milk\neggs\nbread\n"},
        {"body": "oat milk\neggs\nbread\n"},
        True,
    ),
    (
        "text: same place keeps both, stored first",
        {"title": "Groceries today"},
        {"title": "Groceries Monday"},
        {"title": "Groceries today Monday"},
        True,
    ),
    (
        "text: deletion spares unseen text",
        {"body": "milk\neggs\nflour\n"},
        {"body": "eggs\n"},
        {"body": "eggs\nflour\n"},
        True,
    ),
    (
        "text: untouched field keeps stored",
        {"title": "Shop"},
        {"body": "milk\n"},
        {"title": "Shop", "body": "milk\n"},
        True,
    ),
    (
        "tags: add and remove against base",
        {"tags": ("home", "food", "urgent")},
        {"tags": ["food", "weekly"]},
        {"tags": ("food", "urgent", "weekly")},
        True,
    ),
    (
        "tags: others' removal stays removed",
        {"tags": ("home",)},
        {"tags": ["home", "food", "x"]},
        {"tags": ("home", "x")},
        True,
    ),
    (
        "pinned: nobody else changed it, mine wins",
        {"title": "Shop"},
        {"pinned": True},
        {"pinned": True, "title": "Shop"},
        True,
    ),
    ("pinned: concurrent, later edited_at wins (stored)", {"pinned": True}, {"pinned": False}, {"pinned": True}, True),
    (
        "archived: concurrent, later edited_at wins (stored)",
        {"archived": True},
        {"archived": False},
        {"archived": True},
        True,
    ),
    (
        "reminder: concurrent, later edited_at wins (stored)",
        {"reminder": REMINDER},
        {"reminder": None},
        {"reminder": REMINDER},
        True,
    ),
    ("same value on both sides", {"pinned": True}, {"pinned": True}, {"pinned": True}, False),
    (
        "deleted vs concurrent edit: the note stays",
        {"body": "milk\n"},
        {"deleted": True},
        {"deleted": False, "body": "milk\n"},
        True,
    ),
    ("deleted with no concurrent edit", {}, {"deleted": True}, {"deleted": True}, False),
    (
        "edit vs concurrent delete: the note comes back",
        {"deleted": True},
        {"body": "milk\neggs\nham\n"},
        {"deleted": False, "body": "milk\neggs\nham\n"},
        False,
    ),
    ("restore vs concurrent delete", {"deleted": True}, {"deleted": False}, {"deleted": False}, False),
]


@pytest.mark.parametrize(("name", "other", "mine", "expected", "merged"), CASES, ids=[c[0] for c in CASES])
def test_concurrent_merge(
    name: str, other: dict[str, object], mine: dict[str, object], expected: dict[str, object], merged: bool
) -> None:
    out = merge_mutation(stored(2, **other), BASE, edit(**mine), now=NOW)
    assert out.state == msgspec.structs.replace(BASE, **expected)
    assert out.merged is merged


def test_later_edited_at_wins_a_concurrent_flag() -> None:
    out = merge_mutation(stored(2, pinned=True), BASE, edit(at=T[7], pinned=False), now=NOW)
    assert out.state.pinned is False
    assert out.clocks.pinned == FieldClock(3, T[7], "me")


def test_future_edited_at_counts_as_now() -> None:
    # The stored change was made at NOW; a device whose clock runs a day ahead must not win by that alone.
    current = Stored(msgspec.structs.replace(BASE, pinned=True), 2, Clocks(pinned=FieldClock(2, NOW, "other")))
    out = merge_mutation(current, BASE, edit(at=NOW + timedelta(days=1), pinned=False), now=NOW)
    assert out.state.pinned is True
    later = merge_mutation(current, BASE, edit(at=NOW + timedelta(days=1), title="x"), now=NOW + timedelta(seconds=1))
    assert later.clocks.content == FieldClock(3, NOW + timedelta(seconds=1), "me")


def test_own_earlier_change_is_not_concurrent() -> None:
    # This device changed `pinned` at rev 2 but never saw the answer: its next edit, still on base 1, is not racing
    # against itself, so it wins even with an older clock.
    current = Stored(msgspec.structs.replace(BASE, pinned=True), 2, Clocks(pinned=FieldClock(2, T[8], "me")))
    out = merge_mutation(current, BASE, edit(at=T[1], pinned=False), now=NOW)
    assert out.state.pinned is False


def test_server_change_is_concurrent_with_devices() -> None:
    moved = Reminder(at=REMINDER.at + timedelta(days=1), tz="Europe/Paris")
    current = Stored(msgspec.structs.replace(BASE, reminder=moved), 2, Clocks(reminder=FieldClock(2, T[6], "")))
    done = msgspec.structs.replace(REMINDER, done=True)
    assert merge_mutation(current, BASE, edit(at=T[4], reminder=done), now=NOW).state.reminder == moved
    assert merge_mutation(current, BASE, edit(at=T[8], reminder=done), now=NOW).state.reminder == done


def test_unknown_base_keeps_everything() -> None:
    current = stored(2, body="milk\neggs\nham\n", tags=("home",))
    out = merge_mutation(current, None, edit(body="milk\nbread\n", tags=["food"]), now=NOW)
    assert all(w in out.state.body for w in ("milk", "eggs", "ham", "bread"))
    assert set(out.state.tags) == {"home", "food"}
    assert out.merged


def test_seen_is_the_devices_view() -> None:
    out = merge_mutation(stored(2, title="Shop"), BASE, edit(body="milk\n"), now=NOW)
    assert (out.seen.title, out.seen.body) == (BASE.title, "milk\n")


def test_sent_fields_normalises() -> None:
    paris = Reminder(at=datetime(2026, 12, 1, 10, tzinfo=UTC).astimezone(REMINDER_ZONE), tz="Europe/Paris")
    fields = sent_fields(NoteSet(tags=["a", "b", "a"], reminder=paris))
    assert fields["tags"] == ("a", "b")
    assert fields["reminder"].at.utcoffset() == timedelta(0)
    assert "title" not in fields
    assert sent_fields(NoteSet(reminder=None)) == {"reminder": None}


REMINDER_ZONE = __import__("zoneinfo").ZoneInfo("Europe/Paris")
TAGS = st.lists(st.sampled_from("abcdefg"), unique=True, max_size=6).map(tuple)


@given(TAGS, TAGS, TAGS)
def test_tag_properties(base: tuple[str, ...], x: tuple[str, ...], y: tuple[str, ...]) -> None:
    assert merge_tags(base, x, base) == x
    assert merge_tags(base, base, y) == y
    merged = set(merge_tags(base, x, y))
    assert (set(y) - set(base)) <= merged  # what the mutation added is there
    assert not (set(base) - set(y)) & merged  # what it removed is gone
    assert (set(x) - (set(base) - set(y))) <= merged  # the rest of the stored set stays
