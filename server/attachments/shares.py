"""Shares that reach the server because no service worker took them (the app's first visit on a device).

POST /share (multipart: title, text, url, image files) is parsed as it streams in; every image goes to the blob
store under a new share whose id is a 256-bit secret (only its SHA-256 is stored), and the browser is sent to
GET /share/<id>, a page that shows everything and hands the text to the app. Nothing shared is dropped silently:
a file that cannot be kept (not an image, too large) is listed on the page with the reason. A signed-in device
claims the share (POST /api/shares/<id>/claim): its photos become that user's blobs and the share is gone. Shares
nobody claims expire after KEEPTABS_SHARE_TTL_HOURS and are swept.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import AsyncIterable
from datetime import datetime, timedelta
from typing import Any

import msgspec
from litestar.datastructures import State
from sqlalchemy import delete, func, select

from server.attachments.blobs import BlobInfo, find, lock_user, used_bytes
from server.attachments.form import ShareForm, parse_share
from server.attachments.models import Blob, PendingShare
from server.attachments.ocr import initial_state
from server.attachments.storage import BlobStore, run_io, share_key, share_prefix, user_key
from server.config import Settings
from server.db import reading
from server.errors import NotFound, PayloadTooLarge, ServiceUnavailable
from server.models.base import utcnow

SHARE_ID = re.compile(r"^[A-Za-z0-9_-]{43}$")
SWEEP_BATCH = 100


class ClaimedShare(msgspec.Struct):
    title: str
    text: str
    url: str
    images: list[BlobInfo]
    """The shared photos, now the user's blobs, in the order they were shared."""
    refused: list[str]
    created_at: datetime


def hash_id(share_id: str) -> str:
    if not SHARE_ID.match(share_id):
        raise NotFound("No such share: it expired, was already taken, or never existed.")
    return hashlib.sha256(share_id.encode()).hexdigest()


async def receive(state: State, content_type: str, body: AsyncIterable[bytes]) -> str:
    """Keeps a share as it arrives; returns its id (the secret for the page and the claim)."""
    settings: Settings = state.settings
    store: BlobStore = state.blobs
    form = await parse_share(content_type, body, store.scratch, settings.blob_max_bytes)
    try:
        return await _keep(state, form)
    finally:
        for path in form.scratch:
            await run_io(path.unlink, True)


async def _keep(state: State, form: ShareForm) -> str:
    settings: Settings = state.settings
    size = sum(image["size"] for image in form.images)
    async with reading(state.engine) as conn:
        held = int(await conn.scalar(select(func.coalesce(func.sum(PendingShare.size), 0))) or 0)
    if held + size > settings.share_storage_bytes:
        raise ServiceUnavailable(
            "Too many shares are waiting to be claimed; try again later.", headers={"Retry-After": "3600"}
        )
    share_id = secrets.token_urlsafe(32)
    id_hash = hash_id(share_id)
    for image, path in zip(form.images, form.scratch, strict=True):
        await state.blobs.put(share_key(id_hash, image["sha256"]), path)
    now = utcnow()
    async with state.sessionmaker() as session, session.begin():
        session.add(
            PendingShare(
                id_hash=id_hash, title=form.title, text=form.text, url=form.url, images=form.images,
                refused=form.refused, size=size, created_at=now,
                expires_at=now + timedelta(hours=settings.share_ttl_hours),
            )
        )
    return share_id


async def load(state: State, share_id: str) -> PendingShare:
    id_hash = hash_id(share_id)
    async with state.sessionmaker() as session:
        share = await session.get(PendingShare, id_hash)
    if share is None or share.expires_at <= utcnow():
        raise NotFound("No such share: it expired, was already taken, or never existed.")
    return share


async def open_image(state: State, share_id: str, index: int) -> tuple[dict[str, Any], AsyncIterable[bytes]]:
    share = await load(state, share_id)
    if not 0 <= index < len(share.images):
        raise NotFound("No such image in this share.")
    image = share.images[index]
    return image, state.blobs.read(share_key(share.id_hash, image["sha256"]))


async def claim(state: State, user_id: str, share_id: str) -> ClaimedShare:
    """The share's photos become the user's blobs and the share ends (the first claim wins; later ones get 404)."""
    share = await load(state, share_id)
    store: BlobStore = state.blobs
    copied = []
    for image in share.images:
        if await find(state, user_id, image["sha256"]) is None:
            await store.copy(share_key(share.id_hash, image["sha256"]), user_key(user_id, image["sha256"]))
            copied.append(image)
    try:
        await _take(state, user_id, share, copied)
    except BaseException:
        for image in copied:  # the objects copied for rows that were not written
            if await find(state, user_id, image["sha256"]) is None:
                await store.delete(user_key(user_id, image["sha256"]))
        raise
    await store.delete_prefix(share_prefix(share.id_hash))
    if copied and (worker := state.get("ocr")) is not None:
        worker.wake()
    images = [info for image in share.images if (info := await find(state, user_id, image["sha256"])) is not None]
    return ClaimedShare(share.title, share.text, share.url, images, list(share.refused), share.created_at)


async def _take(state: State, user_id: str, share: PendingShare, copied: list[dict[str, Any]]) -> None:
    settings: Settings = state.settings
    async with state.sessionmaker() as session, session.begin():
        await lock_user(session, user_id)
        ended = await session.execute(delete(PendingShare).where(PendingShare.id_hash == share.id_hash))
        if ended.rowcount != 1:  # type: ignore[attr-defined]
            raise NotFound("No such share: it expired, was already taken, or never existed.")
        new = [image for image in copied if await session.get(Blob, (user_id, image["sha256"])) is None]
        used, size = await used_bytes(session, user_id), sum(image["size"] for image in new)
        if used + size > settings.blob_quota_bytes:
            raise PayloadTooLarge(
                f"The shared photos ({size:,} bytes) would go over your photo quota ({used:,} of"
                f" {settings.blob_quota_bytes:,} bytes used); the share is kept until it expires.",
                title="Quota exceeded",
            )
        now = utcnow()
        for image in new:
            session.add(
                Blob(
                    user_id=user_id, sha256=image["sha256"], type=image["type"], size=image["size"],
                    width=image["width"], height=image["height"], ocr_state=initial_state(image["type"]),
                    ocr_text="", created_at=now,
                )
            )


async def sweep_expired(state: State) -> int:
    """Removes shares past their expiry, photos first (a crash half way leaves the row to try again)."""
    async with reading(state.engine) as conn:
        statement = select(PendingShare.id_hash).where(PendingShare.expires_at <= utcnow()).limit(SWEEP_BATCH)
        expired = (await conn.scalars(statement)).all()
    for id_hash in expired:
        await state.blobs.delete_prefix(share_prefix(id_hash))
        async with state.sessionmaker() as session, session.begin():
            await session.execute(delete(PendingShare).where(PendingShare.id_hash == id_hash))
    return len(expired)
