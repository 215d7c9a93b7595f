"""Bearer tokens: made, hashed, and resolved into the `auth` dependency."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

import msgspec
from litestar import Request
from litestar.datastructures import State
from sqlalchemy import bindparam, select, update

from server.db import reading
from server.errors import Unauthorized
from server.models import Device, Token, User
from server.models.base import utcnow

LAST_SEEN_EVERY = timedelta(minutes=1)


class Auth(msgspec.Struct, frozen=True):
    user_id: str
    device_id: str
    feed_head: int | None = None
    """The user's feed head read in the same SELECT as the token (None when not read): all a no-op sync needs."""


def new_token() -> tuple[str, str]:
    """A token to show once (32 random bytes, base64url) and the hash to store."""
    token = secrets.token_urlsafe(32)
    return token, hash_token(token)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def bearer_token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


async def provide_auth(request: Request, state: State) -> Auth:
    token = bearer_token(request)
    if token is None:
        raise Unauthorized()
    return await resolve_token(state, token)


# Built once: on the path of every request, building the statement cost more than running it.
_RESOLVE = (
    select(Token.user_id, Token.device_id, Device.last_seen_at, User.seq)
    .join(Device, Device.id == Token.device_id)
    .join(User, User.id == Token.user_id)
    .where(Token.hash == bindparam("hash"))
)


async def resolve_token(state: State, token: str) -> Auth:
    """The device a token belongs to; Unauthorized if the token is unknown or has ended."""
    token_hash = hash_token(token)
    memo = state.get("memo")
    if memo is not None and (known := memo.auth(token_hash)) is not None:
        return known
    async with reading(state.engine) as conn:
        row = (await conn.execute(_RESOLVE, {"hash": token_hash})).one_or_none()
    if row is None:
        raise Unauthorized("The token is unknown or has ended.")
    now = utcnow()
    # At most one write a minute per device: last_seen_at is for the device list, not an audit log.
    if now - row.last_seen_at >= LAST_SEEN_EVERY:
        async with state.sessionmaker() as session, session.begin():
            await session.execute(update(Device).where(Device.id == row.device_id).values(last_seen_at=now))
    auth = Auth(user_id=row.user_id, device_id=row.device_id, feed_head=row.seq)
    if memo is not None:
        memo.remember_auth(token_hash, auth)
        memo.read_head(auth.user_id, row.seq)
    return auth
