"""Push API: the key, subscriptions (with the SSRF guard), the test message and the delivery record."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.app import create_app
from server.config import Settings
from server.models.push import PushSubscription
from tests.conftest import Account, NewAccount
from tests.pushsink import PushSink, another_device

Client = AsyncTestClient[Litestar]

SSRF_REFUSED_ALWAYS = [
    "http://push.example.net/x",
    "ftp://8.8.8.8/x",
    "https://10.0.0.1/x",
    "https://192.168.0.10/x",
    "https://172.31.255.1/x",
    "https://169.254.169.254/latest/meta-data",
    "https://100.64.1.1/x",
    "https://0.0.0.0/x",
    "https://224.0.0.1/x",
    "https://240.0.0.1/x",
    "https://[fe80::1]/x",
    "https://[fd12:3456::1]/x",
    "https://[ff02::1]/x",
    "https://[::]/x",
    "https://[::ffff:10.0.0.1]/x",
    "https://[64:ff9b::a9fe:a9fe]/x",
    "https://user:pw@8.8.8.8/x",
    "https://nothing-here.invalid/x",
    "http://10.0.0.1/x",
    "https://192.0.0.8/x",  # Python's is_global calls it global
    "https://198.18.0.1/x",
    "https://[64:ff9b:1::a00:1]/x",
    "https://2130706433/x",  # 127.0.0.1 spelled as a number: not one of the literals the loopback flag admits
    "http://127.1:9/push/x",
    "http://[::ffff:127.0.0.1]:9/push/x",
]
LOOPBACK = ["http://127.0.0.1:9/push/x", "http://localhost:9/push/x", "https://127.0.0.1/x", "https://[::1]/x"]


@pytest.fixture
def sink() -> Iterator[PushSink]:
    with PushSink() as sink:
        yield sink


@pytest.fixture
async def strict_client(settings: Settings) -> AsyncIterator[Client]:
    """A server without KEEPTABS_PUSH_ALLOW_LOOPBACK, as in production."""
    app = create_app(msgspec.structs.replace(settings, push_allow_loopback=False))
    async with AsyncTestClient(app=app) as client:
        yield client


async def count_subscriptions(db_sessions: async_sessionmaker[AsyncSession]) -> int:
    async with db_sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(PushSubscription)) or 0)


def assert_problem(response: Any, status: int) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["status"] == status


async def test_key_needs_no_token_and_is_stable(client: Client, app: Litestar) -> None:
    first = await client.get("/api/push/key")
    assert first.status_code == 200
    key = first.json()["public_key"]
    assert len(key) == 87 and "=" not in key  # 65 bytes, base64url without padding
    assert (await client.get("/api/push/key")).json() == {"public_key": key}


async def test_subscribe_then_again_then_unsubscribe(
    client: Client, new_account: NewAccount, sink: PushSink, db_sessions: async_sessionmaker[AsyncSession]
) -> None:
    acct = await new_account(client)
    sub = sink.subscription()
    created = await client.post("/api/push/subscriptions", json=sub, headers=acct.headers)
    assert created.status_code == 201, created.text
    again = await client.post("/api/push/subscriptions", json=sub, headers=acct.headers)
    assert again.status_code == 200
    assert await count_subscriptions(db_sessions) == 1
    gone = await client.request(
        "DELETE", "/api/push/subscriptions", json={"endpoint": sub["endpoint"]}, headers=acct.headers
    )
    assert gone.status_code == 204
    assert await count_subscriptions(db_sessions) == 0
    missing = await client.request(
        "DELETE", "/api/push/subscriptions", json={"endpoint": sub["endpoint"]}, headers=acct.headers
    )
    assert_problem(missing, 404)


async def test_endpoint_is_per_user(
    client: Client, new_account: NewAccount, sink: PushSink, db_sessions: async_sessionmaker[AsyncSession]
) -> None:
    """Two accounts on one browser: each stores the endpoint; one signing out leaves the other's."""
    ana, ben = await new_account(client), await new_account(client)
    sub = sink.subscription()
    for acct in (ana, ben):
        assert (await client.post("/api/push/subscriptions", json=sub, headers=acct.headers)).status_code == 201
    body = {"endpoint": sub["endpoint"]}
    assert (
        await client.request("DELETE", "/api/push/subscriptions", json=body, headers=ana.headers)
    ).status_code == 204
    assert await count_subscriptions(db_sessions) == 1


async def test_subscriptions_need_a_token(client: Client, sink: PushSink) -> None:
    assert_problem(await client.post("/api/push/subscriptions", json=sink.subscription()), 401)
    assert_problem(await client.post("/api/push/test"), 401)


@pytest.mark.parametrize("endpoint", SSRF_REFUSED_ALWAYS + LOOPBACK)
async def test_ssrf_refused_in_production(
    strict_client: Client,
    new_account: NewAccount,
    sink: PushSink,
    endpoint: str,
    db_sessions: async_sessionmaker[AsyncSession],
) -> None:
    acct = await new_account(strict_client)
    sub = {**sink.subscription(), "endpoint": endpoint}
    response = await strict_client.post("/api/push/subscriptions", json=sub, headers=acct.headers)
    assert_problem(response, 422)
    assert "endpoint" in response.json()["detail"]
    assert await count_subscriptions(db_sessions) == 0


@pytest.mark.parametrize("endpoint", SSRF_REFUSED_ALWAYS)
async def test_ssrf_refused_with_loopback_allowed(
    client: Client, new_account: NewAccount, sink: PushSink, endpoint: str
) -> None:
    acct = await new_account(client)
    sub = {**sink.subscription(), "endpoint": endpoint}
    assert_problem(await client.post("/api/push/subscriptions", json=sub, headers=acct.headers), 422)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"keys": {"p256dh": "AAAA", "auth": "AAAAAAAAAAAAAAAAAAAAAA"}}, "p256dh"),
        ({"keys": {"p256dh": None, "auth": "x"}}, "p256dh"),
        ({"keys": {"auth": "AAAAAAAAAAAAAAAAAAAAAA"}}, "p256dh"),
        ({"auth_only": True}, "auth"),
        ({"endpoint": ""}, "endpoint"),
        ({"endpoint": 42}, "endpoint"),
        ({"endpoint": "https://8.8.8.8/" + "a" * 2100}, "endpoint"),
    ],
)
async def test_bad_subscription_bodies_are_422(
    client: Client, new_account: NewAccount, sink: PushSink, change: dict[str, Any], field: str
) -> None:
    acct = await new_account(client)
    sub = sink.subscription()
    change = dict(change)
    if change.pop("auth_only", False):
        sub["keys"]["auth"] = "AAAA"
    sub.update(change)
    response = await client.post("/api/push/subscriptions", json=sub, headers=acct.headers)
    assert_problem(response, 422)
    assert field in response.text


async def test_malformed_json_is_400(client: Client, new_account: NewAccount) -> None:
    acct = await new_account(client)
    headers = {**acct.headers, "content-type": "application/json"}
    assert_problem(await client.post("/api/push/subscriptions", content=b"{nope", headers=headers), 400)


async def unsubscribe(client: Client, acct: Account, sub: dict[str, Any]) -> Any:
    return await client.request(
        "DELETE", "/api/push/subscriptions", json={"endpoint": sub["endpoint"]}, headers=acct.headers
    )


async def subscribe(
    client: Client, acct: Account, sink: PushSink, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    sub = sink.subscription()
    response = await client.post("/api/push/subscriptions", json=sub, headers=headers or acct.headers)
    assert response.status_code == 201, response.text
    return sub


async def test_test_message_reaches_every_subscription_and_is_recorded(
    client: Client, new_account: NewAccount, sink: PushSink
) -> None:
    sink.vapid_public_key = (await client.get("/api/push/key")).json()["public_key"]
    acct, other = await new_account(client), await new_account(client)
    laptop = await another_device(client, acct.email, acct.password)
    subs = [await subscribe(client, acct, sink), await subscribe(client, acct, sink, laptop)]
    await subscribe(client, other, sink)
    response = await client.post("/api/push/test", headers=acct.headers)
    assert (response.status_code, response.json()) == (202, {"sent": 2})
    messages = sink.wait_for(2)
    assert sorted(m.subscription_id for m in messages) == sorted(s["endpoint"].rsplit("/", 1)[1] for s in subs)
    for message in messages:
        assert message.errors == []
        assert message.payload["type"] == "test"
    records = await wait_for_records(client, acct, "/api/push/deliveries", 2)
    assert {r["status"] for r in records} == {"delivered"}
    assert {r["kind"] for r in records} == {"test"}
    assert len({r["device_id"] for r in records}) == 2


async def test_revoking_a_device_removes_its_subscriptions(
    client: Client, new_account: NewAccount, sink: PushSink
) -> None:
    acct = await new_account(client)
    login = {"email": acct.email, "password": acct.password, "device_name": "phone"}
    phone = (await client.post("/api/auth/login", json=login)).json()
    phone_headers = {"Authorization": f"Bearer {phone['token']}"}
    assert (
        await client.post("/api/push/subscriptions", json=sink.subscription(), headers=phone_headers)
    ).status_code == 201
    await subscribe(client, acct, sink)
    assert (await client.post("/api/push/test", headers=acct.headers)).json() == {"sent": 2}
    assert (await client.delete(f"/api/devices/{phone['device_id']}", headers=acct.headers)).status_code == 204
    assert (await client.post("/api/push/test", headers=acct.headers)).json() == {"sent": 1}


async def test_gone_subscription_is_removed(client: Client, new_account: NewAccount, sink: PushSink) -> None:
    acct = await new_account(client)
    sub = await subscribe(client, acct, sink)
    sink.answer(sub, 410)
    assert (await client.post("/api/push/test", headers=acct.headers)).json() == {"sent": 1}
    [record] = await wait_for_records(client, acct, "/api/push/deliveries", 1)
    assert (record["status"], record["http_status"]) == ("gone", 410)
    assert (await client.post("/api/push/test", headers=acct.headers)).json() == {"sent": 0}


async def test_deliveries_of_an_unknown_note_are_404(client: Client, new_account: NewAccount) -> None:
    acct = await new_account(client)
    response = await client.get("/api/notes/6b1f3a52-3d1c-4a8e-9a59-0c1f1d1f0e55/deliveries", headers=acct.headers)
    assert_problem(response, 404)


async def wait_for_records(client: Client, acct: Account, path: str, count: int) -> list[dict[str, Any]]:
    """Polls the delivery record until `count` entries are there (they are written after the push service answers)."""
    deadline = time.monotonic() + 10
    while True:
        records = (await client.get(path, headers=acct.headers)).json()
        if len(records) >= count or time.monotonic() > deadline:
            assert len(records) == count, records
            return list(records)
        await asyncio.sleep(0.05)
