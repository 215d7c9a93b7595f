"""The app shell, its headers, errors for bad requests, health and the OpenAPI schema."""

from __future__ import annotations

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.app import create_app
from server.config import Settings
from server.models import User
from tests.api.test_sync_support import mutation, new_id
from tests.conftest import NewAccount

Client = AsyncTestClient[Litestar]


async def test_shell_has_manifest_and_one_module_script_and_no_inline_script(client: Client) -> None:
    response = await client.get("/")
    assert response.status_code == 200
    html = response.text
    assert '<meta name="viewport"' in html and '<meta name="theme-color"' in html
    assert '<link rel="manifest" href="/manifest.webmanifest">' in html
    assert html.count("<script") == 1 and 'type="module"' in html and "src=" in html
    assert "<script>" not in html and " on" + "click=" not in html


async def test_manifest_is_installable(client: Client) -> None:
    response = await client.get("/manifest.webmanifest")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/manifest+json")
    manifest = response.json()
    for key in ("name", "short_name", "start_url", "scope", "theme_color", "background_color"):
        assert manifest[key], key
    assert manifest["display"] == "standalone"
    sizes = {icon["sizes"] for icon in manifest["icons"]}
    assert {"192x192", "512x512"} <= sizes
    assert any("maskable" in icon.get("purpose", "") for icon in manifest["icons"])
    for icon in manifest["icons"]:
        fetched = await client.get(icon["src"])
        assert fetched.status_code == 200, icon["src"]
        assert fetched.headers["content-type"] == "image/png"


async def test_service_worker_at_root_knows_what_to_precache(client: Client, app: Litestar) -> None:
    response = await client.get("/sw.js")
    assert response.status_code == 200
    assert "javascript" in response.headers["content-type"]
    assert "no-cache" in response.headers["cache-control"]
    build = msgspec.json.decode(response.text.split("\n", 1)[0].removeprefix("const BUILD = ").rstrip(";"))
    assert build["version"] == app.state.assets.version
    assert "/" in build["assets"]
    for path in build["assets"]:
        assert (await client.get(path)).status_code == 200, path


async def test_static_files_are_versioned_and_cached_for_a_year(client: Client, app: Litestar) -> None:
    assets = app.state.assets
    name = next(f for f in assets.files if f.endswith(".js") and f != "sw.js")
    response = await client.get(f"{assets.prefix}/{name}", headers={"accept-encoding": "gzip"})
    assert response.status_code == 200
    assert "immutable" in response.headers["cache-control"]
    assert "max-age=31536000" in response.headers["cache-control"]
    assert (await client.get(f"/static/0000000000/{name}")).status_code == 404


async def test_large_responses_are_gzipped_for_clients_without_brotli(client: Client) -> None:
    response = await client.get("/schema", headers={"accept-encoding": "gzip"})
    assert response.headers["content-encoding"] == "gzip"
    assert response.json()["openapi"]  # httpx decoded it: the body was valid gzip


async def test_browsers_get_brotli_small_and_large(client: Client, app: Litestar, new_account: NewAccount) -> None:
    browser = {"accept-encoding": "gzip, deflate, br, zstd"}
    assets = app.state.assets
    name = next(f for f in assets.files if f.endswith(".css"))
    small = await client.get(f"{assets.prefix}/{name}", headers=browser)
    assert small.headers["content-encoding"] == "br"
    assert small.content == (assets.root / name).read_bytes()  # httpx decoded it: the body was valid brotli
    account = await new_account(client)
    body = "lorem ipsum dolor sit amet\n" * 3000
    mutations = [mutation(new_id(), body=body) for _ in range(3)]  # about 250 KB of JSON back: the large path
    sent = await client.post("/api/sync", json={"mutations": mutations}, headers={**account.headers, **browser})
    assert sent.headers["content-encoding"] == "br"
    assert [n["body"] for n in sent.json()["changes"]] == [body] * 3


@pytest.mark.parametrize("path", ["/", "/healthz", "/api/devices", "/no/such/page", "/sw.js"])
async def test_security_headers_everywhere(client: Client, path: str) -> None:
    headers = (await client.get(path)).headers
    csp = headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["x-content-type-options"] == "nosniff"
    assert "strict-transport-security" not in headers


async def test_hsts_when_behind_https(settings: Settings) -> None:
    app = create_app(msgspec.structs.replace(settings, behind_https=True))
    async with AsyncTestClient(app=app) as client:
        assert "max-age=" in (await client.get("/healthz")).headers["strict-transport-security"]


async def test_unknown_route_is_a_404_problem(client: Client) -> None:
    response = await client.get("/api/nothing-here")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    assert set(response.json()) >= {"type", "title", "status", "detail"}


async def test_bodies_over_one_mebibyte_are_413_and_change_nothing(
    client: Client, db_sessions: async_sessionmaker[AsyncSession]
) -> None:
    body = msgspec.json.encode({"email": "big@example.org", "password": "x" * (1024 * 1024), "device_name": "x"})
    response = await client.post("/api/auth/register", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert response.json()["status"] == 413
    async with db_sessions() as session:
        assert await session.scalar(select(func.count()).select_from(User)) == 0


async def test_healthz_ok(client: Client) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_healthz_503_when_the_database_does_not_answer(settings: Settings) -> None:
    # A database file in a folder that cannot exist: every connection attempt fails, as with a lost disk.
    dead = msgspec.structs.replace(settings, database_url="sqlite+aiosqlite:////proc/no-such-dir/keeptabs.db")
    async with AsyncTestClient(app=create_app(dead)) as client:
        response = await client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["status"] == 503


async def test_openapi_schema_lists_the_api(client: Client) -> None:
    response = await client.get("/schema")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert {"/api/auth/register", "/api/auth/login", "/api/devices"} <= set(schema["paths"])
    assert not any(path.startswith("/static") or path == "/" for path in schema["paths"])


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/auth/register", '{"email": "a\\u0000@example.org", "password": "long enough"}'),
        ("POST", "/api/auth/login", '{"email": "a@example.org", "password": "pass\\u0000word"}'),
        ("DELETE", "/api/devices/%00", None),
    ],
)
async def test_nul_characters_are_422_and_change_nothing(
    client: Client, db_sessions: async_sessionmaker[AsyncSession], method: str, path: str, body: str | None
) -> None:
    # PostgreSQL cannot store NUL: it must be refused up front, not turn into a 500 deep inside a query.
    content = body.encode() if body else None
    response = await client.request(method, path, content=content, headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    async with db_sessions() as session:
        assert await session.scalar(select(func.count()).select_from(User)) == 0


async def test_the_text_backslash_u0000_is_an_ordinary_note(client: Client, new_account: NewAccount) -> None:
    account = await new_account(client)
    title = "escape sequences: \\u0000 ends a C string"
    mutation = {
        "id": "7d0f2c3a-0000-4000-8000-000000000001",
        "note_id": "7d0f2c3a-0000-4000-8000-000000000002",
        "base_rev": 0,
        "edited_at": "2026-11-27T17:05:00.000Z",
        "set": {"title": title},
    }
    response = await client.post("/api/sync", json={"mutations": [mutation]}, headers=account.headers)
    assert response.status_code == 200, response.text
    assert response.json()["results"][0]["note"]["title"] == title
