"""Shares that arrive with no service worker to take them (POST /share), on each database and blob store: the page
shows everything, the photos wait as a pending share that the first signed-in device claims, and nothing is dropped."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import msgspec
from litestar import Litestar
from litestar.datastructures import State
from litestar.testing import AsyncTestClient
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.app import create_app
from server.attachments.models import PendingShare
from server.attachments.shares import hash_id, sweep_expired
from server.attachments.storage import BlobStore, share_prefix, user_prefix
from server.config import Settings
from server.models.base import utcnow
from tests.attachments_support import objects, photo, sha
from tests.conftest import NewAccount
from tests.server_process import ServerProcess

TEXT = 'Met Priya at the Stripe booth <script>alert("x")</script> & more'
URL = "https://www.linkedin.com/in/priya-shah"


def share_files(*images: bytes) -> list[tuple[str, tuple[str, bytes, str]]]:
    files = [("images", (f"photo{i}.jpg", data, "image/jpeg")) for i, data in enumerate(images)]
    return [*files, ("images", ("notes.pdf", b"%PDF-1.4 not an image", "application/pdf"))]


async def post_share(client: AsyncTestClient[Litestar] | httpx.AsyncClient, *images: bytes) -> str:
    data = {"title": "Priya Shah ✓", "text": TEXT, "url": URL}
    response = await client.post(
        "/share", data=data, files=share_files(*images), headers={"Sec-Fetch-Site": "none"}, follow_redirects=False
    )
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert re.fullmatch(r"/share/[A-Za-z0-9_-]{43}", location), location
    return location.rsplit("/", 1)[1]


async def test_share_page_keeps_everything_until_claimed(
    bclient: AsyncTestClient[Litestar], new_account: NewAccount, store: BlobStore
) -> None:
    first, second = photo(seed=1), photo(80, 60, "PNG", seed=2)
    share_id = await post_share(bclient, first, second)

    page = await bclient.get(f"/share/{share_id}")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    assert "Priya Shah ✓" in html and URL in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; more" in html and "<script>alert" not in html
    assert f'data-share="{share_id}"' in html and 'data-auto="true"' in html and 'data-images="2"' in html
    assert "notes.pdf" in html and "not kept" in html.lower()  # refused, and said so
    assert "share-fallback.js" in html and "script-src 'self'" in page.headers["content-security-policy"]
    for index, data in enumerate((first, second)):
        image = await bclient.get(f"/share/{share_id}/images/{index}")
        assert image.status_code == 200 and image.content == data
        assert "sandbox" in image.headers["content-security-policy"]
    assert (await bclient.get(f"/share/{share_id}/images/2")).status_code == 404

    account = await new_account(bclient)
    claimed = await bclient.post(f"/api/shares/{share_id}/claim", headers=account.headers)
    assert claimed.status_code == 200, claimed.text
    body = claimed.json()
    assert (body["title"], body["text"], body["url"]) == ("Priya Shah ✓", TEXT, URL)
    expected = [(sha(first), "image/jpeg"), (sha(second), "image/png")]
    assert [(i["sha256"], i["type"]) for i in body["images"]] == expected
    assert body["refused"] and "notes.pdf" in body["refused"][0]
    for data in (first, second):
        got = await bclient.get(f"/api/blobs/{sha(data)}", headers=account.headers)
        assert got.status_code == 200 and got.content == data
    assert await objects(store, user_prefix(account.user_id)) == 2
    assert await objects(store, share_prefix(hash_id(share_id))) == 0

    # The first claim took it: the page and a second claim (another device, another user) find nothing.
    assert (await bclient.get(f"/share/{share_id}")).status_code == 404
    other = await new_account(bclient)
    assert (await bclient.post(f"/api/shares/{share_id}/claim", headers=other.headers)).status_code == 404


async def test_a_share_from_another_site_waits_for_a_tap(bclient: AsyncTestClient[Litestar]) -> None:
    response = await bclient.post("/share", data={"text": "spam"}, files=share_files(), follow_redirects=False)
    page = await bclient.get(response.headers["location"], headers={"Sec-Fetch-Site": "cross-site"})
    assert 'data-auto="false"' in page.text and "spam" in page.text


async def test_bad_shares_are_refused_with_a_problem(bclient: AsyncTestClient[Litestar]) -> None:
    plain = await bclient.post("/share", json={"text": "hello"})
    assert plain.status_code == 415 and plain.headers["content-type"] == "application/problem+json"
    long = await bclient.post("/share", data={"title": "x" * 501}, files=share_files())
    assert long.status_code == 413 and long.headers["content-type"] == "application/problem+json"
    assert (await bclient.get("/share/not-a-share")).status_code == 404
    assert (await bclient.post("/api/shares/not-a-share/claim")).status_code == 401


async def test_a_claim_over_the_quota_keeps_the_share(blob_settings: Settings, new_account: NewAccount) -> None:
    data = photo(120, 120, "PNG", seed=4, noisy=True)
    settings = msgspec.structs.replace(blob_settings, blob_quota_bytes=len(data) - 1)
    async with AsyncTestClient(app=create_app(settings)) as client:
        share_id = await post_share(client, data)
        account = await new_account(client)
        over = await client.post(f"/api/shares/{share_id}/claim", headers=account.headers)
        assert over.status_code == 413 and over.json()["title"] == "Quota exceeded"
        assert (await client.get("/api/blobs", headers=account.headers)).json()["blobs"] == []
        assert (await client.get(f"/share/{share_id}/images/0")).content == data  # still there to claim later


async def test_expired_shares_are_gone_and_swept(
    bclient: AsyncTestClient[Litestar],
    blob_settings: Settings,
    store: BlobStore,
    db_sessions: async_sessionmaker[AsyncSession],
    new_account: NewAccount,
) -> None:
    old, fresh = await post_share(bclient, photo(seed=7)), await post_share(bclient, photo(seed=8))
    async with db_sessions() as session, session.begin():
        await session.execute(
            update(PendingShare)
            .where(PendingShare.id_hash == hash_id(old))
            .values(expires_at=utcnow() - timedelta(minutes=1))
        )
    assert (await bclient.get(f"/share/{old}")).status_code == 404
    account = await new_account(bclient)
    assert (await bclient.post(f"/api/shares/{old}/claim", headers=account.headers)).status_code == 404

    engine = db_sessions.kw["bind"]  # the test's own engine: the app's lives on the client's loop
    state = State({"settings": blob_settings, "blobs": store, "sessionmaker": db_sessions, "engine": engine})
    assert await sweep_expired(state) == 1
    assert await objects(store, share_prefix(hash_id(old))) == 0
    assert await objects(store, share_prefix(hash_id(fresh))) == 1
    async with db_sessions() as session:
        assert (await session.scalars(select(PendingShare.id_hash))).all() == [hash_id(fresh)]


def test_a_real_server_without_a_service_worker_keeps_a_share(settings: Settings) -> None:
    """`keeptabs serve` as a user starts it; the share is posted the way Android's share sheet does (multipart,
    text + url + an image), with no service worker anywhere: the page has the text and the link, the image is
    served from the pending share, and the share is claimable."""
    image = photo(100, 80, "JPEG", seed=11)
    env = {"KEEPTABS_DATABASE_URL": settings.resolved_database_url, "KEEPTABS_DATA_DIR": settings.data_dir}
    with ServerProcess(env) as server, httpx.Client(base_url=server.base_url, timeout=30) as client:
        posted = client.post(
            "/share",
            data={"title": "", "text": f"Priya's profile {URL}", "url": ""},
            files=[("images", ("card.jpg", image, "image/jpeg"))],
            follow_redirects=True,
        )
        assert posted.status_code == 200 and posted.url.path.startswith("/share/"), posted.text
        assert f"Priya&#39;s profile {URL}" in posted.text
        share_id = posted.url.path.rsplit("/", 1)[1]
        assert client.get(f"/share/{share_id}/images/0").content == image
        register = {"email": "share@example.org", "password": "correct horse battery", "device_name": "phone"}
        token = client.post("/api/auth/register", json=register).json()["token"]
        claimed = client.post(f"/api/shares/{share_id}/claim", headers={"Authorization": f"Bearer {token}"})
        assert claimed.status_code == 200 and claimed.json()["images"][0]["sha256"] == sha(image)
