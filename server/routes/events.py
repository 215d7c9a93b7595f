"""GET /api/events: server-sent events telling a device that its user's change feed moved."""

from __future__ import annotations

from litestar import Controller, Request, get
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import FromQuery
from litestar.response import ServerSentEvent

from server.auth import bearer_token, hash_token, resolve_token
from server.errors import Unauthorized
from server.services.events import LiveChannels, feed_events

ChannelsDep = NamedDependency[LiveChannels]


class EventsController(Controller):
    path = "/api/events"
    tags = ("live",)

    @get(
        "/",
        summary="Live updates",
        media_type="text/event-stream",
        description=(
            'Server-sent events: `event: sync` with `data: {"cursor": N}` now and whenever the user\'s change feed'
            " moves, from any server process; a `: ping` comment every ~15 s keeps proxies from closing the stream."
        ),
    )
    async def stream(
        self, request: Request, state: State, channels: ChannelsDep, token: FromQuery[str | None] = None
    ) -> ServerSentEvent:
        # Browsers' EventSource cannot send headers, so this route alone also takes the token as `?token=`.
        presented = bearer_token(request) or token
        if not presented:
            raise Unauthorized()
        auth = await resolve_token(state, presented)
        return ServerSentEvent(feed_events(channels, state.sessionmaker, auth.user_id, hash_token(presented)))
