"""A lean HTTP/1.1 keep-alive transport for the push sender: small POSTs to a few push-service origins.

The sender is an httpx.AsyncClient (server/push/webpush.py adapts it to this). Why not httpx's own transport: on this
2-core machine it spent 1.8-5 ms of CPU per request, while a whole reminder (encryption, claim, record) costs about
0.5 ms; a request here costs about 0.1 ms (bench/bench_reminders.py; numbers in docs/reminders.md).

It does only what push needs: one request at a time per connection, bounded connections per origin, a deadline per
exchange, bounded response heads and bodies (the host is chosen by a user), and TLS whose SNI and certificate check
use the endpoint's host name while the socket goes to the address the SSRF guard checked. Responses are parsed
strictly (RFC 9112): Content-Length, chunked, or up to the close; anything odd is a ProtocolError and the
connection is dropped.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from server.push.failures import for_connect_error
from server.push.http1 import (
    ConnectError,
    ConnectionClosed,
    ProtocolError,
    Response,
    Timeout,
    read_response,
    request_bytes,
)

IDLE_SECONDS = 30.0
"""Push services close idle connections after a while; ours are dropped before that."""

Origin = tuple[str, str, int, str]
"""scheme, address to connect to, port, TLS server name."""


@dataclass(frozen=True)
class Timeouts:
    connect: float = 5.0
    exchange: float = 10.0
    """From writing the request to the end of the response."""


class _Connection(asyncio.Protocol):
    """One socket: bytes arrive in `buffer`; the reader awaits `_more` until enough are there."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.closed = False
        self.idle_since = 0.0
        self.received = 0
        """Bytes received in all: tells "closed before answering" from "closed in the middle of an answer"."""
        self._waiter: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self.received += len(data)
        self._wake()

    def eof_received(self) -> bool:
        self.closed = True
        self._wake()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def _wait(self) -> None:
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    async def _more(self) -> None:
        if self.closed:
            raise ConnectionClosed("the connection closed before a full response")
        await self._wait()

    async def read_until(self, separator: bytes, limit: int) -> bytes:
        start = 0
        while (end := self.buffer.find(separator, start, limit + len(separator))) < 0:
            if len(self.buffer) >= limit + len(separator):
                raise ProtocolError(f"no {separator!r} within {limit} bytes")
            start = max(0, len(self.buffer) - len(separator) + 1)
            await self._more()
        data = bytes(self.buffer[: end + len(separator)])
        del self.buffer[: end + len(separator)]
        return data

    async def read_exactly(self, count: int) -> bytes:
        while len(self.buffer) < count:
            await self._more()
        data = bytes(self.buffer[:count])
        del self.buffer[:count]
        return data

    async def read_to_close(self, limit: int) -> bytes:
        while not self.closed and len(self.buffer) <= limit:
            await self._wait()
        data = bytes(self.buffer[:limit])
        self.buffer.clear()
        return data

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class PushTransport:
    """Bounded twice: `connections_per_origin` exchanges at once with one origin, `max_in_flight` in all.

    A request takes its origin's slot first and a global one only then, so requests queued behind one slow origin
    (a host that never answers) wait without holding global slots that requests to other origins need.
    """

    def __init__(
        self,
        tls: ssl.SSLContext,
        connections_per_origin: int = 64,
        timeouts: Timeouts | None = None,
        max_in_flight: int = 200,
    ) -> None:
        self.tls = tls
        self.connections_per_origin = connections_per_origin
        self.timeouts = timeouts or Timeouts()
        self._idle: dict[Origin, list[_Connection]] = defaultdict(list)
        self._slots: dict[Origin, asyncio.Semaphore] = {}
        self._in_flight = asyncio.Semaphore(max_in_flight)

    async def post(
        self,
        origin: Origin,
        target: str,
        headers: Sequence[tuple[str, str]],
        body: bytes,
        timeouts: Timeouts | None = None,
    ) -> Response:
        """POSTs `body` to `target` (path and query) at `origin`; `headers` must include Host."""
        request = request_bytes(target, headers, body)
        timeouts = timeouts or self.timeouts
        slots = self._slots.get(origin)
        if slots is None:
            slots = self._slots[origin] = asyncio.Semaphore(self.connections_per_origin)
        async with slots, self._in_flight:
            reused = self._take_idle(origin)
            if reused is not None:
                try:
                    return await self._exchange(reused, origin, request, timeouts.exchange, fresh=False)
                except _ClosedUnanswered:
                    pass  # the server closed the idle connection as we reused it: once more on a new one
            connection = await self._connect(origin, timeouts.connect)
            return await self._exchange(connection, origin, request, timeouts.exchange, fresh=True)

    def _take_idle(self, origin: Origin) -> _Connection | None:
        idle = self._idle[origin]
        while idle:
            connection = idle.pop()
            # Bytes on an idle connection were never asked for: it is out of step, so it is not used again.
            fresh = time.monotonic() - connection.idle_since < IDLE_SECONDS
            if fresh and not connection.closed and not connection.buffer:
                return connection
            connection.close()
        return None

    async def _connect(self, origin: Origin, timeout: float) -> _Connection:
        scheme, address, port, server_name = origin
        tls = {"ssl": self.tls, "server_hostname": server_name} if scheme == "https" else {}
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                _, connection = await loop.create_connection(_Connection, address, port, **tls)
        except TimeoutError as exc:
            raise Timeout("connect timed out") from exc
        except (OSError, ssl.SSLError) as exc:
            raise ConnectError(f"{type(exc).__name__}: {exc}", for_connect_error(exc)) from exc
        return connection

    async def _exchange(
        self, connection: _Connection, origin: Origin, request: bytes, timeout: float, *, fresh: bool
    ) -> Response:
        received_before = connection.received
        try:
            assert connection.transport is not None
            connection.transport.write(request)
            # asyncio.timeout rather than wait_for: wait_for starts a task per call, a cost paid per message.
            async with asyncio.timeout(timeout):
                response, reusable = await read_response(connection)
        except BaseException as exc:
            connection.close()
            if isinstance(exc, TimeoutError):
                raise Timeout("timed out waiting for the push service") from exc
            if isinstance(exc, ConnectionClosed) and not fresh and connection.received == received_before:
                raise _ClosedUnanswered from exc
            raise
        if reusable:
            connection.idle_since = time.monotonic()
            self._idle[origin].append(connection)
        else:
            connection.close()
        return response

    async def aclose(self) -> None:
        for idle in self._idle.values():
            for connection in idle:
                connection.close()
        self._idle.clear()


class _ClosedUnanswered(Exception):
    """A reused connection closed before any byte of the answer: the request may be sent again."""
