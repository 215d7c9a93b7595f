"""Failed sign-ins are limited per (email, client address), under a higher per-email ceiling, so an attacker at one
address cannot lock the owner out; and every path costs one password verification (SQLite and PostgreSQL)."""

from __future__ import annotations

import httpx
import msgspec
import pytest
from litestar import Litestar
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.app import create_app
from server.config import Settings
from server.models import LoginFailure
from server.services.passwords import verifications
from tests.api.asgi_clients import running

Sessions = async_sessionmaker[AsyncSession]
PASSWORD = "correct horse battery"
OWNER = "owner@example.org"


async def sign_in(client: httpx.AsyncClient, password: str, email: str = OWNER) -> httpx.Response:
    return await client.post("/api/auth/login", json={"email": email, "password": password, "device_name": "x"})


async def register(client: httpx.AsyncClient, email: str = OWNER) -> None:
    response = await client.post("/api/auth/register", json={"email": email, "password": PASSWORD})
    assert response.status_code == 201, response.text


async def test_the_owner_signs_in_from_another_address_after_an_attacker_is_limited(
    app: Litestar, db_sessions: Sessions
) -> None:
    async with running(app) as at:
        attacker, owner = at("203.0.113.66"), at("198.51.100.10")
        await register(owner)
        for _ in range(5):
            assert (await sign_in(attacker, "guess guess")).status_code == 401
        limited = await sign_in(attacker, PASSWORD)  # even the right password, from the attacker's address
        assert limited.status_code == 429
        assert 1 <= int(limited.headers["retry-after"]) <= 15 * 60
        assert (await sign_in(owner, PASSWORD)).status_code == 200
        assert (await sign_in(attacker, PASSWORD)).status_code == 429, "the owner's success does not free the attacker"
    async with db_sessions() as session:
        rows = (await session.execute(select(LoginFailure.email_key, LoginFailure.client_address))).all()
    assert sorted(rows) == [(OWNER, "203.0.113.66")] * 5


async def test_a_success_clears_only_its_own_address(app: Litestar) -> None:
    async with running(app) as at:
        home, other = at("198.51.100.10"), at("203.0.113.66")
        await register(home)
        for client in (home, home, home, home, other, other, other, other):
            assert (await sign_in(client, "typo typo")).status_code == 401
        assert (await sign_in(home, PASSWORD)).status_code == 200
        for _ in range(5):  # home's count starts again
            assert (await sign_in(home, "typo typo")).status_code == 401
        assert (await sign_in(other, "typo typo")).status_code == 401  # its fifth
        assert (await sign_in(other, PASSWORD)).status_code == 429


async def test_many_addresses_together_hit_the_per_email_ceiling(settings: Settings) -> None:
    tight = msgspec.structs.replace(settings, login_failures_per_address=2, login_failures_per_email=6)
    async with running(create_app(tight)) as at:
        await register(at("198.51.100.10"))
        for n in range(3):
            for _ in range(2):
                assert (await sign_in(at(f"203.0.113.{n}"), "guess guess")).status_code == 401
        refused = await sign_in(at("198.51.100.10"), PASSWORD)
        assert refused.status_code == 429
        assert 15 * 60 < int(refused.headers["retry-after"]) <= 60 * 60
        assert (await sign_in(at("203.0.113.9"), "guess guess")).status_code == 429


async def test_an_ipv6_network_counts_as_one_address(app: Litestar) -> None:
    async with running(app) as at:
        await register(at("198.51.100.10"))
        for n in range(5):
            assert (await sign_in(at(f"2001:db8:5:7::{n + 1}"), "guess guess")).status_code == 401
        assert (await sign_in(at("2001:db8:5:7:ffff::1"), PASSWORD)).status_code == 429
        assert (await sign_in(at("2001:db8:5:8::1"), PASSWORD)).status_code == 200


@pytest.mark.parametrize(
    ("email", "password", "status", "kind"),
    [
        (OWNER, "wrong password", 401, "real"),
        ("nobody@example.org", "wrong password", 401, "dummy"),
        ("not an email", "wrong password", 401, "dummy"),
        ("\u0130" * 240 + "@example.org", "wrong password", 401, "dummy"),  # longer than any key once folded
        ("\uff2fWNER@example.org", PASSWORD, 200, "real"),
    ],
)
async def test_every_sign_in_verifies_one_hash(
    app: Litestar, email: str, password: str, status: int, kind: str
) -> None:
    async with running(app) as at:
        await register(at("198.51.100.10"))
        before = (verifications.real, verifications.dummy)
        assert (await sign_in(at("203.0.113.5"), password, email)).status_code == status
        after = (verifications.real, verifications.dummy)
    assert (after[0] - before[0], after[1] - before[1]) == ((1, 0) if kind == "real" else (0, 1))


async def test_a_refused_sign_in_still_verifies_one_hash(app: Litestar) -> None:
    async with running(app) as at:
        attacker = at("203.0.113.5")
        await register(attacker)
        for email in (OWNER, "nobody@example.org"):
            for _ in range(5):
                await sign_in(attacker, "wrong password", email)
            before = verifications.real + verifications.dummy
            assert (await sign_in(attacker, "wrong password", email)).status_code == 429
            assert verifications.real + verifications.dummy == before + 1
