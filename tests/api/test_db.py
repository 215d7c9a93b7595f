"""The database as configured: SQLite pragmas, migrations that match the models, last-seen bookkeeping."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.config import Settings
from server.db import create_engine
from server.models import Base, Device
from server.models.base import utcnow
from tests.conftest import NewAccount

Sessions = async_sessionmaker[AsyncSession]


async def test_migrations_create_exactly_the_models_schema(settings: Settings) -> None:
    engine = create_engine(settings)
    async with engine.connect() as conn:
        diff = await conn.run_sync(lambda sync: compare_metadata(MigrationContext.configure(sync), Base.metadata))
    await engine.dispose()
    assert diff == [], "models changed without `make migration`"


async def test_sqlite_runs_in_wal_with_foreign_keys_and_a_busy_timeout(sqlite_data_dir: Path) -> None:
    engine = create_engine(Settings(data_dir=str(sqlite_data_dir)))
    async with engine.connect() as conn:
        assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
        assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar() == 1
        assert (await conn.execute(text("PRAGMA busy_timeout"))).scalar() >= 5000
    await engine.dispose()


async def test_last_seen_is_written_at_most_once_a_minute(
    client: AsyncTestClient[Litestar], db_sessions: Sessions, new_account: NewAccount
) -> None:
    account = await new_account(client)
    stale = utcnow() - timedelta(minutes=5)
    async with db_sessions() as session, session.begin():
        await session.execute(update(Device).where(Device.id == account.device_id).values(last_seen_at=stale))

    async def last_seen() -> object:
        async with db_sessions() as session:
            return await session.scalar(select(Device.last_seen_at).where(Device.id == account.device_id))

    await client.get("/api/devices", headers=account.headers)
    refreshed = await last_seen()
    assert refreshed is not None and refreshed > stale
    await client.get("/api/devices", headers=account.headers)
    assert await last_seen() == refreshed
