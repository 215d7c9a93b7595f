"""The password rule, email keys, client address keys, the sign-in settings, and the hashing pool's bound."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

import pytest

from server.config import SettingsError, load_settings
from server.errors import ServiceUnavailable
from server.services.accounts import email_key
from server.services.login_limits import address_key
from server.services.passwords import COMMON, HashingPool, password_problem


@pytest.mark.parametrize(
    "password",
    ["12345678", "abcdefgh", "98765432", "        ", "\t \t \t \t", "aaaaaaaa", "abababab", "11112222",
     "password", "PASSWORD", "Password1", "pass word", "trustno1", "qwertyuiop",
     "\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18"],  # full-width 12345678
)
def test_refused(password: str) -> None:
    assert password_problem(password) is not None


@pytest.mark.parametrize(
    "password",
    ["correct horse battery", "long enough", "abcdefgz", "8 chars!", "Tr0ub4dor&3", "🙂🙃😉🙂🙃😉🙂🙃",
     "пароль-надёжный"],
)
def test_taken(password: str) -> None:
    assert password_problem(password) is None


def test_the_email_itself_is_refused() -> None:
    assert password_problem("sam.lee@example.org", "sam.lee@example.org") is not None
    assert password_problem("Sam.Lee!", "sam.lee!@example.org") is not None
    assert password_problem("sam.lee.2026", "sam.lee@example.org") is None


def test_the_common_list_is_the_large_one() -> None:
    assert len(COMMON) > 10_000 and "12345678" in COMMON and "password1" in COMMON


@pytest.mark.parametrize(
    ("typed", "key"),
    [
        ("  Alice@Example.ORG ", "alice@example.org"),
        ("\uff41lice@example.org", "alice@example.org"),  # full width
        ("Stra\u00dfe@example.org", "strasse@example.org"),  # folding, not just lower case
        ("\u212bngstr\u00f6m@example.org", "\u00e5ngstr\u00f6m@example.org"),  # the angstrom sign is a letter A ring
        ("e\u0301cole@example.org", "\u00e9cole@example.org"),  # composed
    ],
)
def test_email_keys(typed: str, key: str) -> None:
    assert email_key(typed) == key
    assert email_key(key) == key


@pytest.mark.parametrize(
    ("host", "key"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("2001:db8:1:2::9", "2001:db8:1:2::/64"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
        ("testclient", "testclient"),
        (None, "unknown"),
        ("x" * 100, "x" * 64),
    ],
)
def test_address_keys(host: str | None, key: str) -> None:
    assert address_key(host) == key


def test_sign_in_settings() -> None:
    settings = load_settings({"KEEPTABS_TRUSTED_PROXIES": " 10.0.0.0/8, ::1 ,", "KEEPTABS_PASSWORD_HASH_WORKERS": "3"})
    assert settings.trusted_proxy_list == ["10.0.0.0/8", "::1"]
    assert settings.hash_workers == 3
    assert load_settings({}).trusted_proxy_list == ["127.0.0.1", "::1"]
    assert load_settings({"KEEPTABS_TRUSTED_PROXIES": ""}).trusted_proxy_list == []
    assert load_settings({}).hash_workers >= 1
    with pytest.raises(SettingsError, match=r"KEEPTABS_TRUSTED_PROXIES: 'proxy\.internal' is not an IP"):
        load_settings({"KEEPTABS_TRUSTED_PROXIES": "10.0.0.1,proxy.internal"})
    with pytest.raises(SettingsError, match="KEEPTABS_LOGIN_FAILURES_PER_ADDRESS"):
        load_settings({"KEEPTABS_LOGIN_FAILURES_PER_ADDRESS": "0"})


async def test_the_pool_admits_workers_plus_queue_then_refuses_with_retry_after() -> None:
    pool = HashingPool(workers=1, queue=2)
    async with AsyncExitStack() as held:
        for _ in range(3):
            await held.enter_async_context(pool.admitted())
        with pytest.raises(ServiceUnavailable) as refused:
            await held.enter_async_context(pool.admitted())
        assert int(refused.value.headers["Retry-After"]) >= 1
    async with pool.admitted():  # places come back
        assert await pool.verify(await pool.hash("long enough"), "long enough")
        assert not await pool.verify(None, "long enough")


async def test_hashing_does_not_hold_the_event_loop() -> None:
    pool = HashingPool(workers=1, queue=0)
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    ticker = asyncio.create_task(tick())
    await pool.hash("long enough")
    ticker.cancel()
    assert ticks >= 3, "the loop ran while a hash was computed"
