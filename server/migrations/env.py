"""Alembic environment: runs migrations on the async engine of the configured database."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from server.config import Settings
from server.db import create_engine
from server.models import Base

target_metadata = Base.metadata


def run_with(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite cannot ALTER most things: batch mode copies the table instead
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_online() -> None:
    settings: Settings = context.config.attributes["settings"]
    engine = create_engine(settings)
    async with engine.connect() as connection:
        await connection.run_sync(run_with)
    await engine.dispose()


asyncio.run(run_online())
