"""A lean HTTP/1.1 keep-alive transport for the push sender's httpx.AsyncClient.

httpx's default transport (httpcore over anyio) spends about a millisecond of CPU per request, most of it in pool
bookkeeping; a burst of 10k reminders on a 2-core server needs a fraction of that (bench/bench_reminders.py). This
transport does only what push needs: POSTs with small bodies to a few push-service origins, on asyncio streams,
parsed by h11, with per-phase timeouts, bounded connections per origin, bounded response bodies, and TLS whose
SNI and certificate check use the endpoint's host name while the socket goes to the address the SSRF guard
checked. Everything else (Request/Response objects, headers, timeouts configuration) stays httpx's.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import defaultdict
from dataclasses import dataclass, field

import h11
import httpx

MAX_BODY = 64 * 1024
"""More than any push service answers; a larger body closes the connection instead of being read."""
IDLE_SECONDS = 30.0
"""Push services close idle connections after a while; ours are dropped before that."""

Origin = tuple[str, str, int, str]
"""scheme, address to connect to, port, TLS server name."""


@dataclass
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    protocol: h11.Connection = field(default_factory=lambda: h11.Connection(our_role=h11.CLIENT))
    idle_since: float = 0.0

    def close(self) -> None:
        self.writer.close()


class PushTransport(httpx.AsyncBaseTransport):
    def __init__(self, tls: ssl.SSLContext, connections_per_origin: int = 64) -> None:
        self.tls = tls
        self.connections_per_origin = connections_per_origin
        self._idle: dict[Origin, list[_Connection]] = defaultdict(list)
        self._slots: dict[Origin, asyncio.Semaphore] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        origin = _origin(request)
        timeouts = request.extensions.get("timeout", {})
        slots = self._slots.setdefault(origin, asyncio.Semaphore(self.connections_per_origin))
        async with slots:
            reused = self._take_idle(origin)
            if reused is not None:
                try:
                    return await self._exchange(reused, request, origin, timeouts)
                except httpx.RemoteProtocolError:
                    pass  # the server closed the idle connection as we reused it: once more on a new one
            connection = await self._connect(request, origin, timeouts)
            return await self._exchange(connection, request, origin, timeouts)

    def _take_idle(self, origin: Origin) -> _Connection | None:
        idle = self._idle[origin]
        while idle:
            connection = idle.pop()
            if time.monotonic() - connection.idle_since < IDLE_SECONDS and not connection.reader.at_eof():
                return connection
            connection.close()
        return None

    async def _connect(self, request: httpx.Request, origin: Origin, timeouts: dict[str, float]) -> _Connection:
        scheme, address, port, server_name = origin
        tls = {"ssl": self.tls, "server_hostname": server_name} if scheme == "https" else {}
        try:
            async with asyncio.timeout(timeouts.get("connect")):
                reader, writer = await asyncio.open_connection(address, port, **tls)
        except TimeoutError as exc:
            raise httpx.ConnectTimeout("connect timed out", request=request) from exc
        except (OSError, ssl.SSLError) as exc:
            raise httpx.ConnectError(f"{type(exc).__name__}: {exc}", request=request) from exc
        return _Connection(reader, writer)

    async def _exchange(
        self, connection: _Connection, request: httpx.Request, origin: Origin, timeouts: dict[str, float]
    ) -> httpx.Response:
        try:
            status, headers, body, reusable = await self._round_trip(connection, request, timeouts)
        except BaseException:
            connection.close()
            raise
        if reusable:
            connection.protocol.start_next_cycle()
            connection.idle_since = time.monotonic()
            self._idle[origin].append(connection)
        else:
            connection.close()
        return httpx.Response(status, headers=headers, content=body, request=request)

    async def _round_trip(
        self, connection: _Connection, request: httpx.Request, timeouts: dict[str, float]
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes, bool]:
        protocol = connection.protocol
        body = await request.aread()
        target = request.url.raw_path
        headers = [(k, v) for k, v in request.headers.raw if k.lower() != b"content-length"]
        headers.append((b"Content-Length", str(len(body)).encode()))
        data = protocol.send(h11.Request(method=request.method, target=target, headers=headers))
        data += (protocol.send(h11.Data(data=body)) or b"") + (protocol.send(h11.EndOfMessage()) or b"")
        connection.writer.write(data)
        try:
            # asyncio.timeout rather than wait_for: wait_for starts a task per call, a cost paid per message.
            async with asyncio.timeout(timeouts.get("write")):
                await connection.writer.drain()
            return await _read_response(connection, timeouts.get("read"))
        except TimeoutError as exc:
            raise httpx.ReadTimeout("timed out waiting for the push service", request=request) from exc
        except (OSError, h11.ProtocolError) as exc:
            raise httpx.RemoteProtocolError(f"{type(exc).__name__}: {exc}", request=request) from exc

    async def aclose(self) -> None:
        for idle in self._idle.values():
            for connection in idle:
                connection.close()
        self._idle.clear()


async def _read_response(
    connection: _Connection, read_timeout: float | None
) -> tuple[int, list[tuple[bytes, bytes]], bytes, bool]:
    protocol, reader = connection.protocol, connection.reader
    status, headers, body = 0, [], b""
    while True:
        event = protocol.next_event()
        if event is h11.NEED_DATA:
            async with asyncio.timeout(read_timeout):
                chunk = await reader.read(65536)
            protocol.receive_data(chunk)  # b"" tells h11 the peer closed
        elif isinstance(event, h11.Response):
            status, headers = event.status_code, list(event.headers)
        elif isinstance(event, h11.Data):
            body += event.data
            if len(body) > MAX_BODY:
                return status, headers, body[:MAX_BODY], False
        elif isinstance(event, h11.EndOfMessage):
            reusable = protocol.our_state is h11.DONE and protocol.their_state is h11.DONE
            return status, headers, body, reusable
        elif isinstance(event, h11.ConnectionClosed):
            raise h11.RemoteProtocolError("connection closed before a full response")


def _origin(request: httpx.Request) -> Origin:
    url = request.url
    port = url.port or (443 if url.scheme == "https" else 80)
    server_name = str(request.extensions.get("sni_hostname") or url.host)
    return url.scheme, url.host, port, server_name
