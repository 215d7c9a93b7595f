"""Markers for the dependencies handlers declare (Litestar injects them by parameter name).

async def handler(self, auth: AuthDep, db: DbDep) -> ...        # one transaction, committed on return
async def handler(self, auth: AuthDep, db_session: SessionDep)  # the handler manages transactions
"""

from __future__ import annotations

from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth import Auth

AuthDep = NamedDependency[Auth]
DbDep = NamedDependency[AsyncSession]
SessionDep = NamedDependency[AsyncSession]
