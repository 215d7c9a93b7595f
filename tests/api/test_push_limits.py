"""Push limits through the API: subscriptions capped per device and per user, test messages rate limited, a long
Origin stored safely, and delivery records that say what failed without echoing what the endpoint answered."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.app import create_app
from server.config import Settings
from server.models.push import PushSubscription
from tests.conftest import Account, NewAccount
from tests.pushsink import PushSink, another_device

Client = AsyncTestClient[Litestar]
SECRET = b"root:x:0:0:root:/root:/bin/bash internal-admin.corp SECRET"


@pytest.fixture
def sink() -> Iterator[PushSink]:
    with PushSink() as sink:
        yield sink


@pytest.fixture
async def small_caps(settings: Settings) -> AsyncIterator[Client]:
    """A user may keep 3 subscriptions (20 by default): the same rule, fewer devices to make."""
    app = create_app(msgspec.structs.replace(settings, push_subscriptions_per_user=3))
    async with AsyncTestClient(app=app) as client:
        yield client


async def endpoints(db_sessions: async_sessionmaker[AsyncSession], user_id: str) -> list[str]:
    async with db_sessions() as session:
        rows = await session.scalars(
            select(PushSubscription.endpoint)
            .where(PushSubscription.user_id == user_id)
            .order_by(PushSubscription.created_at)
        )
        return list(rows)


async def post(client: Client, headers: dict[str, str], sub: dict[str, Any], **extra: str) -> int:
    response = await client.post("/api/push/subscriptions", json=sub, headers={**headers, **extra})
    assert response.status_code in (200, 201), response.text
    return response.status_code


async def test_a_device_keeps_one_subscription_and_resubscribing_replaces_it(
    client: Client, new_account: NewAccount, sink: PushSink, db_sessions: async_sessionmaker[AsyncSession]
) -> None:
    """What the service worker does on pushsubscriptionchange: store the new one, then delete the old (already gone)."""
    acct = await new_account(client)
    old, new = sink.subscription(), sink.subscription()
    assert await post(client, acct.headers, old) == 201
    assert await post(client, acct.headers, old) == 200
    assert await post(client, acct.headers, new) == 201
    assert await endpoints(db_sessions, acct.user_id) == [new["endpoint"]]
    gone = await client.request(
        "DELETE", "/api/push/subscriptions", json={"endpoint": old["endpoint"]}, headers=acct.headers
    )
    assert gone.status_code == 404
    assert (await client.post("/api/push/test", headers=acct.headers)).json() == {"sent": 1}
    [message] = sink.wait_for(1)
    assert message.subscription_id == new["endpoint"].rsplit("/", 1)[1]


async def test_a_user_keeps_the_newest_subscriptions_up_to_the_cap(
    small_caps: Client, new_account: NewAccount, sink: PushSink, db_sessions: async_sessionmaker[AsyncSession]
) -> None:
    acct = await new_account(small_caps)
    devices = [acct.headers] + [await another_device(small_caps, acct.email, acct.password) for _ in range(4)]
    subs = [sink.subscription() for _ in devices]
    for headers, sub in zip(devices, subs, strict=True):
        assert await post(small_caps, headers, sub) == 201
    assert await endpoints(db_sessions, acct.user_id) == [s["endpoint"] for s in subs[2:]]
    # Subscribing again counts as recent: the first device's renewed subscription displaces the oldest one kept.
    assert await post(small_caps, devices[2], subs[2]) == 200
    assert await post(small_caps, devices[0], subs[0]) == 201
    assert sorted(await endpoints(db_sessions, acct.user_id)) == sorted(
        s["endpoint"] for s in (subs[0], subs[2], subs[4])
    )


async def test_another_users_subscriptions_do_not_count(
    small_caps: Client, new_account: NewAccount, sink: PushSink, db_sessions: async_sessionmaker[AsyncSession]
) -> None:
    ana, ben = await new_account(small_caps), await new_account(small_caps)
    await post(small_caps, ben.headers, sink.subscription())
    for _ in range(4):
        await post(small_caps, await another_device(small_caps, ana.email, ana.password), sink.subscription())
    assert len(await endpoints(db_sessions, ana.user_id)) == 3
    assert len(await endpoints(db_sessions, ben.user_id)) == 1


async def test_concurrent_subscribes_cannot_pass_the_cap(
    client: Client, new_account: NewAccount, sink: PushSink, db_sessions: async_sessionmaker[AsyncSession]
) -> None:
    """Each subscribe counts the user's subscriptions: done at once, each must see the others (a row lock)."""
    acct = await new_account(client)
    devices = await asyncio.gather(*(another_device(client, acct.email, acct.password) for _ in range(30)))
    statuses = await asyncio.gather(*(post(client, headers, sink.subscription()) for headers in devices))
    assert set(statuses) == {201}
    assert len(await endpoints(db_sessions, acct.user_id)) == 20


async def test_test_messages_are_rate_limited(client: Client, new_account: NewAccount, sink: PushSink) -> None:
    acct, other = await new_account(client), await new_account(client)
    await post(client, acct.headers, sink.subscription())
    for _ in range(5):
        assert (await client.post("/api/push/test", headers=acct.headers)).status_code == 202
    refused = await client.post("/api/push/test", headers=acct.headers)
    assert refused.status_code == 429, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert (await client.post("/api/push/test", headers=other.headers)).status_code == 202  # per user
    assert len(sink.wait_for(5)) == 5


@pytest.mark.parametrize(
    "origin",
    [
        "https://" + "a" * 300 + ".example",
        "https://app.example:443" + "0" * 400,
        "http://[::1",
        "https://evil.example\r\nX: y",
        "null",
    ],
)
async def test_an_unusable_origin_is_not_stored(
    client: Client, new_account: NewAccount, sink: PushSink, origin: str, db_sessions: async_sessionmaker[AsyncSession]
) -> None:
    """The Origin only says where a notification tap leads; one that is no plain origin of at most 300 characters
    (a 500 on PostgreSQL when it was longer than its column) falls back to the address the request came to."""
    acct = await new_account(client)
    assert await post(client, acct.headers, sink.subscription(), origin=origin.replace("\r\n", " ")) == 201
    async with db_sessions() as session:
        [app_url] = list(await session.scalars(select(PushSubscription.app_url)))
    assert app_url == "http://testserver.local"


async def test_a_plain_origin_is_stored(
    client: Client, new_account: NewAccount, sink: PushSink, db_sessions: async_sessionmaker[AsyncSession]
) -> None:
    acct = await new_account(client)
    host = "a" * 63 + "." + "b" * 63 + "." + "c" * 63 + "." + "d" * 57 + ".example"  # 253 characters
    assert await post(client, acct.headers, sink.subscription(), origin=f"https://{host}:8443") == 201
    async with db_sessions() as session:
        assert await session.scalar(select(PushSubscription.app_url)) == f"https://{host}:8443"


class Answering:
    """An endpoint that answers every request with `answer` (a status line, headers and a body that must never
    reach the delivery record)."""

    def __init__(self, answer: bytes) -> None:
        self.answer = answer
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            with connection:
                connection.recv(65536)
                connection.sendall(self.answer)


async def records(client: Client, acct: Account, count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 15
    while True:
        found = (await client.get("/api/push/deliveries", headers=acct.headers)).json()
        if len(found) >= count or time.monotonic() > deadline:
            assert len(found) == count, found
            return list(found)
        await asyncio.sleep(0.05)


async def test_delivery_records_hold_a_category_not_the_answer(
    client: Client, new_account: NewAccount, sink: PushSink
) -> None:
    body = SECRET * 4
    answering = Answering(b"HTTP/1.1 403 Forbidden\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    garbage = Answering(b"SSH-2.0-OpenSSH_9.2 " + SECRET + b"\r\n\r\n")
    acct = await new_account(client)
    cases = {
        f"http://127.0.0.1:{answering.port}/push/a": ("failed", 403, "http 4xx"),
        f"http://127.0.0.1:{garbage.port}/push/b": ("failed", None, "protocol error"),
        "http://127.0.0.1:9/push/c": ("failed", None, "connection refused"),
    }
    for endpoint in cases:
        device = await another_device(client, acct.email, acct.password)
        await post(client, device, {**sink.subscription(), "endpoint": endpoint})
    assert (await client.post("/api/push/test", headers=acct.headers)).json() == {"sent": 3}
    found = await records(client, acct, 3)
    by_status = {(r["status"], r["http_status"], r["error"]) for r in found}
    assert by_status == set(cases.values())
    listing = (await client.get("/api/push/deliveries", headers=acct.headers)).text
    assert "SECRET" not in listing and "root:" not in listing and "SSH" not in listing and "Errno" not in listing
    answering.listener.close()
    garbage.listener.close()
