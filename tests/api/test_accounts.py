"""Accounts and devices, as the contract's first section says, on SQLite and PostgreSQL."""

from __future__ import annotations

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.app import create_app
from server.config import Settings
from server.models import Device, LoginFailure, Token, User
from tests.conftest import NewAccount

Client = AsyncTestClient[Litestar]
Sessions = async_sessionmaker[AsyncSession]


async def count(sessions: Sessions, model: type) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_register_returns_a_working_token(client: Client) -> None:
    body = {"email": "Ana@Example.org", "password": "long enough", "device_name": "Pixel"}
    response = await client.post("/api/auth/register", json=body)
    assert response.status_code == 201
    data = response.json()
    assert set(data) == {"user_id", "device_id", "token"}
    devices = await client.get("/api/devices", headers={"Authorization": f"Bearer {data['token']}"})
    assert devices.status_code == 200
    [device] = devices.json()
    assert device["id"] == data["device_id"]
    assert device["name"] == "Pixel"
    assert device["current"] is True
    assert device["created_at"].endswith("Z") and device["last_seen_at"].endswith("Z")


async def test_token_is_stored_only_as_a_hash(client: Client, db_sessions: Sessions, new_account: NewAccount) -> None:
    account = await new_account(client)
    async with db_sessions() as session:
        hashes = list(await session.scalars(select(Token.hash)))
        password_hash = await session.scalar(select(User.password_hash))
    assert account.token not in hashes and len(hashes) == 1 and len(hashes[0]) == 64
    assert password_hash is not None and password_hash.startswith("$argon2id$")


async def test_email_taken_ignores_case(client: Client, db_sessions: Sessions, new_account: NewAccount) -> None:
    await new_account(client, email="sam@example.org")
    response = await client.post(
        "/api/auth/register", json={"email": "SAM@example.ORG", "password": "another one", "device_name": "x"}
    )
    assert response.status_code == 409
    assert response.headers["content-type"].startswith("application/problem+json")
    assert await count(db_sessions, User) == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "not-an-email", "password": "long enough", "device_name": "x"}, "email"),
        ({"email": "a@example.org", "password": "short", "device_name": "x"}, "password"),
        ({"email": "a@example.org", "password": 12345678, "device_name": "x"}, "password"),
        ({"password": "long enough", "device_name": "x"}, "email"),
        ({"email": "a@example.org", "password": "long enough", "device_name": "x" * 101}, "device_name"),
    ],
)
async def test_register_rejects_bad_values_with_422(
    client: Client, db_sessions: Sessions, body: dict, field: str
) -> None:
    response = await client.post("/api/auth/register", json=body)
    assert response.status_code == 422
    problem = response.json()
    assert problem["status"] == 422 and problem["type"] and problem["title"]
    assert field in problem["detail"]
    assert await count(db_sessions, User) == 0


async def test_malformed_json_is_400(client: Client, db_sessions: Sessions) -> None:
    response = await client.post(
        "/api/auth/register", content=b'{"email": "a@b.org", ', headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
    assert await count(db_sessions, User) == 0


async def test_login_makes_a_new_device(client: Client, new_account: NewAccount) -> None:
    account = await new_account(client, device_name="phone")
    body = {"email": account.email.upper(), "password": account.password, "device_name": "laptop"}
    response = await client.post("/api/auth/login", json=body)
    assert response.status_code == 200
    data = response.json()
    assert data["user_id"] == account.user_id and data["device_id"] != account.device_id
    devices = (await client.get("/api/devices", headers={"Authorization": f"Bearer {data['token']}"})).json()
    assert {(d["name"], d["current"]) for d in devices} == {("phone", False), ("laptop", True)}


async def test_wrong_email_and_wrong_password_get_the_same_answer(client: Client, new_account: NewAccount) -> None:
    account = await new_account(client)
    wrong_password = await client.post("/api/auth/login", json={"email": account.email, "password": "nope nope"})
    wrong_email = await client.post("/api/auth/login", json={"email": "who@example.org", "password": "nope nope"})
    assert wrong_password.status_code == wrong_email.status_code == 401
    assert wrong_password.json()["detail"] == wrong_email.json()["detail"]


async def test_five_failures_then_429_even_with_the_right_password(
    client: Client, db_sessions: Sessions, new_account: NewAccount
) -> None:
    account = await new_account(client)
    for _ in range(5):
        response = await client.post("/api/auth/login", json={"email": account.email, "password": "wrong pass"})
        assert response.status_code == 401
    limited = await client.post("/api/auth/login", json={"email": account.email, "password": account.password})
    assert limited.status_code == 429
    assert 1 <= int(limited.headers["retry-after"]) <= 15 * 60
    other = await new_account(client)  # another email is not limited
    assert (await client.post("/api/auth/login", json={"email": other.email, "password": other.password})).is_success
    assert await count(db_sessions, LoginFailure) == 5


async def test_logout_ends_the_token(client: Client, db_sessions: Sessions, new_account: NewAccount) -> None:
    account = await new_account(client)
    assert (await client.post("/api/auth/logout", headers=account.headers)).status_code == 204
    response = await client.get("/api/devices", headers=account.headers)
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    assert await count(db_sessions, Token) == 0


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer not-a-token", "Basic dXNlcjpwYXNz"])
async def test_api_needs_a_valid_bearer_token(client: Client, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    response = await client.get("/api/devices", headers=headers)
    assert response.status_code == 401
    assert response.json()["status"] == 401


async def test_revoking_a_device_ends_its_token(client: Client, new_account: NewAccount) -> None:
    phone = await new_account(client)
    login = await client.post("/api/auth/login", json={"email": phone.email, "password": phone.password})
    laptop = {"Authorization": f"Bearer {login.json()['token']}"}
    assert (await client.delete(f"/api/devices/{phone.device_id}", headers=laptop)).status_code == 204
    assert (await client.get("/api/devices", headers=phone.headers)).status_code == 401
    assert [d["id"] for d in (await client.get("/api/devices", headers=laptop)).json()] == [login.json()["device_id"]]


async def test_revoking_a_device_ends_a_token_it_just_used(client: Client, new_account: NewAccount) -> None:
    """On SQLite a used token is remembered in memory: revocation must end it there too, at once."""
    phone = await new_account(client)
    login = await client.post("/api/auth/login", json={"email": phone.email, "password": phone.password})
    laptop = {"Authorization": f"Bearer {login.json()['token']}"}
    for _ in range(2):
        assert (await client.post("/api/sync", json={"cursor": 0}, headers=phone.headers)).status_code == 200
    assert (await client.delete(f"/api/devices/{phone.device_id}", headers=laptop)).status_code == 204
    assert (await client.post("/api/sync", json={"cursor": 0}, headers=phone.headers)).status_code == 401
    assert (await client.post("/api/auth/logout", headers=laptop)).status_code == 204
    assert (await client.post("/api/sync", json={"cursor": 0}, headers=laptop)).status_code == 401


async def test_another_user_can_neither_see_nor_revoke_devices(
    client: Client, db_sessions: Sessions, new_account: NewAccount
) -> None:
    ana = await new_account(client)
    bo = await new_account(client)
    bo_devices = (await client.get("/api/devices", headers=bo.headers)).json()
    assert [d["id"] for d in bo_devices] == [bo.device_id]
    response = await client.delete(f"/api/devices/{ana.device_id}", headers=bo.headers)
    assert response.status_code == 404
    assert (await client.get("/api/devices", headers=ana.headers)).status_code == 200
    assert await count(db_sessions, Device) == 2


async def test_closed_registration_is_403(settings: Settings, db_sessions: Sessions) -> None:
    closed = create_app(msgspec.structs.replace(settings, open_registration=False))
    async with AsyncTestClient(app=closed) as client:
        body = {"email": "new@example.org", "password": "long enough", "device_name": "x"}
        response = await client.post("/api/auth/register", json=body)
        assert response.status_code == 403
        assert await count(db_sessions, User) == 0
