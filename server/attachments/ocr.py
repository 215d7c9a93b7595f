"""Text in photos: a background job that reads each stored photo with Tesseract and keeps the text with it.

Bounded on purpose. One photo at a time per process (a card takes well under a second, and OCR must not starve the
requests of a 2-core server), in its own thread, with a timeout after which tesseract's process is killed. The queue
is the blobs table (models.py): work survives a restart, and a row is claimed with a compare-and-set of its lease,
so several processes never read the same photo twice while each lease holds. A photo that fails (or whose process
died mid-way, letting the lease run out) is tried again later, MAX_ATTEMPTS times in all, then marked failed.

Tesseract is a system package (`apt-get install tesseract-ocr`, `make tesseract`). Without it the server runs as
usual, logs once that OCR is off, and leaves photos queued for a server that has it.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import shutil
import unicodedata
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import NamedTuple, TypeVar

import pytesseract
from PIL import Image, ImageOps
from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.attachments.images import PILLOW_FORMATS
from server.attachments.models import Blob
from server.attachments.storage import BlobStore, run_io, user_key
from server.models.base import utcnow

MAX_ATTEMPTS = 3
MAX_TEXT = 10_000
IDLE_SECONDS = 30.0
"""The longest wait between looks at the queue (uploads to this process wake it at once)."""
LEASE_MARGIN = timedelta(seconds=60)
RETRY_AFTER = timedelta(minutes=2)
MIN_SIDE = 1200
"""Smaller images are scaled up first: Tesseract reads text best at around 30 px per line."""
MAX_SIDE = 4000

log = logging.getLogger("keeptabs.ocr")
T = TypeVar("T")

TextHook = Callable[[AsyncSession, str, str, str], Awaitable[None]]
"""(session, user_id, sha256, text): called in the transaction that stores a photo's text (attachments use it)."""


class Job(NamedTuple):
    user_id: str
    sha256: str
    attempts: int


def available() -> bool:
    return shutil.which(pytesseract.pytesseract.tesseract_cmd) is not None


def read_text(path: Path, timeout: float) -> str:
    """The text Tesseract finds in the image at `path` (blocking: run it in a thread)."""
    with Image.open(path) as opened:
        image = ImageOps.exif_transpose(opened).convert("L")  # a phone stores a portrait photo sideways plus a tag
    longest = max(image.size)
    if longest < MIN_SIDE or longest > MAX_SIDE:
        scale = (MIN_SIDE if longest < MIN_SIDE else MAX_SIDE) / longest
        image = image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.LANCZOS)
    text = pytesseract.image_to_string(image, timeout=timeout)
    return tidy(text)


def tidy(text: str) -> str:
    """NFC, no control characters (NUL cannot be stored), no blank lines, trimmed, at most MAX_TEXT characters."""
    text = unicodedata.normalize("NFC", text)
    lines = ("".join(c for c in line if c == "\t" or unicodedata.category(c)[0] != "C") for line in text.splitlines())
    return "\n".join(line.strip() for line in lines if line.strip())[:MAX_TEXT]


async def claim_next(sessionmaker: async_sessionmaker[AsyncSession], lease: timedelta) -> Job | bool | None:
    """The oldest queued photo whose lease is free, now leased to this process; None when the queue is empty, False
    when another process took the candidate first (look again)."""
    now = utcnow()
    free = (Blob.ocr_state == "pending", or_(Blob.ocr_lease_until.is_(None), Blob.ocr_lease_until < now))
    async with sessionmaker() as session, session.begin():
        candidate = (
            await session.execute(
                select(Blob.user_id, Blob.sha256, Blob.ocr_attempts).where(*free).order_by(Blob.created_at).limit(1)
            )
        ).one_or_none()
        if candidate is None:
            return None
        taken = await session.execute(
            update(Blob)
            .where(Blob.user_id == candidate.user_id, Blob.sha256 == candidate.sha256, *free)
            .values(ocr_lease_until=now + lease, ocr_attempts=Blob.ocr_attempts + 1)
        )
        if taken.rowcount != 1:  # type: ignore[attr-defined]
            return False
    return Job(candidate.user_id, candidate.sha256, candidate.ocr_attempts + 1)


async def finish(
    sessionmaker: async_sessionmaker[AsyncSession], job: Job, text: str | None, hooks: list[TextHook]
) -> None:
    """Stores the text (None: this attempt failed; retried later, or marked failed after MAX_ATTEMPTS)."""
    where = (Blob.user_id == job.user_id, Blob.sha256 == job.sha256)
    async with sessionmaker() as session, session.begin():
        if text is None:
            failed = job.attempts >= MAX_ATTEMPTS
            retry = {"ocr_lease_until": utcnow() + RETRY_AFTER}
            values = {"ocr_state": "failed", "ocr_lease_until": None} if failed else retry
            await session.execute(update(Blob).where(*where).values(**values))
            return
        await session.execute(update(Blob).where(*where).values(ocr_state="done", ocr_text=text, ocr_lease_until=None))
        for hook in hooks:
            await hook(session, job.user_id, job.sha256, text)


class OcrWorker:
    """This process's OCR loop (one photo at a time); `wake()` after an upload starts it at once.

    `stop()` interrupts only the waits (for work, or for tesseract's thread), never a database statement: a task
    cancelled inside a transaction could keep its connection, and on SQLite the write lock, after the engine is
    disposed. An interrupted photo keeps its lease, which runs out, and is read again later."""

    def __init__(
        self, sessionmaker: async_sessionmaker[AsyncSession], store: BlobStore, timeout: float, hooks: list[TextHook]
    ) -> None:
        self.sessionmaker = sessionmaker
        self.store = store
        self.timeout = timeout
        self.hooks = hooks
        self.lease = timedelta(seconds=timeout) + LEASE_MARGIN
        self._wake = asyncio.Event()
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="keeptabs-ocr")
        self._task: asyncio.Task[None] | None = None
        self._waiting = False
        self._stopping = False
        self.done = 0
        # Tesseract's own threads (OpenMP) only fight the server's requests for a small machine's cores, and make
        # it slower under load, not faster: one thread per photo, one photo at a time.
        os.environ.setdefault("OMP_THREAD_LIMIT", "1")

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="keeptabs-ocr")

    async def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            if self._waiting:
                self._task.cancel()
            self._wake.set()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._thread.shutdown(wait=False, cancel_futures=True)

    async def run(self) -> None:
        while not self._stopping:
            try:
                job = await claim_next(self.sessionmaker, self.lease)
                if job is None:
                    await self._wait(self._idle())
                elif job is not False:
                    await self.process(job)  # type: ignore[arg-type]
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("OCR: the queue could not be read; trying again shortly")
                await self._wait(self._idle())

    async def _wait(self, waiting: Awaitable[T]) -> T:
        if self._stopping:
            if inspect.iscoroutine(waiting):
                waiting.close()
            raise asyncio.CancelledError()
        self._waiting = True
        try:
            return await waiting
        finally:
            self._waiting = False

    async def _idle(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), IDLE_SECONDS)
        self._wake.clear()

    async def process(self, job: Job) -> None:
        scratch = self.store.scratch / f"ocr-{uuid.uuid4().hex}"
        text: str | None = None
        try:
            await self.store.fetch(user_key(job.user_id, job.sha256), scratch)
            loop = asyncio.get_running_loop()
            text = await self._wait(loop.run_in_executor(self._thread, read_text, scratch, self.timeout))
        except Exception as exc:
            log.warning("OCR of a photo failed (attempt %d of %d): %s", job.attempts, MAX_ATTEMPTS, exc)
        finally:
            await run_io(scratch.unlink, True)
        await finish(self.sessionmaker, job, text, self.hooks)
        self.done += 1


def initial_state(image_type: str) -> str:
    """Photos Pillow cannot open here (HEIC) are not queued at all."""
    return "pending" if image_type in PILLOW_FORMATS else "skipped"
