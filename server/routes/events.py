"""GET /api/events: server-sent events telling a device that its user's change feed moved."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get
from litestar.datastructures import State
from litestar.params import FromQuery
from litestar.response import ServerSentEvent

from server.auth import bearer_token, hash_token, query_token, resolve_token
from server.errors import Unauthorized
from server.services.events import LiveUpdates, feed_events


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
            " The stream ends when the device signs out or is removed. At most a few streams per device stay open"
            " (a new one closes the oldest); a server at its limit of streams answers 503 with Retry-After."
        ),
    )
    async def stream(
        self, request: Request[Any, Any, Any], state: State, token: FromQuery[str | None] = None
    ) -> ServerSentEvent:
        # Browsers' EventSource cannot send headers, so this route alone also takes the token as `?token=`. Only that
        # exact spelling counts (query_token reads the raw query string; `token` above only documents it): a
        # percent-encoded name would slip past what operators filter out of their logs.
        presented = bearer_token(request) or query_token(request)
        if not presented:
            raise Unauthorized()
        auth = await resolve_token(state, presented)
        live: LiveUpdates = state.live
        live.admit()
        return ServerSentEvent(feed_events(live, state.engine, auth.user_id, auth.device_id, hash_token(presented)))
