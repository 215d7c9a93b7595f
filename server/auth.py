"""Bearer tokens: made, hashed, and resolved into the `auth` dependency."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any
from urllib.parse import unquote

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


def query_token(request: Request[Any, Any, Any]) -> str | None:
    """`?token=` spelled exactly so in the raw query string, present once; None otherwise.

    Why not the decoded query: `?tok%65n=` decodes to the same name, yet log filters and proxy rules that keep
    tokens out of access logs look for the literal `token=`."""
    raw: bytes = request.scope.get("query_string", b"")
    values = [value for name, _, value in (p.partition(b"=") for p in raw.split(b"&")) if name == b"token"]
    if len(values) != 1:
        return None
    token = unquote(values[0].decode("latin-1")).strip()
    return token or None


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
