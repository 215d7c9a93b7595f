"""Reminders set through /api/sync arrive once, on time, at every subscription, checked by the local push sink."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.app import create_app
from server.config import Settings
from server.models.push import ReminderOccurrence
from sync.reminders import next_occurrence
from tests.conftest import Account, NewAccount
from tests.pushsink import PushSink, another_device

Client = AsyncTestClient[Litestar]
ON_TIME = 2.0


def iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def soon(seconds: float = 1.0) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


@pytest.fixture
def sink() -> Iterator[PushSink]:
    with PushSink() as sink:
        yield sink


async def prepare(client: Client, sink: PushSink, acct: Account, subscriptions: int = 1) -> list[dict[str, Any]]:
    sink.vapid_public_key = (await client.get("/api/push/key")).json()["public_key"]
    subs = []
    for n in range(subscriptions):
        sub = sink.subscription()
        # One subscription per device: the second and later come from further devices of the account.
        headers = await another_device(client, acct.email, acct.password) if n else acct.headers
        response = await client.post("/api/push/subscriptions", json=sub, headers=headers)
        assert response.status_code == 201, response.text
        subs.append(sub)
    return subs


async def sync(client: Client, acct: Account, note_id: str, base_rev: int = 0, **fields: Any) -> dict[str, Any]:
    mutation = {"id": str(uuid.uuid4()), "note_id": note_id, "base_rev": base_rev, "edited_at": iso(datetime.now(UTC))}
    response = await client.post(
        "/api/sync", json={"cursor": 0, "mutations": [{**mutation, "set": fields}]}, headers=acct.headers
    )
    assert response.status_code == 200, response.text
    [result] = response.json()["results"]
    assert result["status"] in ("applied", "merged"), result
    return dict(result["note"])


def reminder(at: datetime, repeat: str = "none", done: bool = False, tz: str = "UTC") -> dict[str, Any]:
    return {"at": iso(at), "repeat": repeat, "tz": tz, "done": done}


async def records(client: Client, acct: Account, note_id: str, count: int) -> list[dict[str, Any]]:
    """The note's delivery record once it has `count` entries (written after the push service answered)."""
    deadline = time.monotonic() + 15
    while True:
        response = await client.get(f"/api/notes/{note_id}/deliveries", headers=acct.headers)
        assert response.status_code == 200, response.text
        found = response.json()
        if len(found) >= count or time.monotonic() > deadline:
            assert len(found) == count, found
            return list(found)
        await asyncio.sleep(0.05)


async def test_reminder_set_through_sync_arrives_once_on_time_everywhere(
    client: Client, new_account: NewAccount, sink: PushSink, db_sessions: async_sessionmaker[AsyncSession]
) -> None:
    acct = await new_account(client)
    subs = await prepare(client, sink, acct, subscriptions=2)
    note_id = str(uuid.uuid4())
    at = soon(1.0)
    await sync(client, acct, note_id, title="Call Ana", body="About the offer " * 30, reminder=reminder(at))

    messages = sink.wait_for(2, timeout=at.timestamp() + ON_TIME + 3 - time.time())
    assert sorted(m.subscription_id for m in messages) == sorted(s["endpoint"].rsplit("/", 1)[1] for s in subs)
    for message in messages:
        assert message.errors == []
        assert 0 <= message.at - at.timestamp() <= ON_TIME, "sent early or late"
        payload = message.payload
        assert {k: payload[k] for k in ("type", "note_id", "title")} == {
            "type": "reminder",
            "note_id": note_id,
            "title": "Call Ana",
        }
        assert payload["body"] == ("About the offer " * 30)[:200]
        assert datetime.fromisoformat(payload["at"].replace("Z", "+00:00")) == at.replace(
            microsecond=at.microsecond // 1000 * 1000
        )
        assert payload["at"].endswith("Z")
        assert message.headers["topic"] == note_id.replace("-", "")
        assert int(message.headers["ttl"]) >= 3600
        assert payload["web_push"] == 8030 and payload["notification"]["navigate"].endswith(f"/#note/{note_id}")

    found = await records(client, acct, note_id, 2)
    assert {(r["status"], r["http_status"], r["attempts"]) for r in found} == {("delivered", 201, 1)}
    async with db_sessions() as session:
        occurrence = (await session.scalars(select(ReminderOccurrence))).one()
    assert occurrence.finished_at is not None  # the claim that keeps it from going out again
    assert len(sink.messages()) == 2
    note = (await client.post("/api/sync", json={"cursor": 0}, headers=acct.headers)).json()["changes"][0]
    assert note["reminder"]["done"] is False  # done is the user's to set


async def test_a_500_is_retried_and_delivered(client: Client, new_account: NewAccount, sink: PushSink) -> None:
    acct = await new_account(client)
    [sub] = await prepare(client, sink, acct)
    sink.answer(sub, 500)
    note_id = str(uuid.uuid4())
    await sync(client, acct, note_id, title="Retry me", reminder=reminder(soon(0.5)))
    first, second = sink.wait_for(2, timeout=10)
    assert (first.status, second.status) == (500, 201)
    assert first.payload == second.payload
    [record] = await records(client, acct, note_id, 1)
    assert (record["status"], record["http_status"], record["attempts"]) == ("delivered", 201, 2)


async def test_a_410_removes_the_subscription(client: Client, new_account: NewAccount, sink: PushSink) -> None:
    acct = await new_account(client)
    [gone, _kept] = await prepare(client, sink, acct, subscriptions=2)
    sink.answer(gone, 410)
    note_id = str(uuid.uuid4())
    await sync(client, acct, note_id, title="Gone", reminder=reminder(soon(0.5)))
    found = await records(client, acct, note_id, 2)
    assert sorted((r["status"], r["http_status"]) for r in found) == [("delivered", 201), ("gone", 410)]
    assert (await client.post("/api/push/test", headers=acct.headers)).json() == {"sent": 1}
    assert len(sink.messages(gone)) == 1


async def test_done_or_moved_reminders_are_not_sent(client: Client, new_account: NewAccount, sink: PushSink) -> None:
    """Three reminders due at the same moment; two are changed before it. Only the third goes out."""
    acct = await new_account(client)
    await prepare(client, sink, acct)
    at = soon(1.5)
    done_id, moved_id, sent_id = (str(uuid.uuid4()) for _ in range(3))
    done = await sync(client, acct, done_id, title="done", reminder=reminder(at))
    moved = await sync(client, acct, moved_id, title="moved", reminder=reminder(at))
    await sync(client, acct, sent_id, title="sentinel", reminder=reminder(at))
    await sync(client, acct, done_id, base_rev=done["rev"], reminder=reminder(at, done=True))
    await sync(client, acct, moved_id, base_rev=moved["rev"], reminder=reminder(at + timedelta(days=1)))
    await records(client, acct, sent_id, 1)
    assert [m.payload["note_id"] for m in sink.messages()] == [sent_id]
    assert await records(client, acct, done_id, 0) == []
    assert await records(client, acct, moved_id, 0) == []


async def test_repeating_reminder_moves_on_in_the_feed(client: Client, new_account: NewAccount, sink: PushSink) -> None:
    acct = await new_account(client)
    await prepare(client, sink, acct)
    note_id = str(uuid.uuid4())
    at = soon(0.5)
    created = await sync(
        client, acct, note_id, title="Standup", reminder=reminder(at, repeat="daily", tz="Europe/Paris")
    )
    sink.wait_for(1, timeout=10)
    deadline = time.monotonic() + 10
    while True:
        feed = (await client.post("/api/sync", json={"cursor": created["seq"]}, headers=acct.headers)).json()
        if feed["changes"] or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)
    [note] = feed["changes"]
    moved = datetime.fromisoformat(note["reminder"]["at"].replace("Z", "+00:00"))
    assert moved == next_occurrence(at, "daily", "Europe/Paris")
    assert note["reminder"]["repeat"] == "daily" and note["reminder"]["done"] is False
    assert note["seq"] > created["seq"]
    assert len(sink.messages()) == 1


async def test_reminders_due_while_the_server_was_down_go_out_at_start(
    settings: Settings, new_account: NewAccount, sink: PushSink
) -> None:
    note_id = str(uuid.uuid4())
    async with AsyncTestClient(app=create_app(settings)) as client:
        acct = await new_account(client)
        await prepare(client, sink, acct)
        # Due only after this server has stopped: set last, with room for a slow shutdown on a busy machine.
        at = soon(3.0)
        await sync(client, acct, note_id, title="While down", reminder=reminder(at))
    # The server is down while the reminder comes due: let its time pass.
    await asyncio.sleep(max(0.0, at.timestamp() - time.time()) + 0.5)
    assert sink.messages() == []
    started = time.time()
    async with AsyncTestClient(app=create_app(settings)) as client:
        [message] = sink.wait_for(1, timeout=10)
        assert message.payload["note_id"] == note_id
        assert message.at - started <= ON_TIME
        await records(client, acct, note_id, 1)


async def test_deliveries_are_private_to_the_owner(client: Client, new_account: NewAccount, sink: PushSink) -> None:
    ana, ben = await new_account(client), await new_account(client)
    await prepare(client, sink, ana)
    note_id = str(uuid.uuid4())
    await sync(client, ana, note_id, title="Mine", reminder=reminder(soon(0.3)))
    await records(client, ana, note_id, 1)
    response = await client.get(f"/api/notes/{note_id}/deliveries", headers=ben.headers)
    assert response.status_code == 404
    assert (await client.get("/api/push/deliveries", headers=ben.headers)).json() == []
