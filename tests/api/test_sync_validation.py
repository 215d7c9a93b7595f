"""Bad sync requests: problem+json with the right status (never a 500), and nothing applied.

A request that does not decode is refused whole; values over a note's limits refuse only their own mutation
(test_sync_limits.py)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest

from tests.api.test_sync_support import Client, mutation, new_id, pull, push, sync
from tests.conftest import NewAccount

PROBLEM = "application/problem+json"


def bad(**changes: Any) -> dict[str, Any]:
    return mutation(new_id(), **changes)


INVALID = [
    ("wrong type", bad(pinned="yes"), "pinned"),
    ("bad repeat", bad(reminder={"at": "2030-01-01T09:00:00Z", "repeat": "hourly"}), "repeat"),
    ("unknown zone", bad(reminder={"at": "2030-01-01T09:00:00Z", "tz": "Mars/Base"}), "tz"),
    ("naive time", {**bad(), "edited_at": "2030-01-01T09:00:00"}, "edited_at"),
    ("missing base_rev", {k: v for k, v in bad().items() if k != "base_rev"}, "base_rev"),
    ("negative base_rev", {**bad(), "base_rev": -1}, "base_rev"),
    ("note id not a uuid", {**bad(), "note_id": "../etc"}, "note_id"),
    ("tags not a list", bad(tags="a,b"), "tags"),
    ("a tag not a string", bad(tags=[1]), "tags"),
    # In UTC these fall in the year 0 or 10000, which no datetime (or database) holds.
    ("edited_at before year 1 in UTC", {**bad(), "edited_at": "0001-01-01T00:00:00+14:00"}, "edited_at"),
    ("edited_at after 9999 in UTC", {**bad(), "edited_at": "9999-12-31T23:59:59-14:00"}, "edited_at"),
    ("reminder before year 1 in UTC", bad(reminder={"at": "0001-01-01T00:00:00+14:00"}), "reminder.at"),
    ("reminder after 9999 in UTC", bad(reminder={"at": "9999-12-31T23:59:59-14:00"}), "reminder.at"),
    # Representable in UTC, but not in the zone its repeats are counted in.
    ("reminder before year 1 in its zone", bad(reminder={"at": "0001-01-01T05:00:00Z", "tz": "Etc/GMT+12"}), "at"),
]


@pytest.mark.parametrize(("name", "invalid", "field"), INVALID, ids=[i[0] for i in INVALID])
async def test_invalid_mutation_is_422_and_applies_nothing(
    client: Client, new_account: NewAccount, name: str, invalid: dict[str, Any], field: str
) -> None:
    acct = await new_account(client)
    valid = mutation(new_id(), title="would be fine alone")
    body = {"cursor": 0, "mutations": [valid, invalid]}
    response = await client.post("/api/sync", json=body, headers=acct.headers)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    problem = response.json()
    assert problem["status"] == 422 and field in problem["detail"]
    assert await pull(client, acct) == ({}, 0)


@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("limit over 1000", {"limit": 1001}),
        ("limit 0", {"limit": 0}),
        ("negative cursor", {"cursor": -1}),
        ("mutations not a list", {"mutations": 1}),
    ],
)
async def test_invalid_request_fields(client: Client, new_account: NewAccount, name: str, body: dict[str, Any]) -> None:
    acct = await new_account(client)
    response = await client.post("/api/sync", json=body, headers=acct.headers)
    assert response.status_code == 422 and response.headers["content-type"].startswith(PROBLEM)


UNREADABLE = [
    ("malformed", b'{"mutations": ['),
    ("nested 100,000 deep", b'{"mutations": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"),
    ("nested 1,000 deep in a mutation", b'{"mutations": [{"id": ' + b"[" * 1000 + b"]" * 1000 + b"}]}"),
    ("nested 1,000 deep in an unknown field", b'{"x": ' + b"[" * 1000 + b"]" * 1000 + b"}"),
    ("invalid UTF-8 in a string", b'{"mutations": [{"id": "\xff\xfe"}]}'),
    ("invalid UTF-8 in a title", b'{"mutations": [%s]}' % json.dumps(bad(title="@@")).encode().replace(b"@@", b"\xc3")),
    ("a lone surrogate", b'{"mutations": [%s]}' % json.dumps(bad(title="@@")).encode().replace(b"@@", b"\\ud800")),
]


@pytest.mark.parametrize(("name", "content"), UNREADABLE, ids=[u[0] for u in UNREADABLE])
async def test_a_body_that_cannot_be_read_is_400(
    client: Client, new_account: NewAccount, name: str, content: bytes
) -> None:
    acct = await new_account(client)
    headers = {**acct.headers, "content-type": "application/json"}
    response = await client.post("/api/sync", content=content, headers=headers)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith(PROBLEM) and response.json()["detail"]
    assert await pull(client, acct) == ({}, 0)


@pytest.mark.parametrize("content_type", ["text/plain", "application/JSON", "application/json; charset=utf-8"])
async def test_nul_is_refused_whatever_the_content_type(
    client: Client, new_account: NewAccount, content_type: str
) -> None:
    acct = await new_account(client)
    headers = {**acct.headers, "content-type": content_type}
    refused, kept = mutation(new_id(), title="a\x00b"), mutation(new_id(), title="kept")
    response = await client.post("/api/sync", content=json.dumps({"mutations": [refused, kept]}), headers=headers)
    assert response.status_code == 200, response.text
    assert [r["status"] for r in response.json()["results"]] == ["rejected", "applied"]
    notes, _ = await pull(client, acct)
    assert [n["title"] for n in notes.values()] == ["kept"]

    email = f"nul-{new_id()[:8]}@example.org"
    body = json.dumps({"email": email, "password": "long enough", "device_name": "a\x00"})
    response = await client.post("/api/auth/register", content=body, headers={"content-type": content_type})
    assert response.status_code == 422 and response.headers["content-type"].startswith(PROBLEM)
    login = {"email": email, "password": "long enough", "device_name": "x"}
    assert (await client.post("/api/auth/login", json=login)).status_code == 401


@pytest.mark.parametrize(
    ("at", "tz"),
    [("0001-01-01T00:00:00Z", "UTC"), ("0001-01-02T00:00:00+14:00", "Etc/GMT-14"),
     ("9999-12-31T23:59:59Z", "UTC"), ("9999-12-30T23:00:00-12:00", "Etc/GMT+12")],
)
async def test_reminders_at_the_ends_of_the_calendar_are_kept(
    client: Client, new_account: NewAccount, at: str, tz: str
) -> None:
    acct = await new_account(client)
    note = new_id()
    (result,) = await push(client, acct, mutation(note, reminder={"at": at, "tz": tz, "repeat": "none"}))
    assert result["status"] == "applied"
    notes, _ = await pull(client, acct)
    stored = datetime.fromisoformat(notes[note]["reminder"]["at"])
    assert stored == datetime.fromisoformat(at) and notes[note]["reminder"]["tz"] == tz


async def test_too_many_mutations_is_413(client: Client, new_account: NewAccount) -> None:
    acct = await new_account(client)
    response = await client.post(
        "/api/sync", json={"mutations": [mutation(new_id()) for _ in range(501)]}, headers=acct.headers
    )
    assert response.status_code == 413 and response.headers["content-type"].startswith(PROBLEM)
    assert await pull(client, acct) == ({}, 0)
    data = await sync(client, acct, *[mutation(new_id()) for _ in range(500)])
    assert {r["status"] for r in data["results"]} == {"applied"}


async def test_body_over_one_mib_is_413(client: Client, new_account: NewAccount) -> None:
    acct = await new_account(client)
    mutations = [mutation(new_id(), body="x" * 90_000) for _ in range(12)]
    response = await client.post("/api/sync", json={"mutations": mutations}, headers=acct.headers)
    assert response.status_code == 413
    assert await pull(client, acct) == ({}, 0)


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer not-a-token"}])
async def test_needs_a_token(client: Client, headers: dict[str, str]) -> None:
    response = await client.post("/api/sync", json={}, headers=headers)
    assert response.status_code == 401 and response.headers["content-type"].startswith(PROBLEM)
