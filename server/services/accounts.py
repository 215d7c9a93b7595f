"""Accounts and devices: registration, sign-in with failed-login limits, sign-out, device list and revocation.

No password is hashed or verified inside a transaction (services/passwords.py): registration checks, hashes, then
writes in one short transaction; sign-in counts the attempt in one short transaction (services/login_limits.py),
verifies, then opens the device in another.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime

import msgspec
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from server.auth import Auth, new_token
from server.config import Settings
from server.db import reading
from server.errors import Conflict, NotFound, TooManyRequests, Unauthorized, Unprocessable
from server.models import Device, Token, User
from server.models.base import utcnow
from server.services import login_limits
from server.services.passwords import HashingPool, hashing_pool, password_problem

EMAIL_KEY_LENGTH = 254  # the users.email_key column
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


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
    """What emails are compared by: Unicode NFKC, then case folding (and NFKC again, which folding can undo), so a
    full-width `\uff41lice@` or `ALICE@` is `alice@`."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", email.strip()).casefold())


def legacy_email_key(email: str) -> str:
    """The key of accounts made before email_key() (the 0002 migration kept it where the new one collided)."""
    return email.strip().lower()


def hashing(settings: Settings) -> HashingPool:
    return hashing_pool(settings.hash_workers, settings.password_hash_queue)


async def register(db: AsyncSession, settings: Settings, email: str, password: str, device_name: str) -> Session:
    key = email_key(email)
    if len(key) > EMAIL_KEY_LENGTH:
        raise Unprocessable("email", f"too long: at most {EMAIL_KEY_LENGTH} characters once normalised")
    if not _EMAIL.fullmatch(key):
        raise Unprocessable("email", "not an email address")
    if problem := password_problem(password, key):
        raise Unprocessable("password", problem)
    pool = hashing(settings)
    async with pool.admitted():  # first: past the bound, a flood costs no database work either
        if await _taken(_engine(db), key):  # before spending a hash on it
            raise _taken_error()
        password_hash = await pool.hash(password)
    try:
        async with db.begin():
            user = User(email=email.strip(), email_key=key, password_hash=password_hash)
            db.add(user)
            await db.flush()
            return await _open_device(db, user.id, device_name)
    except IntegrityError as exc:  # the same email registered meanwhile
        raise _taken_error() from exc


async def login(
    db: AsyncSession, settings: Settings, email: str, password: str, device_name: str, client_host: str | None
) -> Session:
    """Every path verifies exactly one hash (the dummy one when no account matches, when this attempt is refused by
    a limit, or when the email cannot be an account at all), so the time taken tells nothing about accounts."""
    keys = _EmailKeys.of(email)
    address = login_limits.address_key(client_host)
    limits = login_limits.Limits(settings.login_failures_per_address, settings.login_failures_per_email)
    pool = hashing(settings)
    async with pool.admitted():
        retry_after, user = await _attempt(db, keys, address, limits)
        correct = await pool.verify(user.password_hash if user else None, password)
    if retry_after is not None:
        raise TooManyRequests("Too many failed sign-ins for this email. Try again later.", retry_after)
    if user is None or not correct or keys.counted is None:
        raise Unauthorized("The email or password is wrong.")
    async with db.begin():
        await login_limits.forget_failures(db, keys.counted, address)
        return await _open_device(db, user.id, device_name)


@dataclass(frozen=True)
class _EmailKeys:
    new: str
    legacy: str

    @classmethod
    def of(cls, email: str) -> _EmailKeys:
        return cls(email_key(email), legacy_email_key(email))

    @property
    def stored(self) -> list[str]:
        """The keys an account may be stored under (those that fit the column)."""
        return [k for k in (self.new, self.legacy) if len(k) <= EMAIL_KEY_LENGTH]

    @property
    def counted(self) -> str | None:
        """The key failures are counted under: the new one, or the old one of an account too long to move (0002)."""
        return self.stored[0] if self.stored else None


async def _attempt(
    db: AsyncSession, keys: _EmailKeys, address: str, limits: login_limits.Limits
) -> tuple[int | None, User | None]:
    """(None or seconds to wait, the account the email names) in one short transaction."""
    if keys.counted is None:  # no account can have this email
        return None, None
    async with db.begin():
        retry_after = await login_limits.count_attempt(db, keys.counted, address, limits, utcnow())
        users = {u.email_key: u for u in await db.scalars(select(User).where(User.email_key.in_(keys.stored)))}
    # An account the migration left under its old key is the one its owner's exact old spelling names.
    return retry_after, users.get(keys.legacy) or users.get(keys.new)


async def _taken(engine: AsyncEngine, key: str) -> bool:
    async with reading(engine) as conn:
        return await conn.scalar(select(User.id).where(User.email_key == key)) is not None


def _engine(db: AsyncSession) -> AsyncEngine:
    bind = db.bind
    assert isinstance(bind, AsyncEngine), "sessions are made by a sessionmaker bound to the engine"
    return bind


def _taken_error() -> Conflict:
    return Conflict("An account with this email already exists.")


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
