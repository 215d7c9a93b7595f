"""The memo of tokens and feed heads (server/memo.py), on a clock the tests move."""

from __future__ import annotations

import pytest

from server.auth import Auth
from server.memo import HEAD_TTL, MAX_ENTRIES, TOKEN_TTL, Memo


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def memo(clock: Clock) -> Memo:
    return Memo(clock)


def test_a_token_is_remembered_for_its_ttl_only(memo: Memo, clock: Clock) -> None:
    memo.remember_auth("h1", Auth("user", "phone", feed_head=7))
    assert memo.auth("h1") == Auth("user", "phone")  # the head read with it is not kept with the token
    clock.now += TOKEN_TTL
    assert memo.auth("h1") is None


def test_a_forgotten_device_is_not_remembered_again_for_a_while(memo: Memo, clock: Clock) -> None:
    memo.remember_auth("h1", Auth("user", "phone"))
    memo.forget_device("phone")
    assert memo.auth("h1") is None
    # A request that read the token before the logout committed must not put it back.
    memo.remember_auth("h1", Auth("user", "phone"))
    assert memo.auth("h1") is None
    memo.remember_auth("h2", Auth("user", "laptop"))
    assert memo.auth("h2") == Auth("user", "laptop")
    clock.now += TOKEN_TTL + 1
    memo.remember_auth("h1", Auth("user", "phone"))
    assert memo.auth("h1") == Auth("user", "phone")


def test_feed_moves_only_forward_but_a_database_read_is_the_truth(memo: Memo) -> None:
    assert memo.head("user") is None
    memo.feed_moved("user", 5)
    memo.feed_moved("user", 3)  # a late event for an older change
    assert memo.head("user") == 5
    memo.read_head("user", 2)  # the database went back (a restored backup)
    assert memo.head("user") == 2


def test_a_head_expires(memo: Memo, clock: Clock) -> None:
    memo.read_head("user", 4)
    clock.now += HEAD_TTL
    assert memo.head("user") is None
    memo.feed_moved("user", 1)  # an expired entry says nothing, so any committed seq is news
    assert memo.head("user") == 1


def test_memory_stays_bounded(memo: Memo) -> None:
    for i in range(MAX_ENTRIES + 10):
        memo.read_head(f"user {i}", i)
    assert memo.head("user 0") is None
    assert memo.head(f"user {MAX_ENTRIES + 9}") == MAX_ENTRIES + 9


def test_tokens_and_their_devices_stay_bounded_together(memo: Memo) -> None:
    # 200k devices seen (each with a token) used to leave 200k device entries beside 50k tokens.
    for i in range(MAX_ENTRIES + 1000):
        memo.remember_auth(f"hash {i}", Auth("user", f"device {i}"))
    sizes = memo.sizes()
    assert sizes["tokens"] == MAX_ENTRIES
    assert sizes["devices"] == MAX_ENTRIES
    assert memo.auth("hash 0") is None
    newest = MAX_ENTRIES + 999
    memo.forget_device(f"device {newest}")  # still found through the device map
    assert memo.auth(f"hash {newest}") is None
    assert memo.sizes()["devices"] == MAX_ENTRIES - 1


def test_a_devices_new_token_replaces_its_old_one(memo: Memo) -> None:
    memo.remember_auth("old", Auth("user", "phone"))
    memo.remember_auth("new", Auth("user", "phone"))
    assert memo.auth("old") is None
    memo.forget_device("phone")
    assert memo.auth("new") is None
    assert memo.sizes() == {"tokens": 0, "devices": 0, "forgotten": 1, "heads": 0}


def test_forgotten_devices_stay_bounded(memo: Memo) -> None:
    for i in range(MAX_ENTRIES + 10):
        memo.forget_device(f"device {i}")
    assert memo.sizes()["forgotten"] == MAX_ENTRIES
