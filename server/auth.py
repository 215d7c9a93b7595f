"""Bearer tokens: made, hashed, and resolved into the `auth` dependency."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

import msgspec
from litestar import Request
from litestar.datastructures import State
from sqlalchemy import select, update

from server.errors import Unauthorized
from server.models import Device, Token
from server.models.base import utcnow

LAST_SEEN_EVERY = timedelta(minutes=1)


class Auth(msgspec.Struct, frozen=True):
    user_id: str
    device_id: str


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


async def resolve_token(state: State, token: str) -> Auth:
    """The device a token belongs to; Unauthorized if the token is unknown or has ended."""
    async with state.sessionmaker() as session, session.begin():
        row = (
            await session.execute(
                select(Token.user_id, Token.device_id, Device.last_seen_at)
                .join(Device, Device.id == Token.device_id)
                .where(Token.hash == hash_token(token))
            )
        ).one_or_none()
        if row is None:
            raise Unauthorized("The token is unknown or has ended.")
        now = utcnow()
        # At most one write a minute per device: last_seen_at is for the device list, not an audit log.
        if now - row.last_seen_at >= LAST_SEEN_EVERY:
            await session.execute(update(Device).where(Device.id == row.device_id).values(last_seen_at=now))
    return Auth(user_id=row.user_id, device_id=row.device_id)
