"""The push transport: keep-alive, TLS to a checked address under the endpoint's name, timeouts, bounded bodies."""

from __future__ import annotations

import asyncio
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

from server.push_transport import MAX_BODY, PushTransport

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


def client(timeout: float = 5.0, tls: ssl.SSLContext | None = None) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=PushTransport(tls or ssl.create_default_context()), timeout=timeout)


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
            assert (await http.post(f"http://127.0.0.1:{port}/p", content=b"hello")).status_code == 201
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
            assert (await http.post(f"http://127.0.0.1:{port}/p", content=b"x")).status_code == 201
    assert len(connections) == 3


async def test_a_silent_server_times_out(serve: Callable[[Handler], Awaitable[int]]) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # never answers

    port = await serve(handler)
    async with client(timeout=0.3) as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.post(f"http://127.0.0.1:{port}/p", content=b"x")


async def test_refused_connection_is_a_connect_error() -> None:
    async with client() as http:
        with pytest.raises(httpx.ConnectError):
            await http.post("http://127.0.0.1:9/p", content=b"x")


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
        first = await http.post(f"http://127.0.0.1:{port}/p", content=b"x")
        assert (first.status_code, len(first.content)) == (400, MAX_BODY)
        await http.post(f"http://127.0.0.1:{port}/p", content=b"x")
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
    try:
        async with client(tls=trusting) as http:
            url = f"https://127.0.0.1:{port}/push/1"
            headers = {"Host": f"push.example.test:{port}"}
            ok = await http.post(url, content=b"x", headers=headers, extensions={"sni_hostname": "push.example.test"})
            assert ok.status_code == 201
            with pytest.raises(httpx.ConnectError, match=r"(?i)certificate"):
                await http.post(url, content=b"x", headers=headers, extensions={"sni_hostname": "evil.example.test"})
    finally:
        server.shutdown()
        server.server_close()
    assert seen_hosts == [f"push.example.test:{port}"]
