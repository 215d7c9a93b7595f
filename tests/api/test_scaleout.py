"""Several `keeptabs serve` processes on one PostgreSQL: live updates, sign-outs and revocations cross processes."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
import pytest

from server.config import Settings
from tests.live import EventStream, SimDevice, login, register
from tests.server_process import ServerProcess

PER_DEVICE = Settings().streams_per_device


@pytest.fixture
def pg_env(pg_database_url: str, tmp_path: Path) -> dict[str, str]:
    # One data directory for all processes: they must share the VAPID keys.
    return {"KEEPTABS_DATABASE_URL": pg_database_url, "KEEPTABS_DATA_DIR": str(tmp_path / "data")}


@pytest.fixture
def two_servers(pg_env: dict[str, str]) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    with ServerProcess(pg_env) as a, ServerProcess(pg_env) as b:
        yield a, b


@pytest.fixture
async def clients(two_servers: tuple[ServerProcess, ServerProcess]) -> AsyncIterator[list[httpx.AsyncClient]]:
    a, b = two_servers
    async with (
        httpx.AsyncClient(base_url=a.base_url, timeout=10) as ha,
        httpx.AsyncClient(base_url=b.base_url, timeout=10) as hb,
    ):
        yield [ha, hb]


async def test_a_change_through_one_process_reaches_a_device_on_the_other(
    two_servers: tuple[ServerProcess, ServerProcess], clients: list[httpx.AsyncClient]
) -> None:
    a, b = two_servers
    via_a, via_b = clients
    account = await register(via_a, "laptop")
    laptop, phone = SimDevice(account["token"]), SimDevice(await login(via_b, account, "phone"))
    async with EventStream(a.base_url, phone.token, via_query=True) as phone_hears:
        assert await phone_hears.next_sync() == 0
        note_id = str(uuid.uuid4())
        laptop.edit(note_id, title="Call the plumber", body="before Friday")
        await laptop.sync(via_b)
        assert await phone_hears.next_sync() == laptop.cursor > 0
        await phone.sync(via_a)
    assert phone.notes[note_id]["title"] == "Call the plumber"
    # And back the other way: the laptop listens on B, the phone writes through A.
    async with EventStream(b.base_url, laptop.token) as laptop_hears:
        assert await laptop_hears.next_sync() == phone.cursor
        phone.edit(note_id, body="before Friday, 9:00")
        await phone.sync(via_a)
        assert await laptop_hears.next_sync() == phone.cursor
        await laptop.sync(via_b)
    assert laptop.notes[note_id]["body"] == "before Friday, 9:00"


def serving_pid(stream: EventStream, server_port: int) -> int | None:
    """The process that holds the server's end of a stream's connection (Linux: /proc/net/tcp, then each process's
    open sockets). The kernel, not us, picks which worker accepts a connection; this tells which one did."""
    assert stream.response is not None
    client_port = stream.response.extensions["network_stream"].get_extra_info("client_addr")[1]
    inodes = {
        fields[9]
        for fields in (line.split() for line in Path("/proc/net/tcp").read_text().splitlines()[1:])
        if int(fields[1].split(":")[1], 16) == server_port and int(fields[2].split(":")[1], 16) == client_port
    }
    targets = {f"socket:[{inode}]" for inode in inodes}
    for process in Path("/proc").iterdir():
        if not process.name.isdigit():
            continue
        try:
            if any(os.readlink(fd) in targets for fd in (process / "fd").iterdir()):
                return int(process.name)
        except OSError:  # a process that ended meanwhile, or a descriptor closed while we looked
            continue
    return None


async def streams_on_every_worker(server: ServerProcess, token: str, stack: AsyncExitStack) -> list[EventStream]:
    """Streams of one device until every worker serves at least one. Past the per-device limit the server closes
    the device's oldest stream, so only the newest few are kept."""
    streams: list[EventStream] = []
    pids: list[int | None] = []
    while len(set(pids[-PER_DEVICE:]) - {None}) < server.workers:
        assert len(pids) < 60, "new connections never reached every worker"
        stream = await stack.enter_async_context(EventStream(server.base_url, token))
        assert await stream.next_sync() >= 0  # subscribed by now
        streams.append(stream)
        pids.append(serving_pid(stream, server.port))
    return streams[-PER_DEVICE:]


async def test_workers_behind_one_port_all_hear_every_change(pg_env: dict[str, str]) -> None:
    with ServerProcess(pg_env, workers=2) as server:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http, AsyncExitStack() as stack:
            account = await register(http)
            streams = await streams_on_every_worker(server, account["token"], stack)
            writer = SimDevice(account["token"])
            for title in ("one", "two"):
                writer.edit(str(uuid.uuid4()), title=title)
                await writer.sync(http)
                assert [await s.next_sync() for s in streams] == [writer.cursor] * len(streams)


async def ends_within(stream: EventStream, deadline: float, started: float) -> float:
    """Seconds from `started` until the stream ends, reading through whatever it still sends; the deadline only
    catches a hang."""
    async with asyncio.timeout(deadline):
        async for _ in stream.messages():
            pass
    return time.monotonic() - started


async def test_signing_out_ends_the_devices_streams_on_every_worker(pg_env: dict[str, str]) -> None:
    with ServerProcess(pg_env, workers=2) as server:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http, AsyncExitStack() as stack:
            account = await register(http)
            streams = await streams_on_every_worker(server, account["token"], stack)
            started = time.monotonic()
            response = await http.post("/api/auth/logout", headers={"Authorization": f"Bearer {account['token']}"})
            assert response.status_code == 204
            elapsed = [await ends_within(s, 10, started) for s in streams]
    print(f"{len(streams)} streams on 2 workers ended within {max(elapsed) * 1000:.0f} ms of sending the logout")


async def test_revoking_through_one_process_ends_streams_on_the_other(
    two_servers: tuple[ServerProcess, ServerProcess], clients: list[httpx.AsyncClient]
) -> None:
    a, _ = two_servers
    via_a, via_b = clients
    account = await register(via_a, "laptop")
    phone = await login(via_a, account, "phone")
    devices = (await via_b.get("/api/devices", headers={"Authorization": f"Bearer {phone}"})).json()
    phone_id = next(d["id"] for d in devices if d["current"])
    laptop = SimDevice(account["token"])
    async with EventStream(a.base_url, phone) as phone_hears, EventStream(a.base_url, account["token"]) as laptop_hears:
        assert [await phone_hears.next_sync(), await laptop_hears.next_sync()] == [0, 0]
        started = time.monotonic()
        response = await via_b.delete(f"/api/devices/{phone_id}", headers=laptop.headers)
        assert response.status_code == 204
        elapsed = await ends_within(phone_hears, 10, started)
        print(f"the revoked device's stream on process A ended {elapsed * 1000:.0f} ms after B was sent the DELETE")
        laptop.edit(str(uuid.uuid4()), title="the laptop still hears")
        await laptop.sync(via_b)
        assert await laptop_hears.next_sync() == laptop.cursor
