"""Blobs through the API, on SQLite and PostgreSQL, on disk and on a local S3-compatible server: upload (content
addressed, hash verified, type sniffed, size and quota enforced), download with its headers, presence, the list."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator

import msgspec
import pytest
from litestar import Litestar
from litestar.datastructures import State
from litestar.testing import AsyncTestClient
from PIL import Image, PngImagePlugin
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.app import create_app
from server.attachments.blobs import delete_user_blobs
from server.attachments.storage import BlobStore, user_key, user_prefix
from server.config import Settings
from tests.attachments_support import objects, photo, sha
from tests.conftest import NewAccount

PROBLEM = "application/problem+json"


async def put(client: AsyncTestClient[Litestar], headers: dict[str, str], data: bytes, digest: str | None = None):  # type: ignore[no-untyped-def]
    return await client.put(f"/api/blobs/{digest or sha(data)}", content=data, headers=headers)


async def test_upload_then_download_with_safe_headers(
    bclient: AsyncTestClient[Litestar], new_account: NewAccount, store: BlobStore
) -> None:
    account = await new_account(bclient)
    data = photo(64, 48, "JPEG")
    first = await put(bclient, {**account.headers, "Content-Type": "text/html"}, data)
    assert first.status_code == 201, first.text
    info = first.json()
    assert info | {"created_at": None} == {
        "sha256": sha(data), "type": "image/jpeg", "size": len(data), "width": 64, "height": 48,
        "created_at": None, "ocr": "pending", "text": "",
    }
    again = await put(bclient, account.headers, data)  # a retry, or a second device with the same photo
    assert again.status_code == 200 and again.json()["sha256"] == sha(data)
    assert await objects(store, user_prefix(account.user_id)) == 1

    got = await bclient.get(f"/api/blobs/{sha(data)}", headers=account.headers)
    assert got.status_code == 200 and got.content == data
    h = got.headers
    assert h["content-type"] == "image/jpeg"  # sniffed, not the text/html the upload claimed
    assert h["x-content-type-options"] == "nosniff"
    assert h["content-disposition"] == "inline"
    assert "default-src 'none'" in h["content-security-policy"] and "sandbox" in h["content-security-policy"]
    assert "script-src 'self'" not in h["content-security-policy"]
    assert h["etag"] == f'"{sha(data)}"'
    assert "immutable" in h["cache-control"] and "private" in h["cache-control"]
    assert "content-encoding" not in h

    cached = await bclient.get(f"/api/blobs/{sha(data)}", headers={**account.headers, "If-None-Match": h["etag"]})
    assert cached.status_code == 304 and cached.content == b""
    present = await bclient.head(f"/api/blobs/{sha(data)}", headers=account.headers)
    assert present.status_code == 200 and present.headers["content-length"] == str(len(data))
    assert present.headers["content-type"] == "image/jpeg"
    absent = await bclient.head(f"/api/blobs/{sha(b'other')}", headers=account.headers)
    assert absent.status_code == 404


@pytest.mark.parametrize("kind, mime", [("PNG", "image/png"), ("WEBP", "image/webp"), ("AVIF", "image/avif")])
async def test_each_accepted_type_is_sniffed(
    bclient: AsyncTestClient[Litestar], new_account: NewAccount, kind: str, mime: str
) -> None:
    account = await new_account(bclient)
    data = photo(30, 20, kind)
    response = await put(bclient, account.headers, data)
    assert response.status_code == 201, response.text
    assert (response.json()["type"], response.json()["width"], response.json()["height"]) == (mime, 30, 20)


async def test_wrong_hash_is_422_and_nothing_is_kept(
    bclient: AsyncTestClient[Litestar], new_account: NewAccount, store: BlobStore
) -> None:
    account = await new_account(bclient)
    data = photo()
    response = await put(bclient, account.headers, data, sha(b"something else"))
    assert response.status_code == 422 and response.headers["content-type"] == PROBLEM
    assert sha(data) in response.json()["detail"]
    listed = (await bclient.get("/api/blobs", headers=account.headers)).json()
    assert listed["blobs"] == [] and listed["used"] == 0
    assert await objects(store, user_prefix(account.user_id)) == 0
    malformed = await bclient.put("/api/blobs/ABC", content=data, headers=account.headers)
    assert malformed.status_code == 422 and malformed.json()["errors"][0]["field"] == "sha256"


@pytest.mark.parametrize(
    "data",
    [
        b"<html><script>alert(1)</script></html>",
        b"GIF89a" + b"\x00" * 100,
        b"\x89PNG\r\n\x1a\n" + b"not really a png" * 10,
        b"",
    ],
    ids=["html", "gif", "broken-png", "empty"],
)
async def test_anything_but_an_accepted_image_is_415(
    bclient: AsyncTestClient[Litestar], new_account: NewAccount, data: bytes
) -> None:
    account = await new_account(bclient)
    response = await put(bclient, {**account.headers, "Content-Type": "image/jpeg"}, data)
    assert response.status_code == 415 and response.headers["content-type"] == PROBLEM, response.text
    assert (await bclient.head(f"/api/blobs/{sha(data)}", headers=account.headers)).status_code == 404


async def test_a_photo_sent_as_json_is_still_only_bytes(
    bclient: AsyncTestClient[Litestar], new_account: NewAccount
) -> None:
    """The app's check of JSON bodies (which reads them whole) does not run on uploads: a PNG whose text chunk holds
    the six characters \\u0000, sent with Content-Type: application/json, is a photo like any other. A NUL in the
    URL is still refused."""
    image = Image.new("RGB", (10, 10), "red")
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "\\u0000")
    out = io.BytesIO()
    image.save(out, "PNG", pnginfo=info)
    data = out.getvalue()
    assert b"\\u0000" in data
    account = await new_account(bclient)
    response = await put(bclient, {**account.headers, "Content-Type": "application/json"}, data)
    assert response.status_code == 201 and response.json()["type"] == "image/png", response.text
    nul = await bclient.put(f"/api/blobs/{sha(data)}?x=%00", content=data, headers=account.headers)
    assert nul.status_code == 422


async def _client(settings: Settings) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app=create_app(settings)) as client:
        yield client


async def test_size_limit_is_413(
    blob_settings: Settings, new_account: NewAccount, store: BlobStore
) -> None:
    settings = msgspec.structs.replace(blob_settings, blob_max_bytes=4096)
    big = photo(100, 100, "PNG", seed=3, noisy=True)
    assert len(big) > 4096
    async for client in _client(settings):
        account = await new_account(client)
        announced = await put(client, account.headers, big)
        assert announced.status_code == 413 and announced.headers["content-type"] == PROBLEM

        assert await objects(store, user_prefix(account.user_id)) == 0
        assert list((store.scratch).iterdir()) == []  # no scratch file left behind


async def test_quota_is_413_and_counts_every_blob(blob_settings: Settings, new_account: NewAccount) -> None:
    first, second, third = photo(seed=1), photo(seed=2), photo(seed=3)
    settings = msgspec.structs.replace(blob_settings, blob_quota_bytes=len(first) + len(second) + 10)
    async for client in _client(settings):
        account = await new_account(client)
        assert (await put(client, account.headers, first)).status_code == 201
        assert (await put(client, account.headers, second)).status_code == 201
        over = await put(client, account.headers, third)
        assert over.status_code == 413 and over.json()["title"] == "Quota exceeded", over.text
        listed = (await client.get("/api/blobs", headers=account.headers)).json()
        assert listed["used"] == len(first) + len(second) and listed["quota"] == settings.blob_quota_bytes
        assert {b["sha256"] for b in listed["blobs"]} == {sha(first), sha(second)}
        other = await new_account(client)  # the quota is per user
        assert (await put(client, other.headers, third)).status_code == 201


async def test_concurrent_uploads_under_the_quota_cannot_both_pass(
    blob_settings: Settings, new_account: NewAccount
) -> None:
    images = [photo(seed=s) for s in range(4)]
    settings = msgspec.structs.replace(blob_settings, blob_quota_bytes=max(map(len, images)) * 2 + 10)
    async for client in _client(settings):
        account = await new_account(client)
        answers = await asyncio.gather(*(put(client, account.headers, data) for data in images))
        assert sorted(a.status_code for a in answers) == [201, 201, 413, 413]
        listed = (await client.get("/api/blobs", headers=account.headers)).json()
        assert listed["used"] <= settings.blob_quota_bytes and len(listed["blobs"]) == 2


async def test_the_same_photo_at_once_from_two_devices_is_stored_once(
    bclient: AsyncTestClient[Litestar], new_account: NewAccount, store: BlobStore
) -> None:
    account = await new_account(bclient)
    data = photo(seed=9)
    answers = await asyncio.gather(*(put(bclient, account.headers, data) for _ in range(3)))
    assert sorted(a.status_code for a in answers) == [200, 200, 201]
    assert {a.json()["sha256"] for a in answers} == {sha(data)}
    assert await objects(store, user_prefix(account.user_id)) == 1
    assert len((await bclient.get("/api/blobs", headers=account.headers)).json()["blobs"]) == 1


async def test_a_blob_is_its_owners_only(
    bclient: AsyncTestClient[Litestar], new_account: NewAccount, store: BlobStore
) -> None:
    ana, tom = await new_account(bclient), await new_account(bclient)
    data = photo(seed=5)
    assert (await put(bclient, ana.headers, data)).status_code == 201
    assert (await bclient.get(f"/api/blobs/{sha(data)}", headers=tom.headers)).status_code == 404
    assert (await bclient.head(f"/api/blobs/{sha(data)}", headers=tom.headers)).status_code == 404
    assert (await bclient.get(f"/api/blobs/{sha(data)}")).status_code == 401
    assert (await put(bclient, tom.headers, data)).status_code == 201  # Tom's own copy, not a link to Ana's
    assert await objects(store, user_prefix(tom.user_id)) == 1


async def test_bytes_lost_on_the_server_are_404_and_a_new_upload_repairs_them(
    bclient: AsyncTestClient[Litestar], new_account: NewAccount, store: BlobStore
) -> None:
    account = await new_account(bclient)
    data = photo(seed=12)
    assert (await put(bclient, account.headers, data)).status_code == 201
    await store.delete(user_key(account.user_id, sha(data)))  # e.g. a database restored without the newest photos
    lost = await bclient.get(f"/api/blobs/{sha(data)}", headers=account.headers)
    assert lost.status_code == 404 and lost.headers["content-type"] == PROBLEM
    assert (await bclient.head(f"/api/blobs/{sha(data)}", headers=account.headers)).status_code == 404
    assert (await put(bclient, account.headers, data)).status_code == 200
    assert (await bclient.get(f"/api/blobs/{sha(data)}", headers=account.headers)).content == data
    assert len((await bclient.get("/api/blobs", headers=account.headers)).json()["blobs"]) == 1


async def test_list_pages_in_hash_order(bclient: AsyncTestClient[Litestar], new_account: NewAccount) -> None:
    from server.attachments import blobs

    account = await new_account(bclient)
    hashes = sorted([sha(d) for d in [photo(seed=s) for s in range(5)] if (await put(bclient, account.headers, d))])
    blobs.LIST_LIMIT, saved = 2, blobs.LIST_LIMIT
    seen: list[str] = []
    try:
        after = ""
        while True:
            page = (await bclient.get("/api/blobs", params={"after": after}, headers=account.headers)).json()
            seen += [b["sha256"] for b in page["blobs"]]
            if not page["more"]:
                break
            after = seen[-1]
    finally:
        blobs.LIST_LIMIT = saved
    assert seen == hashes


async def test_delete_user_blobs_removes_bytes_and_rows(
    blob_app: Litestar, new_account: NewAccount, store: BlobStore, db_sessions: async_sessionmaker[AsyncSession]
) -> None:
    test_state = State({"blobs": store, "sessionmaker": db_sessions})  # the app's engine lives on its own loop
    async with AsyncTestClient(app=blob_app) as client:
        ana, tom = await new_account(client), await new_account(client)
        for s in range(3):
            await put(client, ana.headers, photo(seed=s))
        await put(client, tom.headers, photo(seed=0))
        assert await delete_user_blobs(test_state, ana.user_id) == 3
        assert (await client.get("/api/blobs", headers=ana.headers)).json()["blobs"] == []
        assert await objects(store, user_prefix(ana.user_id)) == 0
        assert len((await client.get("/api/blobs", headers=tom.headers)).json()["blobs"]) == 1
        assert await objects(store, user_prefix(tom.user_id)) == 1
