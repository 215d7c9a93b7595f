"""Which passwords and emails registration takes, and how emails are compared (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.models import User
from tests.conftest import NewAccount

Client = AsyncTestClient[Litestar]
Sessions = async_sessionmaker[AsyncSession]
LONG_FOLDED = "\u0130" * 240 + "@example.org"
"""252 characters as typed, 492 once case-folded (each dotted capital I becomes i and a combining dot)."""


async def users(sessions: Sessions) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(User)) or 0)


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("12345678", "run"),
        ("        ", "spaces"),
        ("aaaaaaaaaa", "different characters"),
        ("abababab", "different characters"),
        ("password1", "most common"),
        ("PassWord1", "most common"),
        ("iloveyou", "most common"),
        ("qwertyuiop", "most common"),
        ("zyxwvuts", "run"),
        ("sam.lee@example.org", "email"),
    ],
)
async def test_weak_passwords_are_refused_with_the_reason(
    client: Client, db_sessions: Sessions, password: str, reason: str
) -> None:
    body = {"email": "sam.lee@example.org", "password": password, "device_name": "x"}
    response = await client.post("/api/auth/register", json=body)
    assert response.status_code == 422
    problem = response.json()
    assert response.headers["content-type"].startswith("application/problem+json")
    [error] = problem["errors"]
    assert error["field"] == "password" and reason in error["message"]
    assert problem["detail"] == f"password: {error['message']}"
    assert await users(db_sessions) == 0


@pytest.mark.parametrize("password", ["correct horse battery", "Tr0ub4dor&3", "8 chars!", "mot de passe très long"])
async def test_ordinary_passwords_are_taken(client: Client, password: str) -> None:
    body = {"email": "sam@example.org", "password": password, "device_name": "x"}
    assert (await client.post("/api/auth/register", json=body)).status_code == 201


async def test_emails_are_compared_after_width_and_case_folding(client: Client, new_account: NewAccount) -> None:
    account = await new_account(client, email="alice@example.org")
    for twin in ("\uff41lice@example.org", "ALICE@EXAMPLE.ORG", "\uff21\uff2c\uff29\uff23\uff25@example.org"):
        taken = await client.post("/api/auth/register", json={"email": twin, "password": "another one"})
        assert taken.status_code == 409, twin
        login = await client.post("/api/auth/login", json={"email": twin, "password": account.password})
        assert login.status_code == 200 and login.json()["user_id"] == account.user_id, twin


async def test_case_folding_goes_beyond_lower_case(client: Client, new_account: NewAccount) -> None:
    account = await new_account(client, email="Stra\u00dfe@example.org")
    login = await client.post("/api/auth/login", json={"email": "STRASSE@example.org", "password": account.password})
    assert login.status_code == 200 and login.json()["user_id"] == account.user_id


async def test_an_email_longer_than_its_key_column_once_folded_is_422_not_500(
    client: Client, db_sessions: Sessions
) -> None:
    response = await client.post("/api/auth/register", json={"email": LONG_FOLDED, "password": "long enough"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "email"
    assert "254" in response.json()["detail"]
    login = await client.post("/api/auth/login", json={"email": LONG_FOLDED, "password": "long enough"})
    assert login.status_code == 401
    assert await users(db_sessions) == 0


async def test_an_email_that_folds_into_no_address_is_422(client: Client, db_sessions: Sessions) -> None:
    # U+FE6B (small commercial at) folds to "@": two at signs once normalised.
    body = {"email": "a\ufe6bb@example.org", "password": "long enough"}
    response = await client.post("/api/auth/register", json=body)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "email"
    assert await users(db_sessions) == 0
