"""Limits per key (a user): one user's many or slow sends wait behind each other, not in front of others'; and a
rate for what a user may ask the server to do now and then (test messages)."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field


@dataclass
class _Entry:
    semaphore: asyncio.Semaphore
    users: int = field(default=0)


class PerKeyLimit:
    """At most `limit` holders per key at once; the rest of that key's callers wait in order.

    An entry exists only while somebody holds or waits for its key, so the table stays as small as the set of
    users with messages in flight.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._entries: dict[str, _Entry] = {}

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        entry = self._entries.get(key)
        if entry is None:
            entry = self._entries[key] = _Entry(asyncio.Semaphore(self.limit))
        entry.users += 1
        try:
            async with entry.semaphore:
                yield
        finally:
            entry.users -= 1
            if entry.users == 0:
                del self._entries[key]

    def holding(self, key: str) -> int:
        """How many callers hold or wait for `key` (for tests and the benchmark)."""
        entry = self._entries.get(key)
        return entry.users if entry else 0


class PerKeyRate:
    """A token bucket per key: `burst` at once, then one more each `refill_seconds`. In memory, per process."""

    MAX_KEYS = 100_000
    """Beyond this many keys, full buckets (keys idle long enough to have refilled) are forgotten."""

    def __init__(self, burst: int, refill_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.burst = burst
        self.refill_seconds = refill_seconds
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        """key -> (tokens, when they were counted)."""

    def take(self, key: str) -> int:
        """Takes one token for `key` and returns 0, or, when there is none, takes nothing and returns the whole
        seconds until there is one (what a Retry-After header says)."""
        now = self.clock()
        tokens = self._tokens(key, now)
        if tokens < 1.0:
            return max(1, math.ceil((1.0 - tokens) * self.refill_seconds))
        if len(self._buckets) >= self.MAX_KEYS:
            self._forget_full(now)
        self._buckets[key] = (tokens - 1.0, now)
        return 0

    def _tokens(self, key: str, now: float) -> float:
        tokens, counted = self._buckets.get(key, (float(self.burst), now))
        return min(float(self.burst), tokens + (now - counted) / self.refill_seconds)

    def _forget_full(self, now: float) -> None:
        for key in [key for key in self._buckets if self._tokens(key, now) >= self.burst]:
            del self._buckets[key]
