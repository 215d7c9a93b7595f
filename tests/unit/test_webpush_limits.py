"""One user's endpoints cannot hold back another's messages, and what a failed message records is a fixed category:
never the endpoint's answer or an exception's text (a read-back and port-scan oracle)."""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import pytest

from server.push.failures import CATEGORIES, Failure, for_connect_error, shown
from server.push.guard import EndpointGuard, HostUnresolvable, IPAddress
from server.push.limits import PerKeyLimit, PerKeyRate
from server.push.retries import TEST, Outcome, RetryPolicy
from server.push.transport import PushTransport, Timeouts
from server.push.vapid import VapidKeys, generate_keys
from server.push.webpush import Encryptor, PushSender, PushTarget, new_http_client
from tests.pushsink import PushSink, Tarpit

FAST = RetryPolicy(max_attempts=2, base_delay=0.05, max_delay=1.0)
SECRET = b"root:x:0:0:root:/root:/bin/bash SECRET-ANSWER"
Serve = Callable[[bytes], Awaitable[int]]


@pytest.fixture(scope="module")
def keys() -> VapidKeys:
    return generate_keys()


@pytest.fixture
def tarpit() -> Iterator[Tarpit]:
    with Tarpit() as tarpit:
        yield tarpit


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """A server on 127.0.0.1 that writes `answer` to every connection (after reading the request, if any)."""
    servers: list[asyncio.Server] = []

    async def start(answer: bytes) -> int:
        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(answer)
            await writer.drain()
            await asyncio.sleep(0.1)
            writer.close()

        server = await asyncio.start_server(handler, "127.0.0.1", 0)
        servers.append(server)
        return int(server.sockets[0].getsockname()[1])

    yield start
    for server in servers:
        server.close()


def sender_for(keys: VapidKeys, guard: EndpointGuard | None = None, per_owner: int = 10, **client: int) -> PushSender:
    encryptor = Encryptor(keys, subject="mailto:ops@example.org", ttl=3600)
    guard = guard or EndpointGuard(allow_loopback=True)
    return PushSender(encryptor, guard, new_http_client(**client), FAST, per_owner=per_owner)


def target(endpoint: str, sink: PushSink) -> PushTarget:
    keys = sink.subscription()["keys"]
    return PushTarget(endpoint, keys["p256dh"], keys["auth"])


def answer(status: str, body: bytes = SECRET) -> bytes:
    return f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body


@pytest.mark.parametrize(
    ("reply", "scheme", "expected"),
    [
        (answer("400 Bad Request"), "http", Failure.HTTP_4XX),
        (answer("403 Forbidden"), "http", Failure.HTTP_4XX),
        (answer("302 Found"), "http", Failure.HTTP_3XX),
        (answer("500 Internal Server Error"), "http", Failure.HTTP_5XX),
        (b"SSH-2.0-OpenSSH_9.2 " + SECRET + b"\r\n\r\n", "http", Failure.PROTOCOL),
        (b"HTTP/1.1 200 OK\r\n\r\n" + SECRET, "https", Failure.TLS),  # not TLS on a port the endpoint says is
    ],
)
async def test_a_failure_records_its_category_never_the_answer(
    keys: VapidKeys, serve: Serve, reply: bytes, scheme: str, expected: Failure
) -> None:
    port = await serve(reply)
    with PushSink() as sink:
        sender = sender_for(keys)
        result = await sender.send(b"{}", target(f"{scheme}://127.0.0.1:{port}/push/x", sink))
        await sender.client.aclose()
    assert (result.outcome, result.error) == (Outcome.FAILED, expected)
    assert result.error in CATEGORIES


async def test_a_closed_port_is_connection_refused(keys: VapidKeys) -> None:
    with PushSink() as sink:
        sender = sender_for(keys)
        result = await sender.send(b"{}", target("http://127.0.0.1:9/push/x", sink))
        await sender.client.aclose()
    assert (result.outcome, result.status, result.error) == (Outcome.FAILED, None, Failure.REFUSED)


async def test_a_host_that_does_not_resolve_is_dns(keys: VapidKeys) -> None:
    async def resolver(host: str, port: int) -> tuple[IPAddress, ...]:
        raise HostUnresolvable("no such host")

    with PushSink() as sink:
        sender = sender_for(keys, EndpointGuard(allow_loopback=False, resolver=resolver))
        result = await sender.send(b"{}", target("https://push.example.net/x", sink))
        await sender.client.aclose()
    assert (result.outcome, result.error) == (Outcome.FAILED, Failure.DNS)


async def test_a_host_that_now_resolves_privately_is_not_allowed(keys: VapidKeys) -> None:
    async def resolver(host: str, port: int) -> tuple[IPAddress, ...]:
        return (ipaddress.ip_address("192.0.0.8"),)

    with PushSink() as sink:
        sender = sender_for(keys, EndpointGuard(allow_loopback=False, resolver=resolver))
        result = await sender.send(b"{}", target("https://push.example.net/x", sink))
        await sender.client.aclose()
    assert (result.outcome, result.error) == (Outcome.FAILED, Failure.NOT_ALLOWED)


async def test_a_test_message_gives_up_on_a_silent_endpoint_quickly(keys: VapidKeys, tarpit: Tarpit) -> None:
    with PushSink() as sink:
        sender = sender_for(keys)
        started = time.monotonic()
        result = await sender.send(b"{}", target(tarpit.endpoint(), sink), profile=TEST)
        elapsed = time.monotonic() - started
        await sender.client.aclose()
    assert (result.outcome, result.attempts, result.error) == (Outcome.FAILED, 1, Failure.TIMEOUT)
    assert TEST.timeouts.exchange <= elapsed < 2 * TEST.timeouts.exchange + 2  # the default would be 10 s, retried


@pytest.mark.parametrize(
    ("error", "status", "expected"),
    [
        (None, 201, None),
        ("timeout", None, "timeout"),
        ("HTTP 400 root:x:0:0:root:/root", 400, "http 4xx"),
        ("could not connect (ConnectError: ConnectionRefusedError: [Errno 111] Connect call failed)", None, None),
        ("gave up: HTTP 503 <html>internal host name</html>", 503, "http 5xx"),
    ],
)
def test_records_written_before_the_categories_are_shown_as_one(
    error: str | None, status: int | None, expected: str | None
) -> None:
    assert shown(error, status) == (expected if expected or error is None else "connection failed")


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (ConnectionRefusedError(111, "refused"), Failure.REFUSED),
        (ConnectionResetError(104, "reset"), Failure.RESET),
        (OSError(113, "No route to host"), Failure.UNREACHABLE),
        (ssl.SSLCertVerificationError("certificate verify failed"), Failure.TLS),
        (OSError(24, "Too many open files"), Failure.CONNECTION),
    ],
)
def test_connect_errors_map_to_categories(exc: BaseException, expected: Failure) -> None:
    assert for_connect_error(exc) == expected


async def test_one_users_silent_endpoints_do_not_hold_back_anothers(keys: VapidKeys, tarpit: Tarpit) -> None:
    """Fewer global slots than one user's messages to endpoints that never answer: another user's message still goes
    at once, because a user holds at most `per_owner` slots (it used to wait for the 10 s timeouts)."""
    sender = sender_for(keys, per_owner=3, max_in_flight=4, connections_per_origin=64)
    with PushSink() as sink:
        stuck = [
            asyncio.create_task(sender.send(b"{}", target(tarpit.endpoint(), sink), owner="mallory")) for _ in range(20)
        ]
        await wait_until(lambda: tarpit.open == 3)
        started = time.monotonic()
        sub = sink.subscription()
        alice = PushTarget(sub["endpoint"], sub["keys"]["p256dh"], sub["keys"]["auth"])
        result = await sender.send(b"{}", alice, owner="alice")
        assert result.outcome is Outcome.DELIVERED
        assert time.monotonic() - started < 5  # generous: only catches waiting for a 10 s timeout
        assert tarpit.most_open == 3 and sender.per_owner.holding("mallory") == 20
        for task in stuck:
            task.cancel()
        await asyncio.gather(*stuck, return_exceptions=True)
    await sender.client.aclose()
    assert sender.per_owner.holding("mallory") == 0


async def test_requests_queued_on_a_slow_origin_hold_no_global_slot(tarpit: Tarpit, serve: Serve) -> None:
    """A request takes its origin's slot first and a global one only then."""
    transport = PushTransport(ssl.create_default_context(), connections_per_origin=2, max_in_flight=3)
    slow = ("http", "127.0.0.1", tarpit.port, "127.0.0.1")
    stuck = [asyncio.create_task(transport.post(slow, "/p", [("Host", "slow")], b"x")) for _ in range(10)]
    await wait_until(lambda: tarpit.open == 2)
    port = await serve(answer("201 Created", b""))
    fast = ("http", "127.0.0.1", port, "127.0.0.1")
    response = await asyncio.wait_for(transport.post(fast, "/p", [("Host", "fast")], b"x", Timeouts(2, 2)), 5)
    assert response.status == 201
    for task in stuck:
        task.cancel()
    await asyncio.gather(*stuck, return_exceptions=True)
    await transport.aclose()


async def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def test_per_key_limit_keeps_no_entry_for_idle_keys() -> None:
    limit = PerKeyLimit(2)
    inside = 0
    most = 0

    async def one() -> None:
        nonlocal inside, most
        async with limit.hold("k"):
            inside += 1
            most = max(most, inside)
            await asyncio.sleep(0.01)
            inside -= 1

    await asyncio.gather(*(one() for _ in range(10)))
    assert most == 2 and limit.holding("k") == 0 and not limit._entries


def test_per_key_rate_allows_a_burst_then_one_per_refill() -> None:
    now = [0.0]
    rate = PerKeyRate(burst=3, refill_seconds=60, clock=lambda: now[0])
    assert [rate.take("ana") for _ in range(3)] == [0, 0, 0]
    assert rate.take("ana") == 60
    assert rate.take("ben") == 0  # per key
    now[0] = 45.0
    assert rate.take("ana") == 15
    now[0] = 60.0
    assert rate.take("ana") == 0
    assert rate.take("ana") == 60
    now[0] = 10_000.0
    assert [rate.take("ana") for _ in range(4)] == [0, 0, 0, 60]  # refills up to the burst, not beyond


def test_per_key_rate_forgets_refilled_keys_when_full() -> None:
    now = [0.0]
    rate = PerKeyRate(burst=1, refill_seconds=1, clock=lambda: now[0])
    rate.MAX_KEYS = 3
    for key in "abc":
        rate.take(key)
    now[0] = 5.0
    rate.take("d")
    assert set(rate._buckets) == {"d"}
