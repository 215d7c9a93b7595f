"""POST /api/auth/register | login | logout."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, post
from litestar.datastructures import State
from litestar.params import JSONBody

from server import memo
from server.deps import AuthDep, DbDep, SessionDep
from server.errors import Forbidden
from server.services import accounts
from server.services.accounts import Session

EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
Email = Annotated[str, msgspec.Meta(max_length=254, pattern=EMAIL_PATTERN)]
DeviceName = Annotated[str, msgspec.Meta(max_length=100)]


class RegisterRequest(msgspec.Struct):
    email: Email
    password: Annotated[str, msgspec.Meta(min_length=8, max_length=1024)]
    device_name: DeviceName = ""


class LoginRequest(msgspec.Struct):
    # Loosely typed on purpose: a malformed email signs in as badly as a wrong one (401, the same answer).
    email: Annotated[str, msgspec.Meta(max_length=254)]
    password: Annotated[str, msgspec.Meta(max_length=1024)]
    device_name: DeviceName = ""


class AuthController(Controller):
    path = "/api/auth"
    tags = ("accounts",)

    @post("/register", status_code=201)
    async def register(self, data: JSONBody[RegisterRequest], db_session: SessionDep, state: State) -> Session:
        if not state.settings.open_registration:
            raise Forbidden("Registration is closed on this server.")
        return await accounts.register(db_session, state.settings, data.email, data.password, data.device_name)

    @post("/login", status_code=200)
    async def login(
        self, data: JSONBody[LoginRequest], db_session: SessionDep, state: State, request: Request[Any, Any, Any]
    ) -> Session:
        # The socket peer, or the client a trusted proxy names (keeptabs serve applies KEEPTABS_TRUSTED_PROXIES).
        host = request.client.host if request.client else None
        return await accounts.login(db_session, state.settings, data.email, data.password, data.device_name, host)

    @post("/logout", status_code=204)
    async def logout(self, auth: AuthDep, db: DbDep, state: State) -> None:
        memo.forget_device(state, auth.device_id)
        await accounts.logout(db, auth)
        state.live.device_ended(auth.user_id, auth.device_id)  # its open event streams end in every process
