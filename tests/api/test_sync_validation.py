"""Bad sync requests: problem+json with the right status, and nothing applied."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.test_sync_support import Client, mutation, new_id, pull, sync
from tests.conftest import NewAccount

PROBLEM = "application/problem+json"


def bad(**changes: Any) -> dict[str, Any]:
    return mutation(new_id(), **changes)


INVALID = [
    ("title over 500", bad(title="x" * 501), "title"),
    ("body over 100,000", bad(body="x" * 100_001), "body"),
    ("51 tags", bad(tags=[str(i) for i in range(51)]), "tags"),
    ("tag over 64", bad(tags=["x" * 65]), "tags"),
    ("wrong type", bad(pinned="yes"), "pinned"),
    ("bad repeat", bad(reminder={"at": "2030-01-01T09:00:00Z", "repeat": "hourly"}), "repeat"),
    ("unknown zone", bad(reminder={"at": "2030-01-01T09:00:00Z", "tz": "Mars/Base"}), "tz"),
    ("naive time", {**bad(), "edited_at": "2030-01-01T09:00:00"}, "edited_at"),
    ("missing base_rev", {k: v for k, v in bad().items() if k != "base_rev"}, "base_rev"),
    ("negative base_rev", {**bad(), "base_rev": -1}, "base_rev"),
    ("note id not a uuid", {**bad(), "note_id": "../etc"}, "note_id"),
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


async def test_malformed_json_is_400(client: Client, new_account: NewAccount) -> None:
    acct = await new_account(client)
    headers = {**acct.headers, "content-type": "application/json"}
    response = await client.post("/api/sync", content=b'{"mutations": [', headers=headers)
    assert response.status_code == 400 and response.headers["content-type"].startswith(PROBLEM)


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
