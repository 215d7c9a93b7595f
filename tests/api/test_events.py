"""GET /api/events in one process, on SQLite and PostgreSQL: a real server on a socket, real HTTP streams."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack

import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from server.app import create_app
from server.config import Settings
from server.services.events import FEED_MOVED, LiveUpdates
from tests.conftest import NewAccount
from tests.live import EventStream, SimDevice, ThreadedServer, login, register


@pytest.fixture
def server(settings: Settings) -> Iterator[ThreadedServer]:
    app = create_app(settings)
    # Short enough that a test sees heartbeats without waiting the real 15 s. The token recheck keeps its real
    # period (minutes), so a stream that ends within a second of a sign-out was told, not polling.
    live = app.plugins.get(LiveUpdates)
    live.heartbeat = 0.3
    with ThreadedServer(app) as server:
        yield server


@pytest.fixture
async def http(server: ThreadedServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
        yield http


async def two_devices(http: httpx.AsyncClient) -> tuple[dict[str, str], SimDevice, SimDevice]:
    account = await register(http, "laptop")
    return account, SimDevice(account["token"]), SimDevice(await login(http, account, "phone"))


def new_note_id() -> str:
    return str(uuid.uuid4())


async def test_a_sync_on_one_device_reaches_the_other_listening_device(http: httpx.AsyncClient) -> None:
    _, laptop, phone = await two_devices(http)
    async with EventStream(str(http.base_url), phone.token, via_query=True) as stream:
        assert await stream.next_sync() == 0
        note_id = new_note_id()
        laptop.edit(note_id, title="Groceries", body="milk")
        await laptop.sync(http)
        assert await stream.next_sync() == laptop.cursor > 0
        await phone.sync(http)
    assert phone.notes[note_id]["title"] == "Groceries"
    assert phone.cursor == laptop.cursor


async def test_the_first_event_is_the_current_cursor(http: httpx.AsyncClient) -> None:
    _, laptop, phone = await two_devices(http)
    for title in ("one", "two", "three"):
        laptop.edit(new_note_id(), title=title)
    await laptop.sync(http)
    async with EventStream(str(http.base_url), phone.token) as stream:
        assert stream.response is not None
        assert stream.response.headers["content-type"].startswith("text/event-stream")
        assert await stream.next_sync() == laptop.cursor >= 3


async def test_a_device_that_reconnects_loses_nothing(http: httpx.AsyncClient) -> None:
    _, laptop, phone = await two_devices(http)
    first = new_note_id()
    laptop.edit(first, title="before")
    await laptop.sync(http)
    async with EventStream(str(http.base_url), phone.token) as stream:
        await phone.sync(http)
        assert await stream.next_sync() == phone.cursor
    # The phone is offline while the laptop goes on.
    second = new_note_id()
    laptop.edit(second, title="while away")
    laptop.edit(first, title="before, edited")
    await laptop.sync(http)
    async with EventStream(str(http.base_url), phone.token) as stream:
        assert await stream.next_sync() == laptop.cursor > phone.cursor
        await phone.sync(http)
    assert {n["id"]: n["title"] for n in phone.notes.values()} == {first: "before, edited", second: "while away"}


async def test_a_stream_carries_only_its_own_users_changes(http: httpx.AsyncClient) -> None:
    _, alice, _ = await two_devices(http)
    bob = SimDevice((await register(http, "bob"))["token"])
    async with EventStream(str(http.base_url), bob.token) as stream:
        assert await stream.next_sync() == 0
        for title in ("a", "b", "c"):
            alice.edit(new_note_id(), title=title)
        await alice.sync(http)
        bob.edit(new_note_id(), title="bob's")
        await bob.sync(http)
        # Alice's change went out first; Bob's stream must go straight to his own cursor, never to hers (3).
        assert await stream.next_sync() == bob.cursor
        assert bob.cursor != alice.cursor


async def test_heartbeats_flow_while_nothing_changes(http: httpx.AsyncClient) -> None:
    account = await register(http)
    async with EventStream(str(http.base_url), account["token"]) as stream:
        assert (await stream.next()).event == "sync"
        for _ in range(2):
            message = await stream.next(timeout=5)
            assert (message.comment, message.event, message.data) == ("ping", None, None)


async def ends_within(stream: EventStream, deadline: float, started: float) -> float:
    """Seconds from `started` until the stream ends, reading through whatever it still sends; the deadline only
    catches a hang."""
    with pytest.raises(EOFError):
        async with asyncio.timeout(deadline):
            while True:
                await stream.next(timeout=deadline)
    return time.monotonic() - started


async def test_signing_out_ends_the_devices_stream_at_once(server: ThreadedServer, http: httpx.AsyncClient) -> None:
    account = await register(http)
    async with EventStream(server.base_url, account["token"]) as stream:
        assert await stream.next_sync() == 0
        headers = {"Authorization": f"Bearer {account['token']}"}
        started = time.monotonic()
        assert (await http.post("/api/auth/logout", headers=headers)).status_code == 204
        elapsed = await ends_within(stream, 10, started)
    print(f"stream ended {elapsed * 1000:.0f} ms after sending the logout")
    assert server.app.state.live.token_recheck >= 60  # not by polling


async def test_revoking_a_device_ends_its_streams_and_no_other(server: ThreadedServer, http: httpx.AsyncClient) -> None:
    _, laptop, phone = await two_devices(http)
    phone_id = await device_id_of(http, phone.token)
    async with (
        EventStream(server.base_url, phone.token) as phone_hears,
        EventStream(server.base_url, phone.token, via_query=True) as phone_again,
        EventStream(server.base_url, laptop.token) as laptop_hears,
    ):
        for stream in (phone_hears, phone_again, laptop_hears):
            assert await stream.next_sync() == 0
        started = time.monotonic()
        response = await http.delete(f"/api/devices/{phone_id}", headers=laptop.headers)
        assert response.status_code == 204
        elapsed = [await ends_within(phone_hears, 10, started), await ends_within(phone_again, 10, started)]
        print(f"revoked device's streams ended {max(elapsed) * 1000:.0f} ms after sending the DELETE")
        laptop.edit(new_note_id(), title="still here")
        await laptop.sync(http)
        assert await laptop_hears.next_sync() == laptop.cursor
    # A stream the revoked token tries to open now is refused outright.
    assert (await http.get("/api/events", headers=phone.headers)).status_code == 401


async def test_revoking_another_users_device_ends_nothing(server: ThreadedServer, http: httpx.AsyncClient) -> None:
    alice, bob = SimDevice((await register(http))["token"]), SimDevice((await register(http))["token"])
    bob_device = await device_id_of(http, bob.token)
    async with EventStream(server.base_url, bob.token) as stream:
        assert await stream.next_sync() == 0
        assert (await http.delete(f"/api/devices/{bob_device}", headers=alice.headers)).status_code == 404
        bob.edit(new_note_id(), title="mine")
        await bob.sync(http)
        assert await stream.next_sync() == bob.cursor


async def device_id_of(http: httpx.AsyncClient, token: str) -> str:
    response = await http.get("/api/devices", headers={"Authorization": f"Bearer {token}"})
    return str(next(d["id"] for d in response.json() if d["current"]))


async def test_a_device_opening_one_stream_too_many_loses_its_oldest(
    server: ThreadedServer, http: httpx.AsyncClient
) -> None:
    account = await register(http)
    per_device = server.app.state.live.hub.per_device
    async with AsyncExitStack() as stack:
        streams = [
            await stack.enter_async_context(EventStream(server.base_url, account["token"])) for _ in range(per_device)
        ]
        for stream in streams:
            assert await stream.next_sync() == 0
        newest = await stack.enter_async_context(EventStream(server.base_url, account["token"]))
        assert await newest.next_sync() == 0
        await ends_within(streams[0], 10, time.monotonic())
        server.call(emit_feed_moved(server.app, account["user_id"], 1))
        assert [await s.next_sync() for s in [*streams[1:], newest]] == [1] * per_device
        assert len(server.app.state.live.hub) == per_device


async def test_a_process_at_its_stream_limit_answers_503(server: ThreadedServer, http: httpx.AsyncClient) -> None:
    hub = server.app.state.live.hub
    hub.max_streams = 2
    tokens = [(await register(http, f"device {i}"))["token"] for i in range(3)]
    async with EventStream(server.base_url, tokens[0]) as first, EventStream(server.base_url, tokens[1]) as second:
        assert [await first.next_sync(), await second.next_sync()] == [0, 0]
        response = await http.get("/api/events", headers={"Authorization": f"Bearer {tokens[2]}"})
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/problem+json"
        assert int(response.headers["retry-after"]) > 0
    # Room again once streams close (their tasks end when the client goes).
    await until(lambda: len(hub) == 0)
    async with EventStream(server.base_url, tokens[2]) as third:
        assert await third.next_sync() == 0


async def until(condition: Callable[[], bool], timeout: float = 10) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)


async def test_cursors_only_move_forward(server: ThreadedServer, http: httpx.AsyncClient) -> None:
    # Two processes may publish a user's cursors out of order; a device never needs to hear an older one.
    account = await register(http)
    async with EventStream(server.base_url, account["token"]) as stream:
        assert await stream.next_sync() == 0
        for cursor in (5, 3, 5, 6):
            server.call(emit_feed_moved(server.app, account["user_id"], cursor))
        assert [await stream.next_sync(), await stream.next_sync()] == [5, 6]


async def emit_feed_moved(app: Litestar, user_id: str, cursor: int) -> None:
    app.emit(FEED_MOVED, user_id=user_id, cursor=cursor)


async def test_a_new_stream_hears_while_the_old_one_closes(server: ThreadedServer, http: httpx.AsyncClient) -> None:
    # The same device reconnecting: the old stream's unsubscribe must not take the new stream's subscription away.
    account = await register(http)
    old = await EventStream(server.base_url, account["token"]).__aenter__()
    assert await old.next_sync() == 0
    for cursor in range(1, 21):
        new = EventStream(server.base_url, account["token"])
        await asyncio.gather(old.__aexit__(None, None, None), new.__aenter__())
        assert await new.next_sync() == 0
        server.call(emit_feed_moved(server.app, account["user_id"], cursor))
        assert await new.next_sync() == cursor
        old = new
    await old.__aexit__(None, None, None)


@pytest.mark.parametrize(
    ("headers", "params"),
    [
        ({}, {}),
        ({"Authorization": "Bearer not-a-token"}, {}),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, {}),
        ({}, {"token": "not-a-token"}),
        ({}, {"token": ""}),
    ],
)
async def test_events_need_a_valid_token(
    client: AsyncTestClient[Litestar], headers: dict[str, str], params: dict[str, str]
) -> None:
    response = await client.get("/api/events", headers=headers, params=params)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 401


async def test_a_token_that_ended_cannot_listen(client: AsyncTestClient[Litestar], new_account: NewAccount) -> None:
    account = await new_account(client)
    assert (await client.post("/api/auth/logout", headers=account.headers)).status_code == 204
    response = await client.get("/api/events", params={"token": account.token})
    assert response.status_code == 401


async def test_events_are_not_compressed(http: httpx.AsyncClient) -> None:
    account = await register(http)
    headers = {"Authorization": f"Bearer {account['token']}", "Accept-Encoding": "gzip"}
    async with http.stream("GET", "/api/events", headers=headers) as response:
        assert response.status_code == 200
        assert "content-encoding" not in response.headers
        assert response.headers["cache-control"] == "no-cache"
        assert response.headers["x-accel-buffering"] == "no"


@pytest.mark.parametrize(
    "query",
    ["tok%65n={t}", "%74oken={t}", "TOKEN={t}", "token%3D{t}", "token={t}&token={t}", "x=1&tok%65n={t}"],
)
async def test_only_the_exact_token_parameter_is_accepted(http: httpx.AsyncClient, query: str) -> None:
    # Operators keep `token=` out of their logs; a spelling that decodes to the same name must not get past them.
    account = await register(http)
    response = await http.get(f"/api/events?{query.format(t=account['token'])}")
    assert response.status_code == 401, query
    async with http.stream("GET", f"/api/events?x=1&token={account['token']}") as accepted:
        assert accepted.status_code == 200
