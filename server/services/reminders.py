"""The reminder scheduler: a task inside `keeptabs serve` that sends each due reminder once, on time.

It sleeps until the next due reminder (woken early by the `reminders_changed` event a sync emits after it commits a
reminder change) instead of polling. Each occurrence (user, note, at) is claimed with one INSERT .. ON CONFLICT DO
UPDATE .. RETURNING, which PostgreSQL and SQLite both run atomically, so several processes on one database send it
once; a claim is a lease, so an occurrence claimed by a process that died is taken over when the lease runs out.
Reminders that came due while no server ran are simply due at start. After sending, a repeating reminder moves to
its next occurrence through the sync service (a change in the feed); a one-shot reminder keeps its finished claim,
which is what stops it, because `done` is the user's to set.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from litestar import Litestar
from litestar.events import EventListener, listener
from sqlalchemy import and_, delete, false, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.models.base import utcnow
from server.models.notes import Note
from server.models.push import ReminderOccurrence as Occ
from server.services import push
from server.services.push import Outgoing, PushService, outgoing_for, reminder_payload, subscriptions_of
from server.services.sync import apply_server_change
from server.vapid import load_or_create_keys
from server.webpush import Result, topic_for
from sync.reminders import next_occurrence

REMINDERS_CHANGED = "reminders_changed"
LEASE = timedelta(minutes=5)
"""Longer than the longest send (bounded retries); an occurrence claimed by a dead process goes out after this."""
BATCH = 500
IDLE_SECONDS = 30.0
"""The longest sleep: picks up leases that ran out and changes made through another process."""

log = logging.getLogger("keeptabs.reminders")
_running: set[ReminderScheduler] = set()


@dataclass(frozen=True)
class Occurrence:
    id: int
    user_id: str
    note_id: str
    at: datetime
    title: str
    body: str
    repeating: bool


def _due(now: datetime):  # type: ignore[no-untyped-def]
    return and_(
        Note.reminder_at.is_not(None),
        Note.reminder_at <= now,
        Note.reminder_done == false(),
        Note.deleted == false(),
    )


_SAME_OCCURRENCE = and_(Occ.user_id == Note.user_id, Occ.note_id == Note.id, Occ.at == Note.reminder_at)


async def note_exists(db: AsyncSession, user_id: str, note_id: str) -> bool:
    return await db.scalar(select(Note.id).where(Note.user_id == user_id, Note.id == note_id)) is not None


async def claim(session: AsyncSession, now: datetime, limit: int) -> list[int]:
    """Claims up to `limit` due occurrences that nobody holds; returns the ids of those this call won."""
    candidates = (
        await session.execute(
            select(Note.user_id, Note.id, Note.reminder_at)
            .outerjoin(Occ, _SAME_OCCURRENCE)
            .where(_due(now), or_(Occ.id.is_(None), and_(Occ.finished_at.is_(None), Occ.lease_until < now)))
            .order_by(Note.reminder_at)
            .limit(limit)
        )
    ).all()
    if not candidates:
        return []
    # One order in every process, so two claims over overlapping sets cannot deadlock on PostgreSQL.
    keys = sorted({(row[0], row[1], row[2]) for row in candidates})
    insert = pg_insert if session.bind.dialect.name == "postgresql" else sqlite_insert
    statement = insert(Occ).values(
        [{"user_id": u, "note_id": n, "at": a, "lease_until": now + LEASE} for u, n, a in keys]
    )
    statement = statement.on_conflict_do_update(
        index_elements=[Occ.user_id, Occ.note_id, Occ.at],
        set_={"lease_until": statement.excluded.lease_until},
        where=and_(Occ.finished_at.is_(None), Occ.lease_until < now),
    ).returning(Occ.id)
    return list((await session.scalars(statement)).all())


async def load(session: AsyncSession, claimed: Sequence[int], now: datetime) -> list[Occurrence]:
    """The claimed occurrences whose note is still due at that time (it may have changed since the claim query)."""
    if not claimed:
        return []
    rows = await session.execute(
        select(Occ.id, Note.user_id, Note.id, Note.reminder_at, Note.title, Note.body, Note.reminder_repeat)
        .join(Note, _SAME_OCCURRENCE)
        .where(Occ.id.in_(claimed), _due(now))
    )
    return [Occurrence(*row[:6], repeating=row[6] != "none") for row in rows]


async def finish(session: AsyncSession, occurrence_ids: Sequence[int], now: datetime) -> None:
    if occurrence_ids:
        await session.execute(update(Occ).where(Occ.id.in_(occurrence_ids)).values(finished_at=now))


async def sent_repeating(session: AsyncSession, now: datetime, limit: int) -> list[tuple[str, str, datetime, str, str]]:
    """Repeating reminders whose current occurrence went out but whose `at` has not moved on yet."""
    rows = await session.execute(
        select(Note.user_id, Note.id, Note.reminder_at, Note.reminder_repeat, Note.reminder_tz)
        .join(Occ, _SAME_OCCURRENCE)
        .where(_due(now), Note.reminder_repeat != "none", Occ.finished_at.is_not(None))
        .limit(limit)
    )
    return [(r[0], r[1], r[2], r[3], r[4]) for r in rows]


async def next_due(session: AsyncSession, after: datetime) -> datetime | None:
    """The earliest reminder later than `after` that is waiting to be sent.

    Everything due at `after` was just claimed (or is held by another process, whose lease IDLE_SECONDS covers),
    so the index on the due time is read from `after` on instead of past every sent one-shot reminder.
    """
    return await session.scalar(
        select(func.min(Note.reminder_at))
        .outerjoin(Occ, _SAME_OCCURRENCE)
        .where(
            Note.reminder_at > after,
            Note.reminder_done == false(),
            Note.deleted == false(),
            Occ.id.is_(None),
        )
    )


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
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._sent: asyncio.Queue[tuple[Occurrence, list[tuple[Outgoing, Result]]] | None] = asyncio.Queue()
        self._stopping = False
        self._claimed: set[int] = set()
        """Occurrences this process claimed and has not finished: released on a clean stop."""

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
        self._sent.put_nowait(None)
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._claimed:
            async with self.sessionmaker() as session, session.begin():
                await session.execute(delete(Occ).where(Occ.id.in_(self._claimed), Occ.finished_at.is_(None)))

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
                delay = 0.0 if busy else await self._seconds_to_next(started)
            except Exception:
                log.exception("reminder pass failed; trying again shortly")
                delay = 1.0
            if delay > 0 and not self._stopping:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), delay)

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
            occurrences = await load(session, claimed, now)
            stale = set(claimed) - {o.id for o in occurrences}
            await finish(session, sorted(stale), now)  # changed since the claim query: nothing to send
            subscriptions = await subscriptions_of(session, sorted({o.user_id for o in occurrences}))
        self._claimed.update(o.id for o in occurrences)
        for occurrence in occurrences:
            self.service.spawn(self._send(occurrence, subscriptions[occurrence.user_id]))
        return bool(claimed) or advanced

    async def _send(self, occurrence: Occurrence, subscriptions: Sequence[push.PushSubscription]) -> None:
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
                    await push.record(session, [pair for _, pairs in done for pair in pairs])
                    await finish(session, [o.id for o, _ in done], utcnow())
                self._claimed.difference_update(o.id for o, _ in done)
            except Exception:
                # Unfinished occurrences are sent again when their lease runs out: late rather than lost.
                log.exception("could not record %d sent reminders", len(done))
            if any(o.repeating for o, _ in done):
                self._wake.set()  # they move on to their next time in the next pass

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
