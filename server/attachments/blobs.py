"""The blob service: what the /api/blobs routes call, and what account deletion calls (delete_user_blobs).

An upload is checked three times before anything is kept: its announced length against the size limit and the
quota (before a byte is read), then, once received into a scratch file, its SHA-256 against the one in the path and
its first bytes against the accepted image types; the quota is checked again in the transaction that records it,
under the user's row lock, so two concurrent uploads cannot both squeeze under it.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from datetime import datetime
from typing import Any, Literal, cast

import msgspec
from litestar.datastructures import State
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from server.attachments.images import ImageInfo, NotAnImage, inspect
from server.attachments.intake import Received, TooLarge, receive
from server.attachments.models import Blob
from server.attachments.ocr import initial_state
from server.attachments.storage import SHA256, BlobStore, run_io, user_key, user_prefix
from server.config import Settings
from server.db import reading
from server.errors import NotFound, PayloadTooLarge, ProblemError, Unprocessable
from server.models.accounts import User
from server.models.base import utcnow

LIST_LIMIT = 1000


class UnsupportedMediaType(ProblemError):
    status = 415


OcrState = Literal["pending", "done", "failed", "skipped"]


class BlobInfo(msgspec.Struct):
    sha256: str
    type: str
    size: int
    width: int | None
    height: int | None
    created_at: datetime
    ocr: OcrState
    text: str
    """The text OCR read in the image ("" until it has run)."""


class BlobList(msgspec.Struct):
    used: int
    """Bytes of every blob of the user, what the quota counts."""
    quota: int
    blobs: list[BlobInfo]
    more: bool
    """More blobs follow the last one listed: ask again with ?after=<its sha256>."""


_COLUMNS = (
    Blob.sha256, Blob.type, Blob.size, Blob.width, Blob.height, Blob.created_at, Blob.ocr_state, Blob.ocr_text,
)


def _info(row: Any) -> BlobInfo:
    return BlobInfo(row.sha256, row.type, row.size, row.width, row.height, row.created_at, row.ocr_state, row.ocr_text)


def check_hash(sha256: str) -> str:
    if not SHA256.match(sha256):
        raise Unprocessable("sha256", "must be 64 lowercase hexadecimal characters (the SHA-256 of the bytes)")
    return sha256


async def find(state: State, user_id: str, sha256: str) -> BlobInfo | None:
    async with reading(state.engine) as conn:
        statement = select(*_COLUMNS).where(Blob.user_id == user_id, Blob.sha256 == check_hash(sha256))
        row = (await conn.execute(statement)).one_or_none()
    return None if row is None else _info(row)


async def used_bytes(db: AsyncSession | Any, user_id: str) -> int:
    return int(await db.scalar(select(func.coalesce(func.sum(Blob.size), 0)).where(Blob.user_id == user_id)) or 0)


async def list_blobs(state: State, user_id: str, after: str, limit: int = LIST_LIMIT) -> BlobList:
    async with reading(state.engine) as conn:
        used = await used_bytes(conn, user_id)
        statement = select(*_COLUMNS).where(Blob.user_id == user_id, Blob.sha256 > after)
        rows = (await conn.execute(statement.order_by(Blob.sha256).limit(limit + 1))).all()
    settings: Settings = state.settings
    return BlobList(used, settings.blob_quota_bytes, [_info(r) for r in rows[:limit]], len(rows) > limit)


def _over_quota(settings: Settings, used: int, size: int) -> PayloadTooLarge:
    quota = settings.blob_quota_bytes
    return PayloadTooLarge(
        f"Storing {size:,} more bytes would go over your photo quota ({used:,} of {quota:,} bytes used).",
        title="Quota exceeded",
    )


async def upload(
    state: State, user_id: str, sha256: str, announced: int | None, body: AsyncIterable[bytes]
) -> tuple[BlobInfo, bool]:
    """Stores the body as the user's blob `sha256`; (its info, True) if new, (info, False) if already stored.

    A blob whose row outlived its bytes (a database restored without the photos taken after it) is stored again
    from the upload: the devices that still hold the photo repair it by sending it once more."""
    settings: Settings = state.settings
    store: BlobStore = state.blobs
    known = await find(state, user_id, sha256)
    if known is not None and await store.exists(user_key(user_id, sha256)):
        return known, False
    if announced is not None and announced > settings.blob_max_bytes:
        raise _too_large(settings)
    if known is None:
        async with reading(state.engine) as conn:
            used = await used_bytes(conn, user_id)
        if used + (announced or 0) > settings.blob_quota_bytes:
            raise _over_quota(settings, used, announced or 0)
    received = await _receive(store, settings, body)
    try:
        image = await _check(received, sha256)
        await store.put(user_key(user_id, sha256), received.path)
    finally:
        await run_io(received.path.unlink, True)
    if known is not None:
        return known, False
    return await _record(state, user_id, sha256, received.size, image)


def _too_large(settings: Settings) -> PayloadTooLarge:
    return PayloadTooLarge(f"An image may be at most {settings.blob_max_bytes:,} bytes.", title="Image too large")


async def _receive(store: BlobStore, settings: Settings, body: AsyncIterable[bytes]) -> Received:
    try:
        return await receive(body, store.scratch, settings.blob_max_bytes)
    except TooLarge as exc:
        raise _too_large(settings) from exc


async def _check(received: Received, sha256: str) -> ImageInfo:
    if received.sha256 != sha256:
        raise Unprocessable("sha256", f"the body's SHA-256 is {received.sha256}, not the one in the path")
    try:
        return await run_io(inspect, received.path, received.head)
    except NotAnImage as exc:
        raise UnsupportedMediaType(str(exc)) from exc


async def _record(state: State, user_id: str, sha256: str, size: int, image: ImageInfo) -> tuple[BlobInfo, bool]:
    """The row, under the user's lock with the quota checked again; the stored object goes if it may not stay."""
    settings: Settings = state.settings
    row = Blob(
        user_id=user_id, sha256=sha256, type=image.type, size=size, width=image.width, height=image.height,
        ocr_state=initial_state(image.type), ocr_text="", created_at=utcnow(),
    )
    try:
        async with state.sessionmaker() as session, session.begin():
            await lock_user(session, user_id)
            if (existing := await session.get(Blob, (user_id, sha256))) is not None:
                return _info_of(existing), False  # a concurrent upload of the same photo won
            used = await used_bytes(session, user_id)
            if used + size > settings.blob_quota_bytes:
                await state.blobs.delete(user_key(user_id, sha256))
                raise _over_quota(settings, used, size)
            session.add(row)
    except IntegrityError:
        known = await find(state, user_id, sha256)
        if known is None:
            raise
        return known, False
    _wake_ocr(state)
    return _info_of(row), True


def _info_of(row: Blob) -> BlobInfo:
    return BlobInfo(
        row.sha256, row.type, row.size, row.width, row.height, row.created_at,
        cast(OcrState, row.ocr_state or "pending"), row.ocr_text or "",
    )


async def lock_user(session: AsyncSession, user_id: str) -> None:
    """Serialises the user's blob writers (SQLite's BEGIN IMMEDIATE already serialises every writer)."""
    await session.execute(select(User.id).where(User.id == user_id).with_for_update())


def _wake_ocr(state: State) -> None:
    worker = state.get("ocr")
    if worker is not None:
        worker.wake()


async def stored(state: State, user_id: str, sha256: str) -> bool:
    """Whether the bytes are in the store (the row says the user has the blob; this says the bytes are there)."""
    store: BlobStore = state.blobs
    return await store.exists(user_key(user_id, sha256))


async def open_blob(state: State, user_id: str, sha256: str) -> tuple[BlobInfo, AsyncIterable[bytes]]:
    info = await find(state, user_id, sha256)
    if info is None:
        raise NotFound("No such photo.")
    store: BlobStore = state.blobs
    chunks = aiter(store.read(user_key(user_id, sha256)))
    try:
        first = await anext(chunks, b"")  # a missing object is a 404 here, not a response cut after its headers
    except FileNotFoundError as exc:
        raise NotFound("This photo's bytes are missing on the server: upload it again.") from exc
    return info, _prepend(first, chunks)


async def _prepend(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    yield first
    async for chunk in rest:
        yield chunk


async def delete_user_blobs(state: State, user_id: str) -> int:
    """Every blob of the user, bytes and rows (account deletion calls this). Objects go first: if that fails half
    way, the rows still list what is left and a second call finishes the job. Returns the objects removed."""
    store: BlobStore = state.blobs
    removed = await store.delete_prefix(user_prefix(user_id))
    async with state.sessionmaker() as session, session.begin():
        await session.execute(delete(Blob).where(Blob.user_id == user_id))
    return removed
