"""Sign-in under abuse, on SQLite and PostgreSQL, with requests that really run at the same time: a flood of
registrations and failed logins answers no 500 and leaves another user's sync working; concurrent wrong passwords
cannot get past the failure limit."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from datetime import UTC, datetime

import httpx
import msgspec
from litestar import Litestar
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.app import create_app
from server.config import Settings
from server.models import LoginFailure
from tests.api.asgi_clients import running

Sessions = async_sessionmaker[AsyncSession]

REGISTRATIONS = 60
FAILED_LOGINS = 30
PASSWORD = "correct horse battery"


async def register(client: httpx.AsyncClient, email: str) -> dict[str, str]:
    response = await client.post("/api/auth/register", json={"email": email, "password": PASSWORD})
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


def edit(title: str) -> dict[str, object]:
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    mutation = {"id": str(uuid.uuid4()), "note_id": str(uuid.uuid4()), "base_rev": 0, "edited_at": now,
                "set": {"title": title}}
    return {"cursor": 0, "mutations": [mutation]}


def check_problems(answers: list[httpx.Response]) -> Counter[int]:
    counts = Counter(a.status_code for a in answers)
    assert counts[500] == 0, counts
    for answer in answers:
        if not answer.is_success:
            assert answer.headers["content-type"].startswith("application/problem+json"), answer.text
        if answer.status_code in (429, 503):
            assert int(answer.headers["retry-after"]) >= 1
    return counts


async def test_a_flood_of_sign_ins_answers_no_500_and_another_user_still_syncs(settings: Settings) -> None:
    # A short queue keeps the test quick; past it, requests are turned away at once (503), which is checked too.
    app = create_app(msgspec.structs.replace(settings, password_hash_workers=1, password_hash_queue=4))
    async with running(app) as at:
        client = at("198.51.100.7")
        bystander = await register(client, "bystander@example.org")
        await register(client, "victim@example.org")
        registrations = [
            client.post("/api/auth/register", json={"email": f"flood-{i}@example.org", "password": "flood password"})
            for i in range(REGISTRATIONS)
        ]
        logins = [
            at(f"203.0.113.{i % 3}").post("/api/auth/login", json={
                "email": "victim@example.org" if i % 2 else f"nobody-{i}@example.org", "password": "wrong password"})
            for i in range(FAILED_LOGINS)
        ]

        async def sync_meanwhile() -> tuple[int, float]:
            await asyncio.sleep(0.05)  # the flood's requests are under way
            started = time.perf_counter()
            response = await client.post("/api/sync", json=edit("during the flood"), headers=bystander)
            return response.status_code, time.perf_counter() - started

        (status, took), answers = await asyncio.gather(sync_meanwhile(), asyncio.gather(*registrations, *logins))

    counts = check_problems(answers)
    assert set(counts) <= {201, 401, 429, 503}, counts
    assert counts[201] + counts[401] >= 1 and counts[503] >= 1, counts
    assert status == 200
    assert took < 5, f"the bystander's sync waited {took:.1f} s behind password hashing"


async def test_concurrent_wrong_passwords_stop_at_the_limit(app: Litestar, db_sessions: Sessions) -> None:
    async with running(app) as at:
        attacker = at("203.0.113.9")
        await register(attacker, "target@example.org")
        wrong = {"email": "target@example.org", "password": "wrong password"}
        answers = await asyncio.gather(*(attacker.post("/api/auth/login", json=wrong) for _ in range(20)))
    assert check_problems(answers) == {401: 5, 429: 15}
    async with db_sessions() as session:
        assert await session.scalar(select(func.count()).select_from(LoginFailure)) == 5
