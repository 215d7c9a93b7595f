"""Text in photos: Tesseract reads a card the test renders; the queue in the database survives a restart, is shared
by several workers without reading a photo twice, takes over a dead worker's lease, and gives up after a few
failures; without tesseract the server runs and says once that OCR is off."""

from __future__ import annotations

import asyncio
import logging
import os
from datetime import timedelta

import msgspec
import pytesseract
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.app import create_app
from server.attachments import lifespan, ocr
from server.attachments.models import Blob
from server.attachments.storage import DiskStore
from server.config import Settings
from server.models.base import utcnow
from tests.attachments_support import card, eventually, photo, sha
from tests.conftest import NewAccount

EMAIL = "priya.shah@stripe.com"


@pytest.fixture(autouse=True)
def tesseract() -> None:
    if not ocr.available():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("tesseract is required under CI (make tesseract)")
        pytest.skip("tesseract is not installed (make tesseract)")


async def _text_of(client: AsyncTestClient[Litestar], headers: dict[str, str], digest: str) -> str | None:
    blobs = (await client.get("/api/blobs", headers=headers)).json()["blobs"]
    info = next(b for b in blobs if b["sha256"] == digest)
    return info["text"] if info["ocr"] == "done" else None


async def test_the_email_on_a_card_is_read(bclient: AsyncTestClient[Litestar], new_account: NewAccount) -> None:
    account = await new_account(bclient)
    data = card()
    assert (await bclient.put(f"/api/blobs/{sha(data)}", content=data, headers=account.headers)).status_code == 201
    text = await eventually(lambda: _text_of(bclient, account.headers, sha(data)), timeout=60)
    assert EMAIL in text and "Priya Shah" in text and "Stripe" in text


async def test_queued_photos_are_read_after_a_restart(blob_settings: Settings, new_account: NewAccount) -> None:
    data = card(("Booth 12", "Stripe is hiring", EMAIL), kind="JPEG")
    async with AsyncTestClient(app=create_app(msgspec.structs.replace(blob_settings, ocr=False))) as client:
        account = await new_account(client)
        assert (await client.put(f"/api/blobs/{sha(data)}", content=data, headers=account.headers)).status_code == 201
        assert client.app.state.ocr is None
    async with AsyncTestClient(app=create_app(blob_settings)) as client:
        text = await eventually(lambda: _text_of(client, account.headers, sha(data)), timeout=60)
        assert EMAIL in text


async def _queue(settings: Settings, new_account: NewAccount, images: list[bytes]) -> str:
    """Uploads with OCR off, so the photos wait in the queue for the test's own workers."""
    async with AsyncTestClient(app=create_app(msgspec.structs.replace(settings, ocr=False))) as client:
        account = await new_account(client)
        for data in images:
            stored = await client.put(f"/api/blobs/{sha(data)}", content=data, headers=account.headers)
            assert stored.status_code == 201
    return account.user_id


async def _rows(db: async_sessionmaker[AsyncSession]) -> list[Blob]:
    async with db() as session:
        return list((await session.scalars(select(Blob).order_by(Blob.sha256))).all())


async def test_two_workers_never_read_the_same_photo(
    settings: Settings, new_account: NewAccount, db_sessions: async_sessionmaker[AsyncSession]
) -> None:
    """The queue is the database's business (each database; the stores are covered by the tests above)."""
    images = [card((f"Person {i}", f"person{i}@example.org")) for i in range(4)]
    await _queue(settings, new_account, images)
    store = DiskStore(settings.blob_path)
    workers = [ocr.OcrWorker(db_sessions, store, timeout=30, hooks=[]) for _ in range(2)]
    for worker in workers:
        worker.start()

    async def all_read() -> bool:
        return all(row.ocr_state == "done" for row in await _rows(db_sessions))

    try:
        await eventually(all_read, timeout=90)
    finally:
        await asyncio.gather(*(worker.stop() for worker in workers))
    rows = await _rows(db_sessions)
    assert [row.ocr_attempts for row in rows] == [1, 1, 1, 1]
    assert sum(worker.done for worker in workers) == 4
    assert {row.sha256: row.ocr_text for row in rows}[sha(images[2])].count("person2@example.org") == 1


async def test_a_dead_workers_lease_is_taken_over_and_failures_end(
    settings: Settings, new_account: NewAccount, db_sessions: async_sessionmaker[AsyncSession]
) -> None:
    readable, stubborn = card(), photo(2000, 1500, "PNG", seed=1, noisy=True)
    await _queue(settings, new_account, [readable, stubborn])
    store = DiskStore(settings.blob_path)
    async with db_sessions() as session, session.begin():
        # `readable` was leased by a process that died one attempt in; `stubborn` has failed twice already.
        past = utcnow() - timedelta(seconds=1)
        await session.execute(
            update(Blob).where(Blob.sha256 == sha(readable)).values(ocr_attempts=1, ocr_lease_until=past)
        )
        await session.execute(
            update(Blob).where(Blob.sha256 == sha(stubborn)).values(ocr_attempts=ocr.MAX_ATTEMPTS - 1)
        )
    worker = ocr.OcrWorker(db_sessions, store, timeout=30, hooks=[])
    job = await ocr.claim_next(db_sessions, worker.lease)
    assert job and job.sha256 == sha(readable) and job.attempts == 2  # type: ignore[union-attr]
    await worker.process(job)  # type: ignore[arg-type]
    worker.timeout = 0.05  # tesseract is killed past its timeout: this attempt fails
    job = await ocr.claim_next(db_sessions, worker.lease)
    assert job and job.sha256 == sha(stubborn)  # type: ignore[union-attr]
    await worker.process(job)  # type: ignore[arg-type]
    await worker.stop()
    rows = {row.sha256: row for row in await _rows(db_sessions)}
    assert rows[sha(readable)].ocr_state == "done" and EMAIL in rows[sha(readable)].ocr_text
    assert rows[sha(stubborn)].ocr_state == "failed" and rows[sha(stubborn)].ocr_attempts == ocr.MAX_ATTEMPTS
    assert await ocr.claim_next(db_sessions, worker.lease) is None  # nothing left to try


async def test_without_tesseract_the_server_runs_and_says_so_once(
    settings: Settings, new_account: NewAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pytesseract.pytesseract, "tesseract_cmd", "/nonexistent/tesseract")
    monkeypatch.setattr(lifespan, "_warned", False)
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append  # type: ignore[method-assign]
    logging.getLogger("keeptabs.attachments").addHandler(handler)
    try:
        for _ in range(2):
            async with AsyncTestClient(app=create_app(settings)) as client:
                assert client.app.state.ocr is None
                account = await new_account(client)
                data = card()
                stored = await client.put(f"/api/blobs/{sha(data)}", content=data, headers=account.headers)
                assert stored.status_code == 201
    finally:
        logging.getLogger("keeptabs.attachments").removeHandler(handler)
    assert [r.getMessage() for r in records if "OCR is off" in r.getMessage()] == [
        "OCR is off: the tesseract command was not found (apt-get install tesseract-ocr)"
    ]


def test_text_is_tidied() -> None:
    assert ocr.tidy("  Priya\x00 Shah \n\n\x0c priya@x.org \n") == "Priya Shah\npriya@x.org"
    assert len(ocr.tidy("a" * 20_000)) == ocr.MAX_TEXT
