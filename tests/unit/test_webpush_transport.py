"""The push transport: keep-alive, TLS to a checked address under the endpoint's name, timeouts, bounded bodies,
and strict parsing of whatever a push service (a host a user chose) answers."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ssl
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from server.push.http1 import MAX_BODY, ConnectError, ProtocolError, Response, Timeout
from server.push.transport import Origin, PushTransport, Timeouts
from server.push.webpush import new_http_client

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
CREATED = b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        (int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")), 0
    )
    return head + await reader.readexactly(length)


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Handler], Awaitable[int]]]:
    servers: list[asyncio.Server] = []

    async def start(handler: Handler) -> int:
        server = await asyncio.start_server(handler, "127.0.0.1", 0)
        servers.append(server)
        return int(server.sockets[0].getsockname()[1])

    yield start
    for server in servers:
        server.close()


class Client:
    """The transport with a test's defaults: plain HTTP to 127.0.0.1."""

    def __init__(self, timeout: float = 5.0, tls: ssl.SSLContext | None = None) -> None:
        self.transport = PushTransport(tls or ssl.create_default_context(), timeouts=Timeouts(timeout, timeout))

    async def post(self, port: int, body: bytes = b"x", origin: Origin | None = None) -> Response:
        origin = origin or ("http", "127.0.0.1", port, "127.0.0.1")
        return await self.transport.post(origin, "/p", [("Host", f"127.0.0.1:{port}")], body)

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.transport.aclose()


def client(timeout: float = 5.0, tls: ssl.SSLContext | None = None) -> Client:
    return Client(timeout, tls)


def answering(*answers: bytes) -> Handler:
    """A server that reads one request per answer and writes that answer, then closes."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for answer in answers:
            await read_request(reader)
            writer.write(answer)
            await writer.drain()
        writer.close()

    return handler


async def test_connections_are_kept_alive(serve: Callable[[Handler], Awaitable[int]]) -> None:
    connections: list[int] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        while True:
            try:
                request = await read_request(reader)
            except asyncio.IncompleteReadError:
                return
            assert request.endswith(b"hello")
            writer.write(CREATED)

    port = await serve(handler)
    async with client() as http:
        for _ in range(5):
            assert (await http.post(port, b"hello")).status == 201
    assert len(connections) == 1


async def test_an_idle_connection_closed_by_the_server_is_replaced(serve: Callable[[Handler], Awaitable[int]]) -> None:
    connections: list[int] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        await read_request(reader)
        writer.write(CREATED)
        await writer.drain()
        writer.close()  # closes without saying so (no Connection: close), as idle timeouts do

    port = await serve(handler)
    async with client() as http:
        for _ in range(3):
            assert (await http.post(port)).status == 201
    assert len(connections) == 3


async def test_a_silent_server_times_out(serve: Callable[[Handler], Awaitable[int]]) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # never answers

    port = await serve(handler)
    async with client(timeout=0.3) as http:
        with pytest.raises(Timeout):
            await http.post(port)


async def test_refused_connection_is_a_connect_error() -> None:
    async with client() as http:
        with pytest.raises(ConnectError):
            await http.post(9)


async def test_a_huge_answer_is_cut_and_the_connection_dropped(serve: Callable[[Handler], Awaitable[int]]) -> None:
    connections: list[int] = []
    huge = b"y" * (MAX_BODY * 4)

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        while True:
            try:
                await read_request(reader)
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: %d\r\n\r\n" % len(huge) + huge)

    port = await serve(handler)
    async with client() as http:
        first = await http.post(port)
        assert (first.status, len(first.body)) == (400, MAX_BODY)
        await http.post(port)
    assert len(connections) == 2


def self_signed(name: str, directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


async def test_tls_goes_to_the_address_but_checks_the_name(tmp_path: Path) -> None:
    """The socket goes to the checked IP; SNI and the certificate check use the endpoint's host name."""
    cert, key = self_signed("push.example.test", tmp_path)
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(cert, key)
    seen_hosts: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["content-length"]))
            seen_hosts.append(self.headers["host"])
            self.send_response(201)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = server_tls.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    port = server.server_address[1]
    trusting = ssl.create_default_context(cafile=str(cert))
    transport = PushTransport(trusting)
    headers = [("Host", f"push.example.test:{port}")]
    try:
        ok = await transport.post(("https", "127.0.0.1", port, "push.example.test"), "/push/1", headers, b"x")
        assert ok.status == 201
        with pytest.raises(ConnectError, match=r"(?i)certificate"):
            await transport.post(("https", "127.0.0.1", port, "evil.example.test"), "/push/1", headers, b"x")
    finally:
        await transport.aclose()
        server.shutdown()
        server.server_close()
    assert seen_hosts == [f"push.example.test:{port}"]


async def test_chunked_answer_with_retry_after_is_read_and_the_connection_kept(
    serve: Callable[[Handler], Awaitable[int]],
) -> None:
    chunked = (
        b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 7\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"4;ext=1\r\nslow\r\n5\r\n down\r\n0\r\nX-Trailer: t\r\n\r\n"
    )
    connections: list[int] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        await answering(chunked, CREATED)(reader, writer)

    port = await serve(handler)
    async with client() as http:
        first = await http.post(port)
        assert (first.status, first.headers["retry-after"], first.body) == (429, "7", b"slow down")
        assert (await http.post(port)).status == 201
    assert len(connections) == 1


async def test_interim_answers_are_skipped(serve: Callable[[Handler], Awaitable[int]]) -> None:
    port = await serve(answering(b"HTTP/1.1 100 Continue\r\n\r\n" + CREATED))
    async with client() as http:
        assert (await http.post(port)).status == 201


async def test_connection_close_and_http_1_0_are_not_reused(serve: Callable[[Handler], Awaitable[int]]) -> None:
    connections: list[int] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        await read_request(reader)
        writer.write(b"HTTP/1.1 201 Created\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            await read_request(reader)  # a second request on this connection would be answered, and counted
            writer.write(CREATED)
            connections.append(99)

    port = await serve(handler)
    async with client() as http:
        for _ in range(2):
            assert (await http.post(port)).status == 201
    assert connections == [1, 1]


async def test_body_without_length_is_read_to_the_close(serve: Callable[[Handler], Awaitable[int]]) -> None:
    port = await serve(answering(b"HTTP/1.0 400 Bad Request\r\n\r\nno such subscription"))
    async with client() as http:
        answer = await http.post(port)
    assert (answer.status, answer.body) == (400, b"no such subscription")


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/2 201 Created\r\n\r\n",
        b"ICY 200 OK\r\n\r\n",
        b"HTTP/1.1 201 Created\r\nbad header\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 201 Created\r\nX: a\r\n folded\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 201 Created\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx",
        b"HTTP/1.1 201 Created\r\nContent-Length: +1\r\n\r\nx",
        b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n1_0\r\n",
        b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY0\r\n\r\n",
        b"HTTP/1.1 201 Created\r\nContent-Length: 10\r\n\r\nshort",
        b"HTTP/1.1 201 Created\r\nX-Long: " + b"a" * 20_000 + b"\r\n\r\n",
        b"HTTP/1.1 101 Switching Protocols\r\n\r\n",
    ],
    ids=[
        "http2",
        "not-http",
        "no-colon",
        "folded",
        "two-lengths",
        "signed-length",
        "bad-chunk",
        "chunk-overrun",
        "cut-short",
        "huge-head",
        "switching",
    ],
)
async def test_malformed_answers_are_protocol_errors(serve: Callable[[Handler], Awaitable[int]], answer: bytes) -> None:
    port = await serve(answering(answer))
    async with client(timeout=2.0) as http:
        with pytest.raises(ProtocolError):
            await http.post(port)


async def test_line_breaks_cannot_reach_the_request_head() -> None:
    transport = PushTransport(ssl.create_default_context())
    origin = ("http", "127.0.0.1", 9, "127.0.0.1")
    with pytest.raises(ValueError, match="unsafe"):
        await transport.post(origin, "/p", [("Host", "a"), ("Topic", "x\r\nEvil: 1")], b"")
    with pytest.raises(ValueError, match="unsafe"):
        await transport.post(origin, "/p HTTP/1.1\r\nEvil: 1", [("Host", "a")], b"")


async def test_the_senders_httpx_client_posts_through_it(serve: Callable[[Handler], Awaitable[int]]) -> None:
    seen: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await read_request(reader))
        writer.write(b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 7\r\nContent-Length: 4\r\n\r\nslow")
        await writer.drain()
        writer.close()

    port = await serve(handler)
    async with new_http_client() as http:
        response = await http.post(f"http://127.0.0.1:{port}/p?x=1", content=b"hello", headers={"TTL": "60"})
        assert (response.status_code, response.headers["retry-after"], response.content) == (429, "7", b"slow")
        with pytest.raises(httpx.UnsupportedProtocol):
            await http.get(f"http://127.0.0.1:{port}/p")
    request = seen[0].decode()
    assert request.startswith("POST /p?x=1 HTTP/1.1\r\n") and request.endswith("\r\n\r\nhello")
    assert request.lower().count("content-length:") == 1 and "ttl: 60" in request.lower()
