"""Shared fixtures: a migrated SQLite file and PostgreSQL database per run, the app, a client, account factories."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.app import create_app
from server.config import Settings
from server.db import create_engine, make_sessionmaker
from server.migrate import upgrade
from server.models import Base

# Fixtures of a feature's tests that more than one test module uses (the local S3 server, the blob stores).
pytest_plugins = ["tests.attachments_support"]

PG_URL = os.environ.get("KEEPTABS_TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() == "true"


def _asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _create_pg_database(name: str) -> None:
    conn = await asyncpg.connect(_asyncpg_dsn(PG_URL), timeout=5)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def _drop_pg_database(name: str) -> None:
    conn = await asyncpg.connect(_asyncpg_dsn(PG_URL), timeout=5)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def pg_database_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test run, migrated, dropped at the end."""
    name = f"keeptabs_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    try:
        asyncio.run(_create_pg_database(name))
    except (OSError, asyncpg.PostgresError) as exc:
        if IN_CI:
            pytest.fail(f"PostgreSQL is required under CI but cannot be reached at {PG_URL}: {exc}")
        pytest.skip(f"PostgreSQL not reachable at {PG_URL} ({exc}); set KEEPTABS_TEST_PG_URL")
    url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    upgrade(Settings(database_url=url))
    yield url
    asyncio.run(_drop_pg_database(name))


@pytest.fixture(scope="session")
def sqlite_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("sqlite")
    upgrade(Settings(data_dir=str(data_dir)))
    return data_dir


async def _empty_tables(settings: Settings) -> None:
    engine = create_engine(settings)
    async with engine.begin() as conn:
        if settings.is_postgres:
            names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
            await conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in reversed(Base.metadata.sorted_tables):
                await conn.execute(table.delete())
    await engine.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest) -> str:
    """The database URL for one test, on each backend, with every table empty."""
    if request.param == "postgres":
        return str(request.getfixturevalue("pg_database_url"))
    data_dir = request.getfixturevalue("sqlite_data_dir")
    return f"sqlite+aiosqlite:///{data_dir / 'keeptabs.db'}"


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    settings = Settings(database_url=db_url, data_dir=str(tmp_path / "data"), push_allow_loopback=True)
    asyncio.run(_empty_tables(settings))
    return settings


@pytest.fixture
async def db_sessions(settings: Settings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions for a test to look at (or prepare) the database directly.

    The app runs in the test client's own thread and event loop, so its engine cannot be used from a test: this is a
    second engine, on the test's loop, over the same database.
    """
    engine = create_engine(settings)
    yield make_sessionmaker(engine)
    await engine.dispose()


@pytest.fixture
def app(settings: Settings) -> Litestar:
    return create_app(settings)


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app=app) as client:
        yield client


@dataclass
class Account:
    email: str
    password: str
    user_id: str
    device_id: str
    token: str
    headers: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        self.headers = {"Authorization": f"Bearer {self.token}"}


NewAccount = Callable[..., Awaitable[Account]]


@pytest.fixture
def new_account() -> NewAccount:
    async def make(
        client: AsyncTestClient[Litestar],
        email: str | None = None,
        password: str = "correct horse battery",
        device_name: str = "test device",
    ) -> Account:
        email = email or f"user-{uuid.uuid4().hex[:10]}@example.org"
        body = {"email": email, "password": password, "device_name": device_name}
        response = await client.post("/api/auth/register", json=body)
        assert response.status_code == 201, response.text
        data = response.json()
        return Account(email, password, data["user_id"], data["device_id"], data["token"])

    return make


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tests last: Playwright's sync API keeps an event loop running in the main thread for the rest of
    the session, where pytest-asyncio can no longer start its own."""
    items.sort(key=lambda item: "e2e" in item.path.parts)
