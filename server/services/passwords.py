"""Passwords: hashed and verified in a few low-priority threads, never on the event loop nor inside a transaction;
and the rule for which new passwords are refused.

argon2id costs ~0.2 s of one core per hash or verification. Done inside a database transaction it held SQLite's write
lock (everyone's sync waited behind it); done without a bound, a flood of sign-ins took every core. So each process
has one small pool of hashing threads (half the cores by default), run at a lower CPU priority than the event loop,
and admits only so many sign-ins to wait for them: past that a request gets 503 with Retry-After at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import math
import os
import threading
import unicodedata
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from zxcvbn.frequency_lists import FREQUENCY_LISTS  # type: ignore[import-untyped]

from server.errors import ServiceUnavailable

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
DUMMY_HASH = _hasher.hash("keeptabs-dummy-password")
"""Verified against when no account has the email, so that a wrong email costs what a wrong password costs."""

SECONDS_PER_HASH = 0.25
"""About what one argon2id hash or verification takes on one core: used to tell a refused client when to retry."""
HASH_PRIORITY = 10
"""Niceness of the hashing threads (Linux): the event loop, which serves everyone's sync, comes first."""


@dataclass
class Verifications:
    """How many verifications ran against a real account's hash and against the dummy one (the tests read it)."""

    real: int = 0
    dummy: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count(self, password_hash: str) -> None:
        with self._lock:
            if password_hash is DUMMY_HASH:
                self.dummy += 1
            else:
                self.real += 1


verifications = Verifications()


def _lower_priority() -> None:
    # On Linux the niceness of a thread id is that thread's alone; elsewhere (or if refused) run at normal priority.
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), HASH_PRIORITY)


class HashingPool:
    """A fixed set of hashing threads and a bounded number of sign-ins admitted to wait for them."""

    def __init__(self, workers: int, queue: int) -> None:
        self._executor = ThreadPoolExecutor(workers, "password-hash", initializer=_lower_priority)
        self._admitted = threading.BoundedSemaphore(workers + queue)
        self.retry_after = max(1, math.ceil((workers + queue) * SECONDS_PER_HASH / workers))

    @asynccontextmanager
    async def admitted(self) -> AsyncIterator[None]:
        """A place among the sign-ins allowed to hash now or soon; 503 when there is none (nothing is written)."""
        if not self._admitted.acquire(blocking=False):
            raise ServiceUnavailable(
                "The server is busy checking other passwords. Try again in a moment.",
                headers={"Retry-After": str(self.retry_after)},
            )
        try:
            yield
        finally:
            self._admitted.release()

    async def hash(self, password: str) -> str:
        return await asyncio.wrap_future(self._executor.submit(_hasher.hash, password))

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """Always runs one argon2 verification: against the dummy hash when there is no account."""
        return await asyncio.wrap_future(self._executor.submit(_verify, password_hash or DUMMY_HASH, password))


def _verify(password_hash: str, password: str) -> bool:
    verifications.count(password_hash)
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@functools.cache
def hashing_pool(workers: int, queue: int) -> HashingPool:
    """One pool per process (per configuration, for tests that run apps with different settings)."""
    return HashingPool(workers, queue)


# ------------------------------------------------------------------------------------------------ password rule
MIN_LENGTH = 8
MIN_DISTINCT = 3
COMMON = frozenset(p for p in FREQUENCY_LISTS["passwords"] if len(p) >= MIN_LENGTH)
"""The 30,000 most common passwords of a large breach corpus, as zxcvbn ships them (lower case), those long enough
to pass the length rule; compared after the same folding as emails, so `PassWord1` is `password1`."""


def password_problem(password: str, email: str = "") -> str | None:
    """Why this password is refused for a new account, in words for the person typing it; None when it is fine."""
    folded = unicodedata.normalize("NFKC", password).casefold()
    content = "".join(folded.split())
    if len(password) < MIN_LENGTH:
        return f"use at least {MIN_LENGTH} characters"
    if not content:
        return "a password of only spaces is too easy to guess"
    if len(set(content)) < MIN_DISTINCT:
        return f"use at least {MIN_DISTINCT} different characters, not one or two repeated"
    if _is_run(content):
        return "a run such as 12345678 or abcdefgh is too easy to guess"
    if folded in COMMON or content in COMMON:
        return "this is one of the most common passwords, tried first by anyone guessing: choose another"
    if email and content in {email.casefold(), email.casefold().partition("@")[0]}:
        return "do not use your email address as your password"
    return None


def _is_run(text: str) -> bool:
    """Each character one after the other, up or down (`12345678`, `abcdefgh`, `98765432`)."""
    steps = {ord(b) - ord(a) for a, b in itertools.pairwise(text)}
    return steps in ({1}, {-1})
