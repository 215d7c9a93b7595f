"""The event streams open in this process, by user and device.

Why a registry of our own rather than a pub/sub channel per user: a message names its user, and routing it is one
dict lookup here, so PostgreSQL needs one channel for the whole database (see relay.py). An entry lives exactly as
long as a stream: the last stream of a user to close removes the user, so memory follows open streams, not the
number of users ever seen.

A stream holds only the newest cursor it was told of: devices sync from their own cursor, so older ones carry
nothing. All methods run on the event loop and never await, so each is atomic with respect to the streams.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

ENDED_TTL = 120.0
"""How long a device that ended is refused: longer than any request that resolved its token before the end."""
MAX_ENDED = 50_000


@dataclass(eq=False, slots=True)
class Listener:
    """One open stream: what it must tell its device next, and a wake-up for the stream's task."""

    user_id: str
    device_id: str
    cursor: int = -1
    """The newest feed position heard of (-1: none yet)."""
    check: bool = True
    """Read the cursor and the token from the database before the next event (a notification may be missing)."""
    ended: bool = False
    """The device signed out, was revoked, or opened too many streams: the stream ends."""
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    def end(self) -> None:
        self.ended = True
        self.wake.set()


class Hub:
    def __init__(
        self, per_device: int = 5, max_streams: int = 10_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.per_device = per_device
        self.max_streams = max_streams
        self._clock = clock
        self._users: dict[str, dict[str, list[Listener]]] = {}
        self._peak_users = 0
        self._open = 0
        # Ordered by expiry (one TTL for all); OrderedDict pops its oldest in O(1), a dict rescans its front.
        self._ended: OrderedDict[tuple[str, str], float] = OrderedDict()

    def __len__(self) -> int:
        return self._open

    @property
    def users(self) -> int:
        return len(self._users)

    @property
    def full(self) -> bool:
        return self._open >= self.max_streams

    def open(self, user_id: str, device_id: str) -> Listener:
        """A new stream; past `per_device` streams of one device, its oldest ends. A device that ended gets an
        ended listener: its token was read before the end was known here."""
        listener = Listener(user_id, device_id)
        if self._ended.get((user_id, device_id), 0.0) > self._clock():
            listener.end()
            return listener
        streams = self._users.setdefault(user_id, {}).setdefault(device_id, [])
        streams.append(listener)
        self._open += 1
        self._peak_users = max(self._peak_users, len(self._users))
        while len(streams) > self.per_device:
            oldest = streams[0]
            self.close(oldest)
            oldest.end()
        return listener

    def close(self, listener: Listener) -> None:
        """Forget a stream (idempotent), and its device and user once nothing of theirs is open."""
        devices = self._users.get(listener.user_id)
        streams = devices.get(listener.device_id) if devices is not None else None
        if devices is None or streams is None or listener not in streams:
            return
        streams.remove(listener)
        self._open -= 1
        if not streams:
            del devices[listener.device_id]
            if not devices:
                del self._users[listener.user_id]
                self._shrink()

    def _shrink(self) -> None:
        """A dict keeps its largest table after deletions: copied once it is a quarter full, its memory follows the
        users listening now rather than the most there ever were (amortised: each copy follows many removals)."""
        if len(self._users) * 4 <= self._peak_users:
            self._users = dict(self._users)
            self._peak_users = len(self._users)

    def feed_moved(self, user_id: str, cursor: int) -> None:
        for streams in self._users.get(user_id, {}).values():
            for listener in streams:
                if cursor > listener.cursor:
                    listener.cursor = cursor
                    listener.wake.set()

    def device_ended(self, user_id: str, device_id: str) -> None:
        """Sign-out or revocation: the device's streams end now, and any it opens for a while end at once."""
        self._remember_ended(user_id, device_id)
        for listener in list(self._users.get(user_id, {}).get(device_id, ())):
            self.close(listener)
            listener.end()

    def recheck_all(self) -> None:
        """Notifications may have been lost (the relay's connection dropped): every stream asks the database."""
        for devices in self._users.values():
            for streams in devices.values():
                for listener in streams:
                    listener.check = True
                    listener.wake.set()

    def _remember_ended(self, user_id: str, device_id: str) -> None:
        now = self._clock()
        self._ended.pop((user_id, device_id), None)
        while self._ended and (len(self._ended) >= MAX_ENDED or next(iter(self._ended.values())) <= now):
            self._ended.popitem(last=False)
        self._ended[(user_id, device_id)] = now + ENDED_TTL
