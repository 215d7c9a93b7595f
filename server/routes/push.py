"""Push: the VAPID key, subscriptions, a test message, and the delivery record (docs/api.md, "Push and reminders")."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Controller, Request, Response, delete, get, post
from litestar.datastructures import State
from litestar.params import FromPath, JSONBody, Parameter

from server.deps import AuthDep, DbDep, SessionDep
from server.errors import NotFound
from server.push import deliveries, subscriptions
from server.push.deliveries import DeliveryInfo
from server.push.payloads import app_origin
from server.push.scheduler import note_exists
from server.push.service import PushService
from server.push.subscriptions import SubscriptionRequest, UnsubscribeRequest

Limit = Annotated[int, Parameter(ge=1, le=500, description="How many records, newest first.")]


class PublicKey(msgspec.Struct):
    public_key: str


class TestSent(msgspec.Struct):
    sent: int


def _service(state: State) -> PushService:
    service: PushService = state.push
    return service


class PushController(Controller):
    path = "/api/push"
    tags = ("push",)

    @get("/key")
    async def key(self, state: State) -> PublicKey:
        return PublicKey(_service(state).keys.application_server_key)

    @post("/subscriptions")
    async def subscribe(
        self, data: JSONBody[SubscriptionRequest], auth: AuthDep, db_session: SessionDep, request: Request, state: State
    ) -> Response[dict[str, str]]:
        service = _service(state)
        app_url = app_origin(request.headers.get("origin"), str(request.base_url))
        created = await subscriptions.subscribe(db_session, service.guard, auth, data, app_url, service.caps)
        return Response({"endpoint": data.endpoint}, status_code=201 if created else 200)

    @delete("/subscriptions", status_code=204)
    async def unsubscribe(self, data: JSONBody[UnsubscribeRequest], auth: AuthDep, db: DbDep) -> None:
        await subscriptions.unsubscribe(db, auth, data.endpoint)

    @post("/test", status_code=202)
    async def test(self, auth: AuthDep, state: State) -> TestSent:
        return TestSent(await _service(state).send_test(auth.user_id))

    @get("/deliveries")
    async def deliveries(self, auth: AuthDep, db: DbDep, limit: Limit = 100) -> list[DeliveryInfo]:
        """The newest messages sent to this user's devices, reminders and tests alike."""
        return await deliveries.list_deliveries(db, auth.user_id, None, limit)


class NoteDeliveriesController(Controller):
    path = "/api/notes"
    tags = ("push",)

    @get("/{note_id:str}/deliveries")
    async def note_deliveries(
        self, note_id: FromPath[str], auth: AuthDep, db: DbDep, limit: Limit = 100
    ) -> list[DeliveryInfo]:
        """Did this note's reminder go out? One entry per occurrence and subscription, newest first."""
        if not await note_exists(db, auth.user_id, note_id):
            raise NotFound("No such note.")
        return await deliveries.list_deliveries(db, auth.user_id, note_id, limit)
