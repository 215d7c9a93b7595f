"""Upgrades keep what users saved: a database filled under each earlier schema is migrated to the newest one, and
every row is still there, unchanged, and usable through the API (SQLite and PostgreSQL).

For each revision R: migrate an empty database to R, fill it with the fillers of R and every revision before it
(tests/migrations/fill.py), read every table, upgrade to head, then read the same columns again and compare, and
sign in, list devices and sync as the filled users. A migration that rewrites a column on purpose says so in
CHANGED below (the comparison then skips that column, and the migration's own test checks the new values).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from litestar.testing import AsyncTestClient
from sqlalchemy import Connection, MetaData, select
from sqlalchemy.engine import make_url

from server.app import create_app
from server.config import Settings
from server.db import create_engine
from server.migrate import revisions, upgrade
from tests.conftest import PG_URL, _create_pg_database, _drop_pg_database
from tests.migrations.fill import FILLERS, PASSWORD, Filled, Writer

Snapshot = dict[str, tuple[list[str], list[tuple[Any, ...]]]]
"""Table -> its column names and its rows, in a stable order."""

CHANGED: dict[str, set[tuple[str, str]]] = {"0002": {("users", "email_key")}}
"""Revision -> the (table, column) pairs it rewrites on purpose (each checked by its own test below)."""


@pytest.fixture(params=["sqlite", "postgres"])
def empty_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    """Settings for a database with no tables at all, dropped afterwards."""
    if request.param == "sqlite":
        yield Settings(data_dir=str(tmp_path / "data"), push_allow_loopback=True)
        return
    request.getfixturevalue("pg_database_url")  # PostgreSQL reachable (or the skip/fail it decides)
    name = f"keeptabs_migrate_{uuid.uuid4().hex[:12]}"
    asyncio.run(_create_pg_database(name))
    url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    yield Settings(database_url=url, data_dir=str(tmp_path / "data"), push_allow_loopback=True)
    asyncio.run(_drop_pg_database(name))


def _fill(conn: Connection, revision: str) -> Filled:
    metadata = MetaData()
    metadata.reflect(conn)
    writer = Writer(conn, metadata.tables)
    filled = None
    for rev in revisions()[: revisions().index(revision) + 1]:
        if rev in FILLERS:
            filled = FILLERS[rev](writer) or filled
    assert filled is not None, "the first revision's filler returns the accounts it made"
    return filled


def _snapshot(conn: Connection, shape: dict[str, list[str]] | None = None) -> Snapshot:
    """Every row of every table, or of the tables and columns in `shape` (which must all still exist)."""
    metadata = MetaData()
    metadata.reflect(conn)
    if shape is None:
        shape = {n: [c.name for c in t.columns] for n, t in metadata.tables.items() if n != "alembic_version"}
    missing = [name for name in shape if name not in metadata.tables]
    assert not missing, f"tables dropped by an upgrade: {missing}"
    out: Snapshot = {}
    for name, names in shape.items():
        chosen = [metadata.tables[name].c[n] for n in names]
        out[name] = (names, sorted((tuple(row) for row in conn.execute(select(*chosen))), key=_order))
    return out


def _order(row: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple((v is None, str(v)) for v in row)


async def _run(settings: Settings, fn: Any, *args: Any) -> Any:
    engine = create_engine(settings)
    try:
        async with engine.begin() as conn:
            return await conn.run_sync(fn, *args)
    finally:
        await engine.dispose()


@pytest.mark.parametrize("revision", revisions())
async def test_upgrade_keeps_every_row(empty_settings: Settings, revision: str) -> None:
    await asyncio.to_thread(upgrade, empty_settings, revision)
    filled: Filled = await _run(empty_settings, _fill, revision)
    before: Snapshot = await _run(empty_settings, _snapshot)
    assert sum(len(rows) for _, rows in before.values()) > 20, "the fillers wrote rows"

    await asyncio.to_thread(upgrade, empty_settings)

    later = revisions()[revisions().index(revision) + 1 :]
    rewritten = set().union(*(CHANGED.get(r, set()) for r in later))
    kept = {t: [c for c in names if (t, c) not in rewritten] for t, (names, _) in before.items()}
    after: Snapshot = await _run(empty_settings, _snapshot, kept)
    for table, (names, rows) in before.items():
        index = [names.index(c) for c in kept[table]]
        expected = sorted((tuple(row[i] for i in index) for row in rows), key=_order)
        assert after[table][1] == expected, table
    await _use(empty_settings, filled)


async def _use(settings: Settings, filled: Filled) -> None:
    """The upgraded database works for its users: sign in, devices, the whole feed of notes."""
    async with AsyncTestClient(app=create_app(settings)) as client:
        for email, token in zip(filled.emails, filled.tokens, strict=True):
            headers = {"Authorization": f"Bearer {token}"}
            devices = await client.get("/api/devices", headers=headers)
            assert devices.status_code == 200 and len(devices.json()) == 2, devices.text
            feed = await client.post("/api/sync", json={"cursor": 0}, headers=headers)
            assert feed.status_code == 200 and len(feed.json()["changes"]) == 3, feed.text
            login = {"email": email.upper(), "password": PASSWORD, "device_name": "after upgrade"}
            assert (await client.post("/api/auth/login", json=login)).status_code == 200


# ------------------------------------------------------------------------------------ 0002: email keys re-folded
EMAILS_0002 = {
    # email (as typed at registration) -> the key it must have after the upgrade
    "\uff2aane@Example.org": "jane@example.org",  # full-width J, alone: moves to the new key
    "bob@example.org": "bob@example.org",  # already normal: keeps its key...
    "\uff42ob@example.org": "\uff42ob@example.org",  # ...so this later one, which now folds to it, keeps its old key
    "\uff43arol@example.org": "carol@example.org",  # two that both fold to a free key: the older one takes it
    "\uff43\uff41rol@example.org": "\uff43\uff41rol@example.org",
    "Stra\u00dfe@Example.org": "strasse@example.org",  # case folding: sharp s is ss
    "\u00df" * 200 + "@example.org": "\u00df" * 200 + "@example.org",  # 412 characters folded: keeps the old key
}


def _fill_emails(conn: Connection) -> None:
    metadata = MetaData()
    metadata.reflect(conn)
    writer = Writer(conn, metadata.tables)
    password_hash = PasswordHasher().hash(PASSWORD)
    writer.rows("users", [
        {"id": f"00000000-0000-4000-8000-0000000001{n:02d}", "email": email, "email_key": email.strip().lower(),
         "password_hash": password_hash, "seq": 0, "created_at": writer.at(n)}
        for n, email in enumerate(EMAILS_0002)
    ])


def _keys(conn: Connection) -> dict[str, str]:
    metadata = MetaData()
    metadata.reflect(conn)
    users = metadata.tables["users"]
    return {email: key for email, key in conn.execute(select(users.c.email, users.c.email_key))}


async def test_0002_folds_email_keys_without_merging_or_locking_out_accounts(empty_settings: Settings) -> None:
    await asyncio.to_thread(upgrade, empty_settings, "0001")
    await _run(empty_settings, _fill_emails)
    await asyncio.to_thread(upgrade, empty_settings)
    assert await _run(empty_settings, _keys) == EMAILS_0002

    async with AsyncTestClient(app=create_app(empty_settings)) as client:
        owners = {}
        for email in EMAILS_0002:  # each signs in with the email as registered, and in capitals (where that fits)
            for spelling in [s for s in (email, email.upper()) if len(s) <= 254]:
                login = await client.post("/api/auth/login", json={"email": spelling, "password": PASSWORD})
                assert login.status_code == 200, (spelling, login.text)
                owners.setdefault(email, set()).add(login.json()["user_id"])
        assert all(len(ids) == 1 for ids in owners.values()), owners
        assert len(set().union(*owners.values())) == len(EMAILS_0002), "no two accounts merged"
        body = {"email": "JANE@example.org", "password": "a fresh start 42"}
        again = await client.post("/api/auth/register", json=body)
        assert again.status_code == 409
