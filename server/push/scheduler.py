"""The reminder scheduler: a task inside `keeptabs serve` that sends each due reminder once, on time.

It sleeps until the next due reminder (woken early by the `reminders_changed` event a sync emits after it commits a
reminder change) instead of polling. Each occurrence is claimed atomically (occurrences.py), so several
processes on one database send it once; a claim is a lease, taken over when the process that held it died.
Reminders that came due while no server ran are simply due at start. After sending, a repeating reminder moves to
its next occurrence through the sync service (a change in the feed); a one-shot reminder keeps its finished claim,
which is what stops it, because `done` is the user's to set. Old finished claims and delivery records are pruned
now and then.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from functools import partial
from typing import Any

from litestar import Litestar
from litestar.events import EventListener, listener
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.models.base import utcnow
from server.models.notes import Note
from server.models.push import PushSubscription
from server.push import deliveries, occurrences
from server.push.occurrences import Occurrence, claim, finish, load, next_due, sent_repeating
from server.push.payloads import reminder_payload
from server.push.service import Outgoing, PushService, outgoing_for
from server.push.subscriptions import subscriptions_of
from server.push.vapid import load_or_create_keys
from server.push.webpush import Result, topic_for
from server.services.sync import apply_server_change
from sync.reminders import next_occurrence

REMINDERS_CHANGED = "reminders_changed"
BATCH = 500
MAX_PENDING = 2 * BATCH
"""Claimed but not yet recorded: beyond this a process waits for its sends (up to ROOM_WAIT) before claiming more,
so that several processes share a burst by how fast each sends rather than by who claims first."""
ROOM_WAIT = 1.0
IDLE_SECONDS = 30.0
"""The longest sleep: picks up leases that ran out and changes made through another process."""
PRUNE_EVERY = 600.0
"""Seconds between prunes of old occurrences and delivery records (cheap, but not worth doing more often)."""

log = logging.getLogger("keeptabs.reminders")
_running: set[ReminderScheduler] = set()


async def note_exists(db: AsyncSession, user_id: str, note_id: str) -> bool:
    return await db.scalar(select(Note.id).where(Note.user_id == user_id, Note.id == note_id)) is not None


async def move_reminder(
    sessionmaker: async_sessionmaker[AsyncSession],
    user_id: str,
    note_id: str,
    at: datetime,
    following: datetime,
    emit: Callable[..., None] | None = None,
) -> bool:
    """Moves a repeating reminder from `at` to `following` as a server change in the user's feed.

    False when the note no longer has its reminder at `at` (the user changed it meanwhile): theirs wins.
    """
    note = await apply_server_change(sessionmaker, user_id, note_id, expected_at=at, reminder_at=following, emit=emit)
    return note is not None


class ReminderScheduler:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        service: PushService,
        emit: Callable[..., None] | None = None,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.service = service
        self.emit = emit
        """app.emit: a moved repeating reminder is announced to live devices like any change in the feed."""
        self._wake = asyncio.Event()
        self._room = asyncio.Event()
        """Set when fewer than MAX_PENDING occurrences are in hand."""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._sent: asyncio.Queue[tuple[Occurrence, list[tuple[Outgoing, Result]]] | None] = asyncio.Queue()
        self._stopping = False
        self._claimed: set[int] = set()
        """Occurrences this process claimed and has not finished: released on a clean stop."""
        self._pruned_at = float("-inf")

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._tasks = [asyncio.create_task(self._run()), asyncio.create_task(self._record_loop())]
        _running.add(self)

    async def stop(self) -> None:
        """Stops after the database work in hand; occurrences still being sent are released, so that the next start
        sends them at once rather than when their lease runs out (one already out may then arrive twice).

        The loops are asked to stop rather than cancelled: a task cancelled inside a SQLite transaction can leave its
        connection holding the write lock after the engine is gone.
        """
        _running.discard(self)
        self._stopping = True
        self._wake.set()
        self._room.set()
        self._sent.put_nowait(None)
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._claimed:
            async with self.sessionmaker() as session, session.begin():
                await occurrences.release(session, sorted(self._claimed))

    def wake(self) -> None:
        """Safe from any thread: a sync committed a reminder change, so the next due time may be earlier."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake.set)

    async def _run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                started = utcnow()
                busy = await self.run_once(started)
                if busy:
                    await self._until_room()
                else:
                    await self.prune(started)
                delay = 0.0 if busy else await self._seconds_to_next(started)
            except Exception:
                log.exception("reminder pass failed; trying again shortly")
                delay = 1.0
            if delay > 0 and not self._stopping:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), delay)

    async def _until_room(self) -> None:
        """Waits while MAX_PENDING occurrences are in hand, but at most ROOM_WAIT: sends stuck in retries against one
        push service that is down must not hold back every other reminder."""
        if len(self._claimed) >= MAX_PENDING and not self._stopping:
            self._room.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._room.wait(), ROOM_WAIT)

    async def _seconds_to_next(self, after: datetime) -> float:
        async with self.sessionmaker() as session:
            at = await next_due(session, after)
        if at is None:
            return IDLE_SECONDS
        return min(max((at - utcnow()).total_seconds(), 0.0), IDLE_SECONDS)

    async def run_once(self, now: datetime) -> bool:
        """One pass: moves sent repeating reminders on, claims a batch and starts sending it. True if it did work."""
        advanced = await self._advance_repeating(now)
        async with self.sessionmaker() as session, session.begin():
            claimed = await claim(session, now, BATCH)
            due = await load(session, claimed, now)
            stale = set(claimed) - {o.id for o in due}
            await finish(session, sorted(stale), now)  # changed since the claim query: nothing to send
            subscriptions = await subscriptions_of(session, sorted({o.user_id for o in due}))
        self._claimed.update(o.id for o in due)
        for occurrence in due:
            self.service.spawn(self._send(occurrence, subscriptions[occurrence.user_id]))
        return bool(claimed) or advanced

    async def _send(self, occurrence: Occurrence, subscriptions: Sequence[PushSubscription]) -> None:
        outgoing = [
            outgoing_for(
                s,
                reminder_payload(occurrence.note_id, occurrence.title, occurrence.body, occurrence.at, s.app_url),
                "reminder",
                topic=topic_for(occurrence.note_id),
                note_id=occurrence.note_id,
                occurrence_at=occurrence.at,
            )
            for s in subscriptions
        ]
        await self._sent.put((occurrence, await self.service.send(outgoing)))

    async def _record_loop(self) -> None:
        """Writes finished sends in groups: one transaction for many occurrences keeps a burst cheap."""
        while True:
            first = await self._sent.get()
            if first is None:
                return
            done = [first]
            while len(done) < BATCH and not self._sent.empty():
                item = self._sent.get_nowait()
                if item is None:
                    self._sent.put_nowait(None)  # seen after this group is written
                    break
                done.append(item)
            try:
                async with self.sessionmaker() as session, session.begin():
                    await deliveries.record(session, [pair for _, pairs in done for pair in pairs])
                    await finish(session, [o.id for o, _ in done], utcnow())
            except Exception:
                # Unfinished occurrences are sent again when their lease runs out: late rather than lost.
                log.exception("could not record %d sent reminders", len(done))
            self._claimed.difference_update(o.id for o, _ in done)
            if len(self._claimed) < MAX_PENDING:
                self._room.set()
            if any(o.repeating for o, _ in done):
                self._wake.set()  # they move on to their next time in the next pass

    async def prune(self, now: datetime) -> bool:
        """Prunes old occurrences and delivery records, unless it did so less than PRUNE_EVERY ago; True if it did.

        Called between bursts only, so a burst never pays for it.
        """
        if time.monotonic() - self._pruned_at < PRUNE_EVERY:
            return False
        self._pruned_at = time.monotonic()
        async with self.sessionmaker() as session, session.begin():
            pruned = await occurrences.prune(session, now), await deliveries.prune(session, now)
        if any(pruned):
            log.info("pruned %d old reminder occurrences and %d delivery records", *pruned)
        return True

    async def _advance_repeating(self, now: datetime) -> bool:
        async with self.sessionmaker() as session:
            rows = await sent_repeating(session, now, BATCH)
        moved = False
        for user_id, note_id, at, repeat, tz in rows:
            following = next_occurrence(at, repeat, tz, after=now)
            try:
                if following is not None:
                    moved = await move_reminder(self.sessionmaker, user_id, note_id, at, following, self.emit) or moved
            except Exception:
                # One note that cannot move must not hold up every other reminder; it is tried again next pass.
                log.exception("could not move repeating reminder of note %s", note_id)
        return moved


@asynccontextmanager
async def reminders_lifespan(app: Litestar) -> AsyncIterator[None]:
    """Push (keys, sender) on `app.state.push`, and the scheduler running for as long as the app."""
    settings = app.state.settings
    keys = await asyncio.to_thread(load_or_create_keys, settings)
    service = PushService(settings, keys, app.state.sessionmaker)
    app.state.push = service
    scheduler = ReminderScheduler(app.state.sessionmaker, service, partial(_emit, app))
    scheduler.start()
    try:
        yield
    finally:
        await service.drain()  # sends in flight finish and queue their results ...
        await scheduler.stop()  # ... which are recorded before the scheduler stops
        await service.aclose()


def _emit(app: Litestar, event: str, *args: Any, **kwargs: Any) -> None:
    # Litestar refuses to emit an event nobody listens to (live updates may be switched off).
    if app.event_emitter.listeners.get(event):
        app.emit(event, *args, **kwargs)


async def _on_reminders_changed(*_args: object, **_kwargs: object) -> None:
    for scheduler in list(_running):
        scheduler.wake()


reminders_changed_listener: EventListener = listener(REMINDERS_CHANGED)(_on_reminders_changed)
