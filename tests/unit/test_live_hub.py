"""The registry of open streams (server/live/hub.py), on a clock the tests move."""

from __future__ import annotations

import pytest

from server.live.hub import ENDED_TTL, MAX_ENDED, Hub
from server.live.relay import DeviceEnded, FeedMoved, _decode, deliver, encode


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def hub(clock: Clock) -> Hub:
    return Hub(per_device=2, max_streams=4, clock=clock)


def test_a_message_reaches_only_its_users_streams_and_only_forward(hub: Hub) -> None:
    alice, bob = hub.open("alice", "phone"), hub.open("bob", "phone")
    hub.feed_moved("alice", 5)
    hub.feed_moved("alice", 3)
    assert (alice.cursor, alice.wake.is_set()) == (5, True)
    assert (bob.cursor, bob.wake.is_set()) == (-1, False)


def test_the_registry_forgets_users_whose_streams_closed(hub: Hub) -> None:
    streams = [hub.open(f"user {i}", device) for i in range(2) for device in ("phone", "laptop")]
    assert (len(hub), hub.users, hub.full) == (4, 2, True)
    for stream in streams:
        hub.close(stream)
        hub.close(stream)  # closing twice (the device ended, then the stream's task finished) is harmless
    assert (len(hub), hub.users, hub.full) == (0, 0, False)


def test_one_stream_too_many_for_a_device_ends_its_oldest(hub: Hub) -> None:
    first, second, third = (hub.open("alice", "phone") for _ in range(3))
    assert (first.ended, second.ended, third.ended) == (True, False, False)
    assert first.wake.is_set()
    assert len(hub) == 2
    laptop = hub.open("alice", "laptop")  # another device has its own allowance
    assert not laptop.ended and len(hub) == 3


def test_an_ended_device_loses_its_streams_and_cannot_open_more_for_a_while(hub: Hub, clock: Clock) -> None:
    phone, laptop = hub.open("alice", "phone"), hub.open("alice", "laptop")
    hub.device_ended("alice", "phone")
    assert (phone.ended, laptop.ended, len(hub)) == (True, False, 1)
    late = hub.open("alice", "phone")  # its token was read before the end was known here
    assert late.ended and len(hub) == 1
    hub.device_ended("bob", "laptop")  # another user's device id: Alice's laptop is not Bob's
    assert not laptop.ended
    clock.now += ENDED_TTL
    assert not hub.open("alice", "phone").ended


def test_remembered_ends_stay_bounded(hub: Hub, clock: Clock) -> None:
    for i in range(MAX_ENDED + 10):
        hub.device_ended("user", f"device {i}")
    assert len(hub._ended) == MAX_ENDED
    clock.now += ENDED_TTL
    hub.device_ended("user", "one more")
    assert len(hub._ended) == 1


def test_recheck_asks_every_stream_to_read_the_database(hub: Hub) -> None:
    streams = [hub.open("alice", "phone"), hub.open("bob", "phone")]
    for stream in streams:
        stream.check = False
    hub.recheck_all()
    assert all(s.check and s.wake.is_set() for s in streams)


@pytest.mark.parametrize("message", [FeedMoved("alice", 7), DeviceEnded("alice", "phone")])
def test_messages_between_processes_round_trip_and_route(hub: Hub, message: FeedMoved | DeviceEnded) -> None:
    stream = hub.open("alice", "phone")
    payload = encode(message).decode()
    assert len(payload) < 200 and _decode(payload) == message
    deliver(hub, _decode(payload))
    assert stream.cursor == 7 if isinstance(message, FeedMoved) else stream.ended
