"""Push: the VAPID key, subscriptions, a test message, and the delivery record (spec: api.md "Push")."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Controller, Request, Response, delete, get, post
from litestar.datastructures import State
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth import Auth
from server.errors import NotFound
from server.services import push
from server.services.push import DeliveryInfo, PushService, SubscriptionRequest, UnsubscribeRequest
from server.services.reminders import note_exists

Limit = Annotated[int, Parameter(ge=1, le=500)]


class PublicKey(msgspec.Struct):
    public_key: str


class TestSent(msgspec.Struct):
    sent: int


def _service(state: State) -> PushService:
    return state.push  # type: ignore[no-any-return]


class PushController(Controller):
    path = "/api/push"
    tags = ["push"]

    @get("/key")
    async def key(self, state: State) -> PublicKey:
        return PublicKey(_service(state).keys.application_server_key)

    @post("/subscriptions")
    async def subscribe(
        self, data: SubscriptionRequest, auth: Auth, db_session: AsyncSession, request: Request, state: State
    ) -> Response[dict[str, str]]:
        app_url = push.app_origin(request.headers.get("origin"), str(request.base_url))
        created = await push.subscribe(db_session, _service(state).guard, auth, data, app_url)
        return Response({"endpoint": data.endpoint}, status_code=201 if created else 200)

    @delete("/subscriptions", status_code=204)
    async def unsubscribe(self, data: UnsubscribeRequest, auth: Auth, db: AsyncSession) -> None:
        await push.unsubscribe(db, auth, data.endpoint)

    @post("/test", status_code=202)
    async def test(self, auth: Auth, state: State) -> TestSent:
        return TestSent(await _service(state).send_test(auth.user_id))

    @get("/deliveries")
    async def deliveries(self, auth: Auth, db: AsyncSession, limit: Limit = 100) -> list[DeliveryInfo]:
        """The newest messages sent to this user's devices, reminders and tests alike."""
        return await push.list_deliveries(db, auth.user_id, None, limit)


@get("/api/notes/{note_id:str}/deliveries", tags=["push"])
async def note_deliveries(note_id: str, auth: Auth, db: AsyncSession, limit: Limit = 100) -> list[DeliveryInfo]:
    """Did this note's reminder go out? One entry per occurrence and subscription, newest first."""
    if not await note_exists(db, auth.user_id, note_id):
        raise NotFound("No such note.")
    return await push.list_deliveries(db, auth.user_id, note_id, limit)
