"""The change feed (cursor, limit, more, reset), the events a sync emits, and the server's own note changes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from litestar.events import listener
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import server.app
from server.config import Settings
from server.services.sync import apply_server_change
from tests.api.test_sync_support import Client, iso, mutation, new_id, pull, push, second_device, sync
from tests.conftest import NewAccount


@pytest.mark.parametrize("limit", [1, 2, 3, 4, 1000])
async def test_paging_sees_every_note_once_in_seq_order(client: Client, new_account: NewAccount, limit: int) -> None:
    acct = await new_account(client)
    ids = [new_id() for _ in range(7)]
    await push(client, acct, *[mutation(i, title=str(n)) for n, i in enumerate(ids)])
    await push(client, acct, mutation(ids[0], 1, title="changed"))  # moves to the end of the feed
    seen: list[dict[str, Any]] = []
    cursor = 0
    while True:
        data = await sync(client, acct, cursor=cursor, limit=limit)
        assert len(data["changes"]) <= limit
        seen += data["changes"]
        cursor = data["cursor"]
        if not data["more"]:
            break
    assert [n["seq"] for n in seen] == [2, 3, 4, 5, 6, 7, 8]
    assert [n["id"] for n in seen] == [*ids[1:], ids[0]] and seen[-1]["title"] == "changed"
    assert cursor == 8
    assert await sync(client, acct, cursor=8) == {
        "results": [],
        "changes": [],
        "cursor": 8,
        "more": False,
        "reset": False,
    }


async def test_cursor_ahead_of_the_server_resets(client: Client, new_account: NewAccount) -> None:
    acct = await new_account(client)
    note_id = new_id()
    await push(client, acct, mutation(note_id, title="x"))
    data = await sync(client, acct, mutation(new_id(), title="unsent edit"), cursor=99)
    assert data["reset"] is True and data["results"][0]["status"] == "applied"
    assert [n["seq"] for n in data["changes"]] == [1, 2] and data["cursor"] == 2


async def test_a_device_at_the_head_sees_another_devices_change_now(client: Client, new_account: NewAccount) -> None:
    """A no-op sync may be answered from memory (SQLite): that memory moves before the writer hears back."""
    phone = await new_account(client)
    laptop = await second_device(client, phone, "laptop")
    await push(client, laptop, mutation(new_id(), title="from the laptop"))
    _, head = await pull(client, laptop)
    for _ in range(2):
        assert (await sync(client, laptop, cursor=head))["changes"] == []
    note_id = new_id()
    await push(client, phone, mutation(note_id, title="from the phone"))
    data = await sync(client, laptop, cursor=head)
    assert [n["id"] for n in data["changes"]] == [note_id] and data["cursor"] == head + 1


async def test_default_limit_is_500(client: Client, new_account: NewAccount) -> None:
    acct = await new_account(client)
    await push(client, acct, *[mutation(new_id()) for _ in range(501)][:500])
    await push(client, acct, mutation(new_id()))
    response = await client.post("/api/sync", json={}, headers=acct.headers)
    data = response.json()
    assert len(data["changes"]) == 500 and data["more"] is True and data["cursor"] == 500


@pytest.fixture
def events(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, dict[str, Any]]]]:
    """What the app emits, recorded by listeners added the way features register theirs (server.app.LISTENERS)."""
    seen: list[tuple[str, dict[str, Any]]] = []

    @listener("feed_moved")
    async def feed_moved(user_id: str, cursor: int) -> None:
        seen.append(("feed_moved", {"user_id": user_id, "cursor": cursor}))

    @listener("reminders_changed")
    async def reminders_changed() -> None:
        seen.append(("reminders_changed", {}))

    monkeypatch.setattr(server.app, "LISTENERS", [*server.app.LISTENERS, feed_moved, reminders_changed])
    yield seen


async def test_sync_emits_after_commit(settings: Settings, new_account: NewAccount, events: list[Any]) -> None:
    app = server.app.create_app(settings)
    async with AsyncTestClient(app=app) as client:
        acct = await new_account(client)
        note_id = new_id()
        await push(client, acct, mutation(note_id, title="a"), mutation(new_id(), title="b"))
        at = {"at": iso(datetime.now(UTC) + timedelta(days=1))}
        await push(client, acct, mutation(note_id, 1, reminder=at))
        await push(client, acct, mutation(note_id, 2, title="a"))  # changes nothing: no event
        await sync(client, acct)  # a pull alone: no event
    mine = [e for e in events if e[0] == "reminders_changed" or e[1]["user_id"] == acct.user_id]
    assert mine == [
        ("feed_moved", {"user_id": acct.user_id, "cursor": 2}),
        ("feed_moved", {"user_id": acct.user_id, "cursor": 3}),
        ("reminders_changed", {}),
    ]


async def test_server_change_moves_a_reminder_through_the_feed(
    client: Client, new_account: NewAccount, db_sessions: async_sessionmaker[AsyncSession]
) -> None:
    acct = await new_account(client)
    note_id = new_id()
    at = datetime(2030, 1, 1, 8, tzinfo=UTC)
    reminder = {"at": iso(at), "repeat": "daily", "tz": "Europe/Paris"}
    await push(client, acct, mutation(note_id, title="Walk", reminder=reminder))
    following = at + timedelta(days=1)
    assert await apply_server_change(db_sessions, acct.user_id, note_id, expected_at=following) is None
    emitted: list[tuple[str, dict[str, Any]]] = []
    moved = await apply_server_change(
        db_sessions,
        acct.user_id,
        note_id,
        expected_at=at,
        reminder_at=following,
        emit=lambda event, **kw: emitted.append((event, kw)),
    )
    assert moved is not None and (moved.rev, moved.seq) == (2, 2)
    assert emitted == [("feed_moved", {"user_id": acct.user_id, "cursor": 2}), ("reminders_changed", {})]
    notes, cursor = await pull(client, acct, cursor=1)
    assert cursor == 2 and notes[note_id]["reminder"] == {**reminder, "at": iso(following), "done": False}
    # Inside the caller's transaction, with plain fields; and a device still on rev 1 merges against it.
    async with db_sessions() as session, session.begin():
        done = await apply_server_change(session, acct.user_id, note_id, {"title": "Walk the dog"})
    assert done is not None and done.title == "Walk the dog" and done.rev == 3
    [result] = await push(client, acct, mutation(note_id, 1, body="around the park"))
    assert result["note"]["title"] == "Walk the dog" and result["note"]["reminder"]["at"] == iso(following)


async def test_server_change_of_a_missing_note(
    db_sessions: async_sessionmaker[AsyncSession], client: Client, new_account: NewAccount
) -> None:
    acct = await new_account(client)
    assert await apply_server_change(db_sessions, acct.user_id, new_id(), {"pinned": True}) is None
