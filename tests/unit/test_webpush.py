"""Encrypting and sending one push message, checked by the local push service (tests/pushsink.py)."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest

from server.push.guard import EndpointGuard
from server.push.retries import Outcome, RetryPolicy, classify, parse_retry_after
from server.push.vapid import VapidKeys, generate_keys
from server.push.webpush import MAX_PAYLOAD_BYTES, Encryptor, PushSender, PushTarget, new_http_client, topic_for
from tests.pushsink import PushSink

FAST = RetryPolicy(max_attempts=4, base_delay=0.05, max_delay=2.0)


@pytest.fixture(scope="module")
def keys() -> VapidKeys:
    return generate_keys()


@pytest.fixture
def sink(keys: VapidKeys) -> Iterator[PushSink]:
    with PushSink(vapid_public_key=keys.application_server_key) as sink:
        yield sink


@pytest.fixture
async def sender(keys: VapidKeys) -> AsyncIterator[PushSender]:
    client = new_http_client(max_in_flight=4)
    encryptor = Encryptor(keys, subject="mailto:ops@example.org", ttl=7200)
    yield PushSender(encryptor, EndpointGuard(allow_loopback=True), client, FAST)
    await client.aclose()


def target(subscription: dict[str, Any]) -> PushTarget:
    return PushTarget(subscription["endpoint"], subscription["keys"]["p256dh"], subscription["keys"]["auth"])


async def test_delivered_message_decrypts_and_verifies(sink: PushSink, sender: PushSender) -> None:
    sub = sink.subscription()
    payload = json.dumps({"type": "reminder", "note_id": "n1", "title": "Call Ana"}).encode()
    result = await sender.send(payload, target(sub), topic_for("5f0c5a4e-8a57-4a4b-9bfb-2f3b7b0f6a11"))
    assert (result.outcome, result.status, result.attempts) == (Outcome.DELIVERED, 201, 1)
    [message] = sink.wait_for(1)
    assert message.errors == []
    assert message.plaintext == payload
    assert message.headers["ttl"] == "7200"
    assert message.headers["urgency"] == "high"
    assert message.headers["topic"] == "5f0c5a4e8a574a4b9bfb2f3b7b0f6a11"
    assert message.claims is not None and message.claims["sub"] == "mailto:ops@example.org"
    assert message.claims["aud"] == "http://127.0.0.1"


async def test_https_subject_is_used_as_is(sink: PushSink, keys: VapidKeys) -> None:
    client = new_http_client(max_in_flight=1)
    encryptor = Encryptor(keys, subject="https://keeptabs.example/contact", ttl=3600)
    sender = PushSender(encryptor, EndpointGuard(allow_loopback=True), client, FAST)
    await sender.send(b"{}", target(sink.subscription()))
    await client.aclose()
    [message] = sink.wait_for(1)
    assert message.errors == [] and message.claims is not None
    assert message.claims["sub"] == "https://keeptabs.example/contact"


async def test_jwt_is_reused_for_one_audience(sink: PushSink, sender: PushSender) -> None:
    await sender.send(b"{}", target(sink.subscription()))
    await sender.send(b"{}", target(sink.subscription()))
    first, second = sink.wait_for(2)
    assert first.headers["authorization"] == second.headers["authorization"]


async def test_wrong_key_fails_verification(sink: PushSink) -> None:
    """The sink really checks signatures: a message signed with other keys is refused."""
    client = new_http_client(max_in_flight=1)
    other = Encryptor(generate_keys(), subject="mailto:ops@example.org", ttl=3600)
    result = await PushSender(other, EndpointGuard(allow_loopback=True), client, FAST).send(
        b"{}", target(sink.subscription())
    )
    await client.aclose()
    assert (result.outcome, result.status) == (Outcome.FAILED, 400)
    [message] = sink.wait_for(1)
    assert any("k= is not" in e for e in message.errors)


@pytest.mark.parametrize("status", [404, 410])
async def test_gone(sink: PushSink, sender: PushSender, status: int) -> None:
    sub = sink.subscription()
    sink.answer(sub, status)
    result = await sender.send(b"{}", target(sub))
    assert (result.outcome, result.status, result.attempts) == (Outcome.GONE, status, 1)


async def test_server_error_then_created_is_retried(sink: PushSink, sender: PushSender) -> None:
    sub = sink.subscription()
    sink.answer(sub, 500)
    result = await sender.send(b'{"n": 1}', target(sub))
    assert (result.outcome, result.status, result.attempts) == (Outcome.DELIVERED, 201, 2)
    first, second = sink.wait_for(2)
    assert first.body == second.body  # the same encrypted message, not a new one per attempt
    assert (first.status, second.status) == (500, 201)


async def test_retry_after_is_honoured(sink: PushSink, sender: PushSender) -> None:
    sub = sink.subscription()
    sink.answer(sub, (429, {"Retry-After": "1"}))
    result = await sender.send(b"{}", target(sub))
    assert (result.outcome, result.attempts) == (Outcome.DELIVERED, 2)
    first, second = sink.wait_for(2)
    assert second.at - first.at >= 0.95


async def test_retry_after_beyond_the_bound_gives_up(sink: PushSink, sender: PushSender) -> None:
    sub = sink.subscription()
    sink.answer(sub, (503, {"Retry-After": "3600"}))
    result = await sender.send(b"{}", target(sub))
    assert (result.outcome, result.status, result.attempts) == (Outcome.FAILED, 503, 1)
    assert len(sink.messages(sub)) == 1


async def test_retries_are_bounded(sink: PushSink, sender: PushSender) -> None:
    sub = sink.subscription()
    sink.answer(sub, 500, 502, 503, 500, 500)
    result = await sender.send(b"{}", target(sub))
    assert (result.outcome, result.status, result.attempts) == (Outcome.FAILED, 500, FAST.max_attempts)
    assert len(sink.messages(sub)) == FAST.max_attempts


@pytest.mark.parametrize("status", [400, 401, 403, 413])
async def test_other_client_errors_are_not_retried(sink: PushSink, sender: PushSender, status: int) -> None:
    sub = sink.subscription()
    sink.answer(sub, status)
    result = await sender.send(b"{}", target(sub))
    assert (result.outcome, result.status, result.attempts) == (Outcome.FAILED, status, 1)
    assert result.error == "http 4xx"


async def test_unreachable_endpoint_is_retried_then_fails(sink: PushSink, sender: PushSender) -> None:
    sub = sink.subscription()
    sub["endpoint"] = "http://127.0.0.1:9/push/nobody"  # the discard port: nothing listens
    result = await sender.send(b"{}", target(sub))
    assert (result.outcome, result.status, result.attempts) == (Outcome.FAILED, None, FAST.max_attempts)


async def test_private_endpoint_is_refused_at_send_time(sink: PushSink, sender: PushSender) -> None:
    sub = sink.subscription()
    sub["endpoint"] = "https://10.0.0.5/push/x"
    result = await sender.send(b"{}", target(sub))
    assert (result.outcome, result.error) == (Outcome.FAILED, "endpoint not allowed")


async def test_oversized_payload_is_refused(sink: PushSink, sender: PushSender) -> None:
    result = await sender.send(b"x" * (MAX_PAYLOAD_BYTES + 1), target(sink.subscription()))
    assert result.outcome is Outcome.FAILED
    assert sink.messages() == []


async def test_bad_subscription_keys_fail_cleanly(sink: PushSink, sender: PushSender) -> None:
    sub = sink.subscription()
    sub["keys"]["p256dh"] = base64.urlsafe_b64encode(b"\x04" + b"\x01" * 64).decode().rstrip("=")
    result = await sender.send(b"{}", target(sub))
    assert result.outcome is Outcome.FAILED and sink.messages() == []


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (201, Outcome.DELIVERED),
        (200, Outcome.DELIVERED),
        (410, Outcome.GONE),
        (404, Outcome.GONE),
        (429, Outcome.RETRY),
        (500, Outcome.RETRY),
        (503, Outcome.RETRY),
        (301, Outcome.FAILED),
        (400, Outcome.FAILED),
    ],
)
def test_classify(status: int, outcome: Outcome) -> None:
    assert classify(status) is outcome


def test_parse_retry_after() -> None:
    now = datetime(2026, 11, 27, 17, 0, tzinfo=UTC)
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(format_datetime(now + timedelta(seconds=30), usegmt=True), now) == 30.0
    assert parse_retry_after(format_datetime(now - timedelta(seconds=30), usegmt=True), now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_retry_policy_backs_off_exponentially_and_stops() -> None:
    policy = RetryPolicy(max_attempts=4, base_delay=1.0, max_delay=60.0)
    delays = [policy.delay(n, None) for n in (1, 2, 3)]
    assert all(d is not None for d in delays)
    assert 0.8 <= delays[0] <= 1.2 and 1.6 <= delays[1] <= 2.4 and 3.2 <= delays[2] <= 4.8  # type: ignore[operator]
    assert policy.delay(4, None) is None
    assert policy.delay(1, 30.0) == 30.0
    assert policy.delay(1, 61.0) is None


@pytest.mark.parametrize(
    "key", ["5f0c5a4e-8a57-4a4b-9bfb-2f3b7b0f6a11", "short", "x" * 200, "note with spaces/and:symbols"]
)
def test_topic_is_short_url_safe_and_stable(key: str) -> None:
    topic = topic_for(key)
    assert 1 <= len(topic) <= 32
    assert all(c.isalnum() or c in "-_" for c in topic)
    assert topic == topic_for(key)
    assert topic != topic_for(key + "x")


def test_every_message_gets_a_fresh_salt_and_key(keys: VapidKeys) -> None:
    encryptor = Encryptor(keys, subject="mailto:ops@example.org", ttl=3600)
    with PushSink() as sink:
        sub = target(sink.subscription())
    bodies = {encryptor.encrypt(b"{}", sub, "https://push.example", None)[0][:86] for _ in range(20)}
    assert len(bodies) == 20
