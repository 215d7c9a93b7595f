"""What a process that is the database's only writer can answer from memory: tokens and feed heads.

Why: with SQLite every statement is four hand-offs to aiosqlite's worker thread, about 1 ms on a small machine, and
every request checks its token while the most common request of all, a device asking "anything new?" at the head of
its feed, needs nothing else. `keeptabs serve` refuses several processes on SQLite, and restoring a backup means
stopping the server (docs/running.md), so on SQLite the app sees every write. On PostgreSQL (several processes, cheap
round trips) there is no memo and both reads go to the database.

- Tokens: token hash -> Auth, for at most TOKEN_TTL (the same minute after which last_seen_at is written again),
  and device -> its token hash so that a logout finds it; at most MAX_ENTRIES of each, evicted together.
  Logout and revocation call `forget_device` before they delete anything, and a forgotten device is not remembered
  again for TOKEN_TTL, so once the end of a token is committed no request gets past it.
- Feed heads: user -> a seq the feed has reached, never ahead of the database's. Every writer that gives out a seq
  says so with `moved(session, ...)`, and the memo of that database file hears it when the session commits (one
  memo per file in the process, so a second engine on the same file, as in the tests, reports to the same one),
  before the writer answers anyone. Heads read from the database are remembered too. Being behind is harmless: a
  device whose cursor is past it is sent to the database. Entries expire after HEAD_TTL, which bounds what a write
  made outside this process (not supported while it runs) could hide.
"""

from __future__ import annotations

import os
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from litestar.datastructures import State
from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from server.auth import Auth

TOKEN_TTL = 60.0
HEAD_TTL = 10.0
MAX_ENTRIES = 50_000


class Memo:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        # Ordered: at the cap the oldest entry goes, in O(1) (a plain dict rescans the holes at its front each time).
        self._tokens: OrderedDict[str, tuple[Auth, float]] = OrderedDict()
        self._token_of_device: dict[str, str] = {}
        self._forgotten: OrderedDict[str, float] = OrderedDict()
        self._heads: OrderedDict[str, tuple[int, float]] = OrderedDict()

    def auth(self, token_hash: str) -> Auth | None:
        entry = self._tokens.get(token_hash)
        if entry is None or entry[1] <= self._clock():
            return None
        return entry[0]

    def remember_auth(self, token_hash: str, auth: Auth) -> None:
        now = self._clock()
        if self._forgotten.get(auth.device_id, 0.0) > now:
            return  # a logout or revocation of this device is under way or just done
        if token_hash not in self._tokens and len(self._tokens) >= MAX_ENTRIES:
            self._evict_oldest_token()
        previous = self._token_of_device.get(auth.device_id)
        if previous is not None and previous != token_hash:
            self._tokens.pop(previous, None)  # forget_device must find every token it remembers for the device
        self._tokens[token_hash] = (Auth(auth.user_id, auth.device_id), now + TOKEN_TTL)
        self._token_of_device[auth.device_id] = token_hash

    def _evict_oldest_token(self) -> None:
        """The two maps are evicted together: each device entry points at a remembered token, so the device map is
        never larger than the token map (and forget_device never misses a token still remembered)."""
        token_hash, (auth, _) = self._tokens.popitem(last=False)
        if self._token_of_device.get(auth.device_id) == token_hash:
            del self._token_of_device[auth.device_id]

    def sizes(self) -> dict[str, int]:
        return {
            "tokens": len(self._tokens),
            "devices": len(self._token_of_device),
            "forgotten": len(self._forgotten),
            "heads": len(self._heads),
        }

    def forget_device(self, device_id: str) -> None:
        _bounded(self._forgotten)
        self._forgotten[device_id] = self._clock() + TOKEN_TTL
        token_hash = self._token_of_device.pop(device_id, None)
        if token_hash is not None:
            self._tokens.pop(token_hash, None)

    def head(self, user_id: str) -> int | None:
        entry = self._heads.get(user_id)
        if entry is None or entry[1] <= self._clock():
            return None
        return entry[0]

    def read_head(self, user_id: str, seq: int) -> None:
        """The head as the database just gave it (a restored backup may have moved it back: the database is right)."""
        _bounded(self._heads)
        self._heads[user_id] = (seq, self._clock() + HEAD_TTL)

    def feed_moved(self, user_id: str, seq: int) -> None:
        """A committed change at `seq`: the head is at least there."""
        known = self.head(user_id)
        if known is None or seq > known:
            self.read_head(user_id, seq)


_MEMOS: dict[str, Memo] = {}
_MOVED = "keeptabs_feed_moved"


def for_database(url: str | URL) -> Memo | None:
    """The memo of a SQLite file (None for PostgreSQL, where several processes write)."""
    url = make_url(url)
    if url.get_backend_name() != "sqlite" or not url.database:
        return None
    return _MEMOS.setdefault(os.path.realpath(url.database), Memo())


def moved(session: AsyncSession | Session, user_id: str, seq: int) -> None:
    """A writer gave `seq` to a change of the user's: the memo hears of it when (and if) the session commits."""
    pending: dict[str, int] = session.info.setdefault(_MOVED, {})
    pending[user_id] = max(seq, pending.get(user_id, 0))


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    pending: dict[str, int] | None = session.info.pop(_MOVED, None)
    memo = for_database(session.get_bind().engine.url) if pending else None
    if pending and memo is not None:
        for user_id, seq in pending.items():
            memo.feed_moved(user_id, seq)


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_MOVED, None)


def of(state: State) -> Memo | None:
    memo: Memo | None = state.get("memo")
    return memo


def forget_device(state: State, device_id: str) -> None:
    """Call before ending a device's token (logout, revocation)."""
    if (memo := of(state)) is not None:
        memo.forget_device(device_id)


def _bounded(entries: OrderedDict[str, Any]) -> None:
    """Keeps memory bounded: past MAX_ENTRIES the oldest entry goes (a miss only costs a database read)."""
    if len(entries) >= MAX_ENTRIES:
        entries.popitem(last=False)
