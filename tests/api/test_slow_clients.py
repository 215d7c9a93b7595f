"""Slow clients against a real `keeptabs serve`, over raw sockets: headers or a body that do not arrive in time cut
the connection; a live stream, or a client that is merely quiet between requests, is not cut.

The server runs with short bounds (1 s for headers, 2 s for a body) so the tests are quick; the deadlines asserted
are generous and only catch a connection that is never cut. Measured times are printed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from tests.live import EventStream, SimDevice, register
from tests.server_process import ServerProcess

HEADER_TIMEOUT = 1.0
BODY_TIMEOUT = 2.0
HANG = 15.0
"""Longer than any bound here: a connection still open after this was never going to be cut."""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    env = {
        "KEEPTABS_DATA_DIR": str(tmp_path_factory.mktemp("slow") / "data"),
        "KEEPTABS_DATABASE_URL": "",
        "KEEPTABS_HEADER_TIMEOUT": str(HEADER_TIMEOUT),
        "KEEPTABS_BODY_TIMEOUT": str(BODY_TIMEOUT),
    }
    with ServerProcess(env) as server:
        yield server


@pytest.fixture
async def http(server: ServerProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
        yield http


class Raw:
    """One TCP connection, written to by hand."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.opened = time.monotonic()

    @classmethod
    async def connect(cls, server: ServerProcess) -> Raw:
        return cls(*await asyncio.open_connection("127.0.0.1", server.port))

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def trickle(self, data: bytes, every: float) -> None:
        """A byte at a time, until the server closes the connection (or the data runs out)."""
        for i in range(len(data)):
            try:
                await self.send(data[i : i + 1])
            except ConnectionError:
                return
            await asyncio.sleep(every)

    async def read_until_closed(self, timeout: float = HANG) -> bytes:
        """Everything the server sends until it closes (a reset after its answer still counts as closed)."""
        received = b""
        async with asyncio.timeout(timeout):
            while True:
                try:
                    chunk = await self.reader.read(65536)
                except ConnectionError:
                    return received
                if not chunk:
                    return received
                received += chunk

    def close(self) -> None:
        self.writer.close()


async def test_a_connection_that_sends_nothing_is_closed(server: ServerProcess) -> None:
    raw = await Raw.connect(server)
    assert await raw.read_until_closed() == b""
    print(f"idle connection closed after {time.monotonic() - raw.opened:.2f} s (bound {HEADER_TIMEOUT} s)")


async def test_half_a_header_trickled_is_cut_with_408(server: ServerProcess) -> None:
    raw = await Raw.connect(server)
    await raw.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    trickle = asyncio.create_task(raw.trickle(b"X-Padding: " + b"a" * 1000, every=0.1))
    answer = await raw.read_until_closed()
    trickle.cancel()
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b"application/problem+json" in answer
    print(f"half a header cut after {time.monotonic() - raw.opened:.2f} s (bound {HEADER_TIMEOUT} s)")


async def test_a_body_at_a_byte_every_half_second_is_cut_with_408(server: ServerProcess) -> None:
    raw = await Raw.connect(server)
    body = b'{"email": "slow@example.org", "password": "correct horse", "device_name": "x"}'
    head = f"POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {len(body)}"
    await raw.send(head.encode() + b"\r\n\r\n")
    trickle = asyncio.create_task(raw.trickle(body, every=0.5))
    answer = await raw.read_until_closed()
    trickle.cancel()
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b'"status":408' in answer
    print(f"slow body cut after {time.monotonic() - raw.opened:.2f} s (bound {BODY_TIMEOUT} s)")


async def test_a_slow_body_the_app_never_reads_is_cut_too(server: ServerProcess) -> None:
    # /healthz answers without reading the body; the connection must still not stay open for the rest of it.
    raw = await Raw.connect(server)
    await raw.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
    trickle = asyncio.create_task(raw.trickle(b"a" * 1000, every=0.2))
    answer = await raw.read_until_closed()
    trickle.cancel()
    assert answer.startswith(b"HTTP/1.1 200 ")
    print(f"unread slow body cut after {time.monotonic() - raw.opened:.2f} s (bound {BODY_TIMEOUT} s)")


async def test_two_hundred_slow_clients_are_cut_while_others_are_served(
    server: ServerProcess, http: httpx.AsyncClient
) -> None:
    raws = await asyncio.gather(*(Raw.connect(server) for _ in range(200)))
    for i, raw in enumerate(raws):
        await raw.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\n" if i % 2 else b"POST /api/auth/login HTTP/1.1\r\n")
    assert (await http.get("/healthz")).status_code == 200
    answers = await asyncio.gather(*(raw.read_until_closed() for raw in raws))
    assert all(a.startswith(b"HTTP/1.1 408 ") for a in answers)
    print(f"200 half-header clients all cut after {time.monotonic() - raws[0].opened:.2f} s")


async def test_quiet_keep_alive_clients_and_live_streams_are_not_cut(
    server: ServerProcess, http: httpx.AsyncClient
) -> None:
    account = await register(http)
    device = SimDevice(account["token"])
    async with EventStream(server.base_url, account["token"]) as stream:
        assert await stream.next_sync() == 0
        # Longer than both bounds, with requests spaced on one kept-alive connection meanwhile.
        until = time.monotonic() + HEADER_TIMEOUT + BODY_TIMEOUT + 0.5
        while time.monotonic() < until:
            assert (await http.get("/healthz")).status_code == 200
            await asyncio.sleep(0.5)
        device.edit("5d0f3c1e-0000-4000-8000-000000000001", title="still listening")
        await device.sync(http)
        assert await stream.next_sync() == device.cursor

