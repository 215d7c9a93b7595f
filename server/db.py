"""The database engine, its sessions, and the two session dependencies handlers declare."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar
from litestar.datastructures import State
from sqlalchemy import event, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from server.config import Settings
from server.errors import Conflict

READ_ONLY = "keeptabs_read_only"


def create_engine(settings: Settings) -> AsyncEngine:
    url = settings.resolved_database_url
    if not url.startswith("sqlite"):
        return create_async_engine(
            url,
            pool_size=settings.database_pool_size,
            max_overflow=settings.database_max_overflow,
            pool_pre_ping=True,
            connect_args=_pooler_arguments(settings),
        )
    settings.data_path.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url, connect_args={"timeout": 30})
    _configure_sqlite(engine)
    return engine


def _pooler_arguments(settings: Settings) -> dict[str, Any]:
    """Behind a pooler in transaction mode (PgBouncer's `pool_mode = transaction`), consecutive statements of one
    connection may run in different server sessions, so nothing may outlive a statement on the server: no named
    prepared statements (asyncpg's and SQLAlchemy's caches name them). Unnamed ones are safe: with its cache off,
    asyncpg parses an unnamed statement again in the same message batch that runs it."""
    if settings.database_pool_mode != "transaction":
        return {}
    return {"statement_cache_size": 0, "prepared_statement_cache_size": 0, "prepared_statement_name_func": _unnamed}


def _unnamed() -> str:
    return ""


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, decide when a transaction begins (see on_begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def on_begin(conn: Any) -> None:
        # IMMEDIATE takes the write lock up front: a deferred transaction that reads and then writes can fail with
        # SQLITE_BUSY when another writer got in between, and busy_timeout does not retry that case.
        # A reading connection opens none: each SELECT is its own snapshot and waits for no writer.
        if not conn.get_execution_options().get(READ_ONLY):
            conn.exec_driver_sql("BEGIN IMMEDIATE")


@asynccontextmanager
async def reading(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection for reads only (the hot path of every request's token check and of a no-op sync).

    It opens no transaction (on SQLite: takes no lock; on PostgreSQL: spares the BEGIN and ROLLBACK round trips), so
    statements that must agree with each other belong in one SELECT."""
    options: dict[str, Any] = {READ_ONLY: True}
    if engine.dialect.name == "postgresql":
        options["isolation_level"] = "AUTOCOMMIT"
    async with engine.connect() as conn:
        yield await conn.execution_options(**options)


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def db_lifespan(app: Litestar) -> AsyncIterator[None]:
    engine = create_engine(app.state.settings)
    app.state.engine = engine
    app.state.sessionmaker = make_sessionmaker(engine)
    try:
        yield
    finally:
        await engine.dispose()


async def provide_db(state: State) -> AsyncIterator[AsyncSession]:
    """A session inside one transaction: committed after the handler returns, rolled back on any error."""
    async with state.sessionmaker() as session:
        try:
            async with session.begin():
                yield session
        except IntegrityError as exc:
            raise Conflict("The request conflicts with data already stored.") from exc


async def provide_db_session(state: State) -> AsyncIterator[AsyncSession]:
    """A plain session: the handler opens its own transactions (for example one per sync mutation)."""
    async with state.sessionmaker() as session:
        yield session


async def ping(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
