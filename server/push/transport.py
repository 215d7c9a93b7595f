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
import re
import ssl
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from server.push.failures import Failure, for_connect_error

MAX_HEAD = 16 * 1024
MAX_BODY = 64 * 1024
"""More than any push service answers; a longer body is cut and its connection closed instead of being read."""
IDLE_SECONDS = 30.0
"""Push services close idle connections after a while; ours are dropped before that."""

Origin = tuple[str, str, int, str]
"""scheme, address to connect to, port, TLS server name."""

_STATUS_LINE = re.compile(r"HTTP/1\.([01]) ([1-9][0-9][0-9])(?: [^\r\n]*)?")
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_UNSAFE = re.compile(r"[\x00-\x1f\x7f]")
_DIGITS = re.compile(r"[0-9]{1,18}")
_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,15}")


class TransportError(Exception):
    """The exchange failed before a complete answer arrived: worth another attempt later."""

    failure = Failure.CONNECTION
    """What the delivery record may say about it (the message is for the log only)."""


class ConnectError(TransportError):
    def __init__(self, message: str, failure: Failure = Failure.CONNECTION) -> None:
        super().__init__(message)
        self.failure = failure


class Timeout(TransportError):
    failure = Failure.TIMEOUT


class ProtocolError(TransportError):
    """The peer answered something that is not well-formed HTTP/1.1, or closed before a full answer."""

    failure = Failure.PROTOCOL


class ConnectionClosed(ProtocolError):
    pass


@dataclass(frozen=True)
class Timeouts:
    connect: float = 5.0
    exchange: float = 10.0
    """From writing the request to the end of the response."""


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    """Lower-case names; a repeated header keeps its last value."""
    body: bytes


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
        request = _request_bytes(target, headers, body)
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
                response, reusable = await _read_response(connection)
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


def _request_bytes(target: str, headers: Sequence[tuple[str, str]], body: bytes) -> bytes:
    lines = [f"POST {target} HTTP/1.1"]
    for name, value in headers:
        # The values come from a stored endpoint and our own code; a line break would smuggle a header in.
        if _UNSAFE.search(value) or not _HEADER_NAME.fullmatch(name):
            raise ValueError(f"unsafe header {name!r}")
        lines.append(f"{name}: {value}")
    if _UNSAFE.search(target) or " " in target:
        raise ValueError("unsafe request target")
    lines.append(f"Content-Length: {len(body)}\r\n\r\n")
    return "\r\n".join(lines).encode("ascii") + body


async def _read_response(connection: _Connection) -> tuple[Response, bool]:
    """The response and whether the connection can carry another request."""
    while True:
        status, headers, keep_alive = _parse_head(await connection.read_until(b"\r\n\r\n", MAX_HEAD))
        if status == 101:
            raise ProtocolError("unexpected 101 Switching Protocols")
        if status >= 200:
            break
        # 100 Continue, 103 Early Hints: interim answers, the real one follows.
    body, complete = await _read_body(connection, status, headers)
    return Response(status, headers, body), keep_alive and complete


def _parse_head(head: bytes) -> tuple[int, dict[str, str], bool]:
    lines = head[:-4].decode("latin-1").split("\r\n")
    match = _STATUS_LINE.fullmatch(lines[0])
    if match is None:
        raise ProtocolError(f"not an HTTP/1.x status line: {lines[0][:80]!r}")
    headers: dict[str, str] = {}
    lengths: set[str] = set()
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon or not _HEADER_NAME.fullmatch(name):  # also refuses obsolete line folding
            raise ProtocolError(f"malformed header line: {line[:80]!r}")
        name, value = name.lower(), value.strip(" \t")
        if name == "content-length":
            lengths.add(value)
        headers[name] = value
    if len(lengths) > 1:
        raise ProtocolError("conflicting Content-Length headers")
    connection_tokens = {t.strip().lower() for t in headers.get("connection", "").split(",")}
    keep_alive = match[1] == "1" and "close" not in connection_tokens
    return int(match[2]), headers, keep_alive


async def _read_body(connection: _Connection, status: int, headers: dict[str, str]) -> tuple[bytes, bool]:
    """The body (at most MAX_BODY bytes) and whether it was read to its end."""
    if status in (204, 304):
        return b"", True
    if "transfer-encoding" in headers:
        if headers["transfer-encoding"].rsplit(",", 1)[-1].strip().lower() == "chunked":
            return await _read_chunked(connection)
        return await connection.read_to_close(MAX_BODY), False
    if "content-length" in headers:
        length = headers["content-length"]
        if not _DIGITS.fullmatch(length):
            raise ProtocolError(f"invalid Content-Length {length[:20]!r}")
        if int(length) > MAX_BODY:
            return await connection.read_exactly(MAX_BODY), False
        return await connection.read_exactly(int(length)), True
    return await connection.read_to_close(MAX_BODY), False


async def _read_chunked(connection: _Connection) -> tuple[bytes, bool]:
    body = b""
    while True:
        size_line = (await connection.read_until(b"\r\n", 1024))[:-2].split(b";", 1)[0].rstrip(b" \t")
        if not _CHUNK_SIZE.fullmatch(size_line):
            raise ProtocolError(f"invalid chunk size {size_line[:20]!r}")
        size = int(size_line, 16)
        if size == 0:
            while await connection.read_until(b"\r\n", MAX_HEAD) != b"\r\n":
                pass  # trailer fields: not needed
            return body, True
        if len(body) + size > MAX_BODY:
            return body + await connection.read_exactly(MAX_BODY - len(body)), False
        body += await connection.read_exactly(size)
        if await connection.read_exactly(2) != b"\r\n":
            raise ProtocolError("chunk not followed by CRLF")
