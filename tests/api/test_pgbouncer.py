"""The PostgreSQL sync flows again, with the request pool behind PgBouncer in transaction mode and live updates'
LISTEN going directly to PostgreSQL (KEEPTABS_DATABASE_POOL_MODE=transaction, KEEPTABS_DIRECT_DATABASE_URL), the
configuration docs/deploy.md describes.

The flows are the suite's own tests, imported and run here with this module's `settings` (and, for the
two-process tests, its `pg_env`): push and pull with every merge rule, paging, concurrent writers, live events, and
revocation across two `keeptabs serve` processes.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.app import create_app
from server.config import Settings
from server.db import create_engine
from tests.api import test_sync_concurrency
from tests.api.test_scaleout import (  # noqa: F401 (fixtures and tests run here again)
    clients,
    test_a_change_through_one_process_reaches_a_device_on_the_other,
    test_revoking_through_one_process_ends_streams_on_the_other,
    two_servers,
)
from tests.api.test_sync import (  # noqa: F401 (run here again, through PgBouncer)
    test_each_change_gets_its_own_increasing_seq,
    test_lost_response_does_not_double_the_devices_text,
    test_merge_rule,
    test_replay_is_duplicate_and_applies_once,
    test_users_do_not_meet,
)
from tests.api.test_sync_feed import (  # noqa: F401
    test_a_device_at_the_head_sees_another_devices_change_now,
    test_paging_sees_every_note_once_in_seq_order,
)
from tests.api.test_sync_support import Client
from tests.conftest import IN_CI, NewAccount, _empty_tables
from tests.live import EventStream, SimDevice, ThreadedServer, login, register
from tests.pgbouncer import PgBouncer, installed


@pytest.fixture(scope="module")
def bouncer(pg_database_url: str) -> Iterator[PgBouncer]:
    if installed() is None:
        message = "pgbouncer is not installed (make test installs Debian's package)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    with PgBouncer(pg_database_url) as bouncer:
        yield bouncer


@pytest.fixture
def settings(pg_database_url: str, bouncer: PgBouncer, tmp_path: Path) -> Settings:
    settings = Settings(
        database_url=bouncer.url_for(pg_database_url),
        direct_database_url=pg_database_url,
        database_pool_mode="transaction",
        data_dir=str(tmp_path / "data"),
        push_allow_loopback=True,
    )
    asyncio.run(_empty_tables(settings))
    return settings


@pytest.fixture
def pg_env(settings: Settings, tmp_path: Path) -> dict[str, str]:
    """For the imported two-process tests: both `keeptabs serve` processes go through PgBouncer."""
    return {
        "KEEPTABS_DATABASE_URL": settings.database_url,
        "KEEPTABS_DIRECT_DATABASE_URL": settings.direct_database_url,
        "KEEPTABS_DATABASE_POOL_MODE": "transaction",
        "KEEPTABS_DATA_DIR": str(tmp_path / "data"),
    }


async def test_concurrent_writers_while_a_reader_pages(
    client: Client, new_account: NewAccount, db_sessions: async_sessionmaker[AsyncSession]
) -> None:
    await test_sync_concurrency.test_reader_misses_nothing_while_writers_race(client, new_account, db_sessions)


async def test_live_events_with_the_pool_behind_pgbouncer(settings: Settings) -> None:
    with ThreadedServer(create_app(settings)) as server:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
            account = await register(http, "laptop")
            laptop, phone = SimDevice(account["token"]), SimDevice(await login(http, account, "phone"))
            async with EventStream(server.base_url, phone.token) as stream:
                assert await stream.next_sync() == 0
                laptop.edit("0b0e5d2a-0000-4000-8000-000000000001", title="through the pooler")
                await laptop.sync(http)
                assert await stream.next_sync() == laptop.cursor
                await phone.sync(http)
    assert phone.notes == laptop.notes


async def test_the_pool_connects_through_pgbouncer(settings: Settings, bouncer: PgBouncer) -> None:
    engine = create_engine(settings)
    try:
        async with engine.connect() as conn:
            assert await conn.scalar(text("SELECT current_database()")) == settings.direct_database_url.rsplit("/")[-1]
    finally:
        await engine.dispose()
    database = settings.direct_database_url.rsplit("/", 1)[1]
    assert re.search(rf"login attempt: db={re.escape(database)} user=postgres", bouncer.log())
