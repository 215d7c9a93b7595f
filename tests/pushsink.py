"""A local push service for tests: HTTP on 127.0.0.1 in a thread.

It checks each message the way a real push service and browser would, with code independent of ours: it verifies
the VAPID JWT (ES256) against the key the server serves, decrypts the body with `http_ece`, and checks the
headers. Each subscription it hands out can be told how to answer (410, or 500 then 201, ...).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import http_ece
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

_VAPID = re.compile(r"vapid\s+t=([^,\s]+),\s*k=([A-Za-z0-9_-]+)")
_TOPIC = re.compile(r"[A-Za-z0-9_-]{1,32}")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Received:
    """One message as the push service saw it; `errors` lists every check that failed."""

    subscription_id: str
    status: int
    """What the sink answered."""
    headers: dict[str, str]
    body: bytes
    at: float
    """time.time() when it arrived."""
    plaintext: bytes | None = None
    claims: dict[str, Any] | None = None
    errors: list[str] = field(default_factory=list)

    @property
    def payload(self) -> Any:
        assert self.plaintext is not None, f"message was not decrypted: {self.errors}"
        return json.loads(self.plaintext)


@dataclass
class _Subscriber:
    id: str
    private_key: ec.EllipticCurvePrivateKey
    auth: bytes
    audience: str
    answers: deque[tuple[int, dict[str, str]]] = field(default_factory=deque)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # the default 5 drops bursts of connections, which then retry a second later


class PushSink:
    def __init__(self, vapid_public_key: str | None = None, min_ttl: int = 3600) -> None:
        self.vapid_public_key = vapid_public_key
        """The applicationServerKey the app serves; when set, the JWT must verify against it."""
        self.min_ttl = min_ttl
        self.received: list[Received] = []
        self._subscribers: dict[str, _Subscriber] = {}
        self._changed = threading.Condition()
        self._server = _Server(("127.0.0.1", 0), self._handler_class())
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="pushsink", daemon=True)

    def __enter__(self) -> PushSink:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def subscription(self, host: str = "127.0.0.1") -> dict[str, Any]:
        """A new browser-like subscription (`subscription.toJSON()`), pointing at this sink."""
        private_key = ec.generate_private_key(ec.SECP256R1())
        subscriber = _Subscriber(uuid.uuid4().hex, private_key, os.urandom(16), f"http://{host}")
        self._subscribers[subscriber.id] = subscriber
        point = private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return {
            "endpoint": f"http://{host}:{self.port}/push/{subscriber.id}",
            "expirationTime": None,
            "keys": {"p256dh": b64url(point), "auth": b64url(subscriber.auth)},
        }

    def answer(self, subscription: dict[str, Any], *statuses: int | tuple[int, dict[str, str]]) -> None:
        """Answer the next messages to this subscription with these statuses (then 201 again)."""
        subscriber = self._subscribers[_subscription_id(subscription["endpoint"])]
        for status in statuses:
            subscriber.answers.append(status if isinstance(status, tuple) else (status, {}))

    def messages(self, subscription: dict[str, Any] | None = None) -> list[Received]:
        with self._changed:
            if subscription is None:
                return list(self.received)
            wanted = _subscription_id(subscription["endpoint"])
            return [r for r in self.received if r.subscription_id == wanted]

    def wait_for(self, count: int, timeout: float = 5.0, subscription: dict[str, Any] | None = None) -> list[Received]:
        """Block until `count` messages (to this subscription, if given) arrived; fail after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(got := self.messages(subscription)) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"expected {count} push messages within {timeout}s, got {len(got)}")
                self._changed.wait(remaining)
            return got

    def _handle(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str]]:
        subscriber = self._subscribers.get(path.removeprefix("/push/"))
        if subscriber is None:
            return 404, {}
        received = Received(subscriber.id, 201, headers, body, time.time())
        received.errors.extend(self._check_headers(headers))
        received.claims = self._verify_vapid(headers, subscriber.audience, received.errors)
        received.plaintext = _decrypt(subscriber, body, received.errors)
        status, extra = subscriber.answers.popleft() if subscriber.answers else (201, {})
        if received.errors and status < 300:
            status = 400  # a real push service would refuse a message that fails its checks
        received.status = status
        with self._changed:
            self.received.append(received)
            self._changed.notify_all()
        return status, extra

    def _check_headers(self, headers: dict[str, str]) -> list[str]:
        errors = []
        ttl = headers.get("ttl", "")
        if not ttl.isdigit() or int(ttl) < self.min_ttl:
            errors.append(f"TTL {ttl!r} is not an integer >= {self.min_ttl}")
        if headers.get("urgency") != "high":
            errors.append(f"Urgency is {headers.get('urgency')!r}, not 'high'")
        if "topic" in headers and not _TOPIC.fullmatch(headers["topic"]):
            errors.append(f"Topic {headers['topic']!r} is not 1-32 base64url characters")
        if headers.get("content-encoding") != "aes128gcm":
            errors.append(f"Content-Encoding is {headers.get('content-encoding')!r}")
        return errors

    def _verify_vapid(self, headers: dict[str, str], audience: str, errors: list[str]) -> dict[str, Any] | None:
        match = _VAPID.fullmatch(headers.get("authorization", "").strip())
        if match is None:
            errors.append("Authorization is not 'vapid t=..., k=...'")
            return None
        token, key = match.groups()
        if self.vapid_public_key is not None and key != self.vapid_public_key:
            errors.append("k= is not the server's applicationServerKey")
        try:
            public_key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64url_decode(key))
            # aud is scheme://host without the port (RFC 8292 section 2); PyJWT checks exp is in the future.
            claims: dict[str, Any] = jwt.decode(
                token,
                public_key,
                algorithms=["ES256"],
                audience=audience,
                options={"require": ["aud", "exp", "sub"]},
            )
        except (jwt.PyJWTError, ValueError) as exc:
            errors.append(f"VAPID JWT does not verify: {exc}")
            return None
        if claims["exp"] > time.time() + 24 * 3600:
            errors.append("VAPID JWT expires more than 24 hours ahead")
        if not str(claims["sub"]).startswith(("mailto:", "https:")):
            errors.append(f"VAPID sub {claims['sub']!r} is not a mailto: or https: URL")
        return claims

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the server's pooled client expects

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                body = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                status, extra = sink._handle(self.path, headers, body)
                self.send_response(status)
                for name, value in extra.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


def _decrypt(subscriber: _Subscriber, body: bytes, errors: list[str]) -> bytes | None:
    try:
        return bytes(
            http_ece.decrypt(body, private_key=subscriber.private_key, auth_secret=subscriber.auth, version="aes128gcm")
        )
    except Exception as exc:  # http_ece raises several types for bad input; any of them means "not decryptable"
        errors.append(f"body does not decrypt: {type(exc).__name__}: {exc}")
        return None


def _subscription_id(endpoint: str) -> str:
    return endpoint.rsplit("/", 1)[-1]


class Tarpit:
    """A push service that accepts connections and reads whatever arrives, but never answers: the slowest endpoint a
    user can point the server at. Runs its own event loop in a thread; counts the connections open at once."""

    def __init__(self) -> None:
        self.open = 0
        self.most_open = 0
        self.accepted = 0
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task[Any]] = set()
        self._thread = threading.Thread(target=self._loop.run_forever, name="tarpit", daemon=True)
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(5)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def _start(self) -> asyncio.Server:
        return await asyncio.start_server(self._hold, "127.0.0.1", 0, backlog=1024)

    async def _hold(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self.accepted += 1
        self.open += 1
        self.most_open = max(self.most_open, self.open)
        self._writers.add(writer)
        try:
            while await reader.read(65536):
                pass
        except OSError:
            pass
        finally:
            self.open -= 1
            self._writers.discard(writer)
            writer.close()

    def endpoint(self, name: str = "") -> str:
        return f"http://127.0.0.1:{self.port}/push/tarpit-{name or uuid.uuid4().hex}"

    def subscription(self) -> dict[str, Any]:
        """A browser-like subscription whose endpoint is this tarpit (valid keys, so it passes every check)."""
        private_key = ec.generate_private_key(ec.SECP256R1())
        point = private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        keys = {"p256dh": b64url(point), "auth": b64url(os.urandom(16))}
        return {"endpoint": self.endpoint(), "expirationTime": None, "keys": keys}

    def __enter__(self) -> Tarpit:
        return self

    def __exit__(self, *exc: object) -> None:
        async def stop() -> None:
            assert self._server is not None
            self._server.close()
            for writer in list(self._writers):
                writer.close()
            if self._handlers:
                await asyncio.wait(list(self._handlers), timeout=2)

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()


async def another_device(client: Any, email: str, password: str, name: str = "another device") -> dict[str, str]:
    """Headers for a new device of the account (a login): a device keeps one push subscription, so a test that
    wants several for one user subscribes from several devices, as a person with a phone and a laptop does."""
    body = {"email": email, "password": password, "device_name": name}
    response = await client.post("/api/auth/login", json=body)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}
