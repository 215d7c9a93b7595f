"""Failed sign-ins, limited per (email, client address) and, more loosely, per email.

An attacker at one address gets a few guesses per account (5 per 15 minutes by default) and cannot lock the owner,
who signs in from another network, out of their account; many addresses together hit a higher per-email ceiling
(50 per hour). Only failed sign-ins count: normal traffic, which often arrives through one proxy address, is never
limited by address.

Every attempt is counted *before* its password is checked, under a per-email lock (a transaction-scoped advisory
lock on PostgreSQL; SQLite's write lock, taken by every write transaction, does the same), so concurrent guesses
cannot all pass the check before any of them is recorded. A correct password then removes its own record and this
address's earlier failures; a wrong one leaves it as the failure it is.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.models import LoginFailure

ADDRESS_WINDOW = timedelta(minutes=15)
EMAIL_WINDOW = timedelta(hours=1)
LOCK_CLASS = 0x4B54  # the first key of PostgreSQL's two-key advisory locks: "KT", sign-in attempts
ADDRESS_LENGTH = 64


@dataclass(frozen=True)
class Limits:
    per_address: int
    per_email: int


def address_key(host: str | None) -> str:
    """The client address failures are counted under: IPv6 by its /64 (one subscriber's network), IPv4 as is."""
    if not host:
        return "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host[:ADDRESS_LENGTH]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


async def count_attempt(db: AsyncSession, key: str, address: str, limits: Limits, now: datetime) -> int | None:
    """Records the attempt (None), or refuses it and says in how many seconds to retry. Runs in the caller's short
    write transaction."""
    await _lock(db, key)
    rows = (
        await db.execute(
            select(LoginFailure.failed_at, LoginFailure.client_address)
            .where(LoginFailure.email_key == key, LoginFailure.failed_at > now - EMAIL_WINDOW)
            .order_by(LoginFailure.failed_at)
        )
    ).all()
    here = [at for at, where in rows if where == address and at > now - ADDRESS_WINDOW]
    if len(here) >= limits.per_address:
        return _seconds_until(here[-limits.per_address] + ADDRESS_WINDOW, now)
    if len(rows) >= limits.per_email:
        return _seconds_until(rows[-limits.per_email][0] + EMAIL_WINDOW, now)
    # Records older than the longest window count for nothing: dropped here, so the table stays small.
    await db.execute(delete(LoginFailure).where(LoginFailure.failed_at <= now - EMAIL_WINDOW))
    db.add(LoginFailure(email_key=key, client_address=address, failed_at=now))
    return None


async def forget_failures(db: AsyncSession, key: str, address: str) -> None:
    """After a correct password: this address's failures end (other addresses' stay counted)."""
    await db.execute(delete(LoginFailure).where(LoginFailure.email_key == key, LoginFailure.client_address == address))


async def _lock(db: AsyncSession, key: str) -> None:
    if db.get_bind().dialect.name == "postgresql":
        await db.execute(select(func.pg_advisory_xact_lock(LOCK_CLASS, func.hashtext(key))))


def _seconds_until(moment: datetime, now: datetime) -> int:
    return max(1, int((moment - now).total_seconds()) + 1)
