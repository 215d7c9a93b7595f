"""Web Push messages: encrypted (RFC 8291 aes128gcm) with the `webpush` package, signed with VAPID (RFC 8292) and
sent (RFC 8030) with one pooled httpx client. The only module that imports `webpush`."""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import logging
import re
import ssl
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
import jwt
from webpush import WebPush
from webpush.types import WebPushSubscription

from server.push.failures import Failure, for_status
from server.push.guard import EndpointGuard, EndpointRefused, HostUnresolvable, ResolvedEndpoint
from server.push.http1 import Timeout, TransportError
from server.push.limits import PerKeyLimit
from server.push.retries import REMINDER, Outcome, Profile, RetryPolicy, classify, parse_retry_after
from server.push.transport import PushTransport, Timeouts
from server.push.vapid import VapidKeys

MAX_PAYLOAD_BYTES = 3072
"""The contract's limit; the protocol allows 4096 bytes of ciphertext, which leaves room for the record overhead."""
JWT_LIFETIME = 12 * 3600  # RFC 8292 allows at most 24 hours
JWT_RENEW_BEFORE = 3600
_TOPIC = re.compile(r"[A-Za-z0-9_-]{1,32}")

# httpx logs every request at INFO; a burst of reminders would flood the log (and spend its CPU doing so).
logging.getLogger("httpx").setLevel(logging.WARNING)


@dataclass(frozen=True)
class PushTarget:
    endpoint: str
    p256dh: str
    auth: str


@dataclass(frozen=True)
class Attempt:
    outcome: Outcome
    status: int | None
    retry_after: float | None = None
    error: Failure | None = None


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    """DELIVERED, GONE or FAILED: never RETRY."""
    status: int | None
    attempts: int
    error: Failure | None = None
    """A fixed category, never the endpoint's answer or an exception's text (see failures.py)."""
    finished_at: datetime = field(default_factory=lambda: datetime.now(UTC))


def topic_for(key: str) -> str:
    """A Topic header value (at most 32 base64url characters) that stays the same for the same key, e.g. a note id."""
    compact = key.replace("-", "")
    if _TOPIC.fullmatch(compact):
        return compact
    return base64.urlsafe_b64encode(hashlib.sha256(key.encode()).digest()).decode()[:32]


class Encryptor:
    """Encrypts payloads for one subscription each and signs the VAPID header, reusing a JWT per audience."""

    def __init__(self, keys: VapidKeys, subject: str, ttl: int) -> None:
        self.keys = keys
        self.subject = subject
        self.ttl = ttl
        # Only its encryption is used: it would sign a new JWT for every message (half the CPU of a send) and
        # it always writes `sub` as mailto:, which is wrong for an https: subject.
        self._webpush = WebPush(private_key=keys.private_pem, public_key=keys.public_pem, subscriber=subject)
        self._tokens: dict[str, tuple[float, str]] = {}

    def encrypt(self, payload: bytes, target: PushTarget, audience: str, topic: str | None) -> tuple[bytes, dict]:
        if len(payload) > MAX_PAYLOAD_BYTES:
            raise ValueError(f"payload of {len(payload)} bytes is over {MAX_PAYLOAD_BYTES}")
        subscription = WebPushSubscription.model_validate(
            {"endpoint": target.endpoint, "keys": {"p256dh": target.p256dh, "auth": target.auth}}
        )
        body = self._webpush._encrypt(payload, subscription)
        headers = {
            "TTL": str(self.ttl),
            "Urgency": "high",
            "Content-Encoding": "aes128gcm",
            "Content-Type": "application/octet-stream",
            "Authorization": self.authorization(audience),
        }
        if topic:
            headers["Topic"] = topic
        return body, headers

    def authorization(self, audience: str) -> str:
        now = time.time()
        cached = self._tokens.get(audience)
        if cached is None or cached[0] - now < JWT_RENEW_BEFORE:
            expires = int(now) + JWT_LIFETIME
            claims = {"aud": audience, "exp": expires, "sub": self.subject}
            cached = (expires, jwt.encode(claims, self.keys.private_pem, algorithm="ES256"))
            self._tokens[audience] = cached
        return f"vapid t={cached[1]}, k={self.keys.application_server_key}"


def new_http_client(max_in_flight: int = 200, connections_per_origin: int = 64) -> httpx.AsyncClient:
    """One pooled client for every push; its transport connects to the addresses the guard checked."""
    transport = PushTransport(
        ssl.create_default_context(),
        connections_per_origin=min(connections_per_origin, max_in_flight),
        timeouts=Timeouts(),
        max_in_flight=max_in_flight,
    )
    default = Timeouts()
    return httpx.AsyncClient(
        transport=_Lean(transport),
        timeout=httpx.Timeout(default.exchange, connect=default.connect),
        follow_redirects=False,
        # The guard has vetted the address we connect to; an environment proxy would connect somewhere else.
        trust_env=False,
    )


class _Lean(httpx.AsyncBaseTransport):
    """httpx's client over server/push/transport.py, which spends a tenth of the CPU of httpx's own transport per
    request (a reminder burst is CPU-bound). It only POSTs; the `sni_hostname` extension names the TLS server."""

    _FRAMING = frozenset({b"content-length", b"transfer-encoding"})  # the transport frames the body itself

    def __init__(self, inner: PushTransport) -> None:
        self.inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if request.method != "POST" or url.scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(f"cannot {request.method} {url.scheme}:", request=request)
        name = request.extensions.get("sni_hostname") or url.host
        origin = (url.scheme, url.host, url.port or (443 if url.scheme == "https" else 80), name)
        headers = [(k.decode(), v.decode()) for k, v in request.headers.raw if k.lower() not in self._FRAMING]
        timeout = request.extensions.get("timeout") or {}
        timeouts = Timeouts(timeout.get("connect") or 5.0, timeout.get("read") or 10.0)
        try:
            answer = await self.inner.post(origin, url.raw_path.decode(), headers, await request.aread(), timeouts)
        except Timeout as exc:
            raise httpx.ReadTimeout(str(exc), request=request) from exc
        except (TransportError, ValueError) as exc:
            raise httpx.ConnectError(f"{type(exc).__name__}: {exc}", request=request) from exc
        return httpx.Response(answer.status, headers=list(answer.headers.items()), content=answer.body)

    async def aclose(self) -> None:
        await self.inner.aclose()


class PushSender:
    """Sends one message to one subscription, with the retries the answer calls for.

    Each attempt holds one of its owner's `per_owner` slots (the owner is the user the message is for): one user's
    slow endpoints can keep that many exchanges waiting at once, not the transport's global slots that everybody's
    reminders share. Waiting out a backoff holds no slot.
    """

    def __init__(
        self,
        encryptor: Encryptor,
        guard: EndpointGuard,
        client: httpx.AsyncClient,
        policy: RetryPolicy | None = None,
        per_owner: int = 10,
    ) -> None:
        self.encryptor = encryptor
        self.guard = guard
        self.client = client
        self.profile = Profile(policy) if policy else REMINDER
        self.per_owner = PerKeyLimit(per_owner)

    async def send(
        self,
        payload: bytes,
        target: PushTarget,
        topic: str | None = None,
        *,
        owner: str = "",
        profile: Profile | None = None,
    ) -> Result:
        profile = profile or self.profile
        attempts = 0
        body: bytes | None = None
        headers: dict[str, str] = {}
        while True:
            attempts += 1
            try:
                # Checked before every attempt: the host may resolve elsewhere by now.
                resolved = await self.guard.check(target.endpoint)
                if body is None:
                    body, headers = self.encryptor.encrypt(payload, target, resolved.origin, topic)
            except HostUnresolvable:
                return Result(Outcome.FAILED, None, attempts, Failure.DNS)
            except EndpointRefused:
                return Result(Outcome.FAILED, None, attempts, Failure.NOT_ALLOWED)
            except ValueError:
                return Result(Outcome.FAILED, None, attempts, Failure.ENCRYPTION)
            async with self.per_owner.hold(owner):
                attempt = await self.post(resolved, body, headers, profile.timeouts)
            if attempt.outcome is not Outcome.RETRY:
                return Result(attempt.outcome, attempt.status, attempts, attempt.error)
            delay = profile.policy.delay(attempts, attempt.retry_after)
            if delay is None:
                return Result(Outcome.FAILED, attempt.status, attempts, attempt.error)
            await asyncio.sleep(delay)

    async def post(
        self, resolved: ResolvedEndpoint, body: bytes, headers: dict[str, str], timeouts: Timeouts | None = None
    ) -> Attempt:
        timeouts = timeouts or self.profile.timeouts
        request_headers = {**headers, "Host": resolved.netloc}
        extensions: dict[str, object] = {"timeout": {"connect": timeouts.connect, "read": timeouts.exchange}}
        if resolved.scheme == "https":
            extensions["sni_hostname"] = resolved.hostname
        try:
            # The transport reads at most 64 KB of any answer: an endpoint chosen by a user cannot make us read
            # megabytes.
            # A ready Request skips the client's merging of base URL, default headers and cookies: a third of
            # httpx's CPU per request, which none of these requests needs.
            request = httpx.Request(
                "POST", _url(resolved.connect_url()), content=body, headers=request_headers, extensions=extensions
            )
            response = await self.client.send(request)
        except httpx.TimeoutException:
            return Attempt(Outcome.RETRY, None, error=Failure.TIMEOUT)
        except httpx.TransportError as exc:
            return Attempt(Outcome.RETRY, None, error=getattr(exc.__cause__, "failure", Failure.CONNECTION))
        outcome = classify(response.status_code)
        error = None if outcome is Outcome.DELIVERED else for_status(response.status_code)
        return Attempt(outcome, response.status_code, parse_retry_after(response.headers.get("retry-after")), error)


@functools.lru_cache(maxsize=4096)
def _url(url: str) -> httpx.URL:
    return httpx.URL(url)  # parsing is most of what building a request costs; endpoints repeat
