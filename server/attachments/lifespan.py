"""The attachments feature's part of the app's life: the blob store, this process's OCR worker, and the sweep of
shares nobody claimed. Found in app.state as `blobs` and `ocr` (None when OCR is off)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar

from server.attachments import ocr, shares
from server.attachments.storage import open_store
from server.config import Settings

SWEEP_EVERY = 600.0
log = logging.getLogger("keeptabs.attachments")
_warned = False


@asynccontextmanager
async def attachments_lifespan(app: Litestar) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    store = open_store(settings)
    app.state.blobs = store
    app.state.ocr = worker = _ocr_worker(app, settings)
    stop = asyncio.Event()
    sweeper = asyncio.create_task(_sweep(app, stop), name="keeptabs-share-sweep")
    if worker is not None:
        worker.start()
    try:
        yield
    finally:
        stop.set()  # the sweep ends at its next wait, never inside a transaction (see OcrWorker.stop)
        await sweeper
        if worker is not None:
            await worker.stop()
        await store.close()


def _ocr_worker(app: Litestar, settings: Settings) -> ocr.OcrWorker | None:
    global _warned
    if not settings.ocr:
        return None
    if not ocr.available():
        if not _warned:  # once per process, not once per app the tests create
            log.warning("OCR is off: the tesseract command was not found (apt-get install tesseract-ocr)")
            _warned = True
        return None
    return ocr.OcrWorker(app.state.sessionmaker, app.state.blobs, settings.ocr_timeout, list(ocr_hooks(app)))


def ocr_hooks(app: Litestar) -> list[ocr.TextHook]:
    return []


async def _sweep(app: Litestar, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            removed = await shares.sweep_expired(app.state)
            if removed:
                log.info("removed %d expired shares", removed)
        except Exception:
            log.exception("expired shares could not be removed; trying again later")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), SWEEP_EVERY)
