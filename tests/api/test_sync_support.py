"""Helpers for the sync API tests (no tests here): mutations, sync calls, a second device for one account."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.conftest import Account

Client = AsyncTestClient[Litestar]


def new_id() -> str:
    return str(uuid.uuid4())


def iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def mutation(
    note_id: str, base_rev: int = 0, at: datetime | None = None, mutation_id: str | None = None, **fields: Any
) -> dict[str, Any]:
    return {
        "id": mutation_id or new_id(),
        "note_id": note_id,
        "base_rev": base_rev,
        "edited_at": iso(at or datetime.now(UTC)),
        "set": fields,
    }


async def sync(
    client: Client, acct: Account, *mutations: dict[str, Any], cursor: int = 0, limit: int = 500, status: int = 200
) -> dict[str, Any]:
    body = {"cursor": cursor, "limit": limit, "mutations": list(mutations)}
    response = await client.post("/api/sync", json=body, headers=acct.headers)
    assert response.status_code == status, response.text
    data: dict[str, Any] = response.json()
    return data


async def push(client: Client, acct: Account, *mutations: dict[str, Any]) -> list[dict[str, Any]]:
    """Sends mutations and returns their results, checking one result per mutation in order."""
    data = await sync(client, acct, *mutations, limit=1)
    assert [r["id"] for r in data["results"]] == [m["id"] for m in mutations]
    return list(data["results"])


async def pull(
    client: Client, acct: Account, cursor: int = 0, limit: int = 500
) -> tuple[dict[str, dict[str, Any]], int]:
    """Every change after `cursor`, page by page: the notes by id (latest wins) and the final cursor."""
    notes: dict[str, dict[str, Any]] = {}
    while True:
        data = await sync(client, acct, cursor=cursor, limit=limit)
        assert not data["reset"]
        seqs = [n["seq"] for n in data["changes"]]
        assert seqs == sorted(seqs) and all(s > cursor for s in seqs)
        notes.update({n["id"]: n for n in data["changes"]})
        cursor = data["cursor"]
        if not data["more"]:
            return notes, cursor


async def second_device(client: Client, acct: Account, name: str = "second device") -> Account:
    body = {"email": acct.email, "password": acct.password, "device_name": name}
    response = await client.post("/api/auth/login", json=body)
    assert response.status_code == 200, response.text
    data = response.json()
    return Account(acct.email, acct.password, data["user_id"], data["device_id"], data["token"])
