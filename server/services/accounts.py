"""Accounts and devices: registration, sign-in with a failed-login limit, sign-out, device list and revocation."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import msgspec
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth import Auth, new_token
from server.errors import Conflict, NotFound, TooManyRequests, Unauthorized
from server.models import Device, LoginFailure, Token, User
from server.models.base import utcnow

MAX_FAILURES = 5
FAILURE_WINDOW = timedelta(minutes=15)

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
# Verified against when the email is unknown, so both wrong-email and wrong-password cost the same time.
_DUMMY_HASH = _hasher.hash("keeptabs-dummy-password")


class Session(msgspec.Struct):
    user_id: str
    device_id: str
    token: str


class DeviceInfo(msgspec.Struct):
    id: str
    name: str
    created_at: datetime
    last_seen_at: datetime
    current: bool


def email_key(email: str) -> str:
    return email.strip().lower()


async def register(db: AsyncSession, email: str, password: str, device_name: str) -> Session:
    key = email_key(email)
    if await db.scalar(select(User.id).where(User.email_key == key)) is not None:
        raise Conflict("An account with this email already exists.")
    password_hash = await asyncio.to_thread(_hasher.hash, password)
    user = User(email=email.strip(), email_key=key, password_hash=password_hash)
    db.add(user)
    await db.flush()
    return await _open_device(db, user.id, device_name)


async def login(db: AsyncSession, email: str, password: str, device_name: str) -> Session:
    """Runs in a caller-managed session: a failure must be committed even though the request fails."""
    key = email_key(email)
    now = utcnow()
    async with db.begin():
        await _check_failures(db, key, now)
        user = await db.scalar(select(User).where(User.email_key == key))
        if user is not None and await _verify(user.password_hash, password):
            await db.execute(delete(LoginFailure).where(LoginFailure.email_key == key))
            return await _open_device(db, user.id, device_name)
        db.add(LoginFailure(email_key=key, failed_at=now))
    raise Unauthorized("The email or password is wrong.")


async def _check_failures(db: AsyncSession, key: str, now: datetime) -> None:
    since = now - FAILURE_WINDOW
    count, oldest = (
        await db.execute(
            select(func.count(), func.min(LoginFailure.failed_at)).where(
                LoginFailure.email_key == key, LoginFailure.failed_at > since
            )
        )
    ).one()
    if count >= MAX_FAILURES:
        retry_after = int((oldest + FAILURE_WINDOW - now).total_seconds()) + 1
        raise TooManyRequests("Too many failed sign-ins for this email. Try again later.", retry_after)


async def _verify(password_hash: str | None, password: str) -> bool:
    try:
        return await asyncio.to_thread(_hasher.verify, password_hash or _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return False


async def _open_device(db: AsyncSession, user_id: str, device_name: str) -> Session:
    device = Device(user_id=user_id, name=device_name.strip() or "Unnamed device")
    db.add(device)
    await db.flush()
    token, token_hash = new_token()
    db.add(Token(hash=token_hash, device_id=device.id, user_id=user_id))
    await db.flush()
    return Session(user_id=user_id, device_id=device.id, token=token)


async def logout(db: AsyncSession, auth: Auth) -> None:
    """Signing out ends this device: its token, its push subscriptions, its sync bookkeeping."""
    await db.execute(delete(Device).where(Device.id == auth.device_id, Device.user_id == auth.user_id))


async def list_devices(db: AsyncSession, auth: Auth) -> list[DeviceInfo]:
    rows = await db.scalars(select(Device).where(Device.user_id == auth.user_id).order_by(Device.created_at))
    return [DeviceInfo(d.id, d.name, d.created_at, d.last_seen_at, current=d.id == auth.device_id) for d in rows]


async def revoke_device(db: AsyncSession, auth: Auth, device_id: str) -> None:
    result = await db.execute(delete(Device).where(Device.id == device_id, Device.user_id == auth.user_id))
    if result.rowcount == 0:
        raise NotFound("No such device.")
