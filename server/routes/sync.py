"""POST /api/sync: a device's pending edits in, what changed elsewhere out (docs/api.md, "Sync")."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Litestar, Request, post
from litestar.params import JSONBody

from server import memo
from server.deps import AuthDep, SessionDep
from server.hygiene import CHECKS_NUL
from server.services import sync as service
from sync.protocol import SyncRequest, SyncResponse


class SyncController(Controller):
    path = "/api/sync"
    tags = ("sync",)

    # NUL in a note's text refuses only its mutation (sync/limits.py); anywhere else it fails decoding.
    @post("/", status_code=200, opt={CHECKS_NUL: True})
    async def sync(
        self, data: JSONBody[SyncRequest], auth: AuthDep, db_session: SessionDep, request: Request[Any, Any, Any]
    ) -> SyncResponse:
        service.check(data)
        response, move = await service.sync(db_session, auth, data, memo.of(request.app.state))
        # Only now, with every mutation committed, may listeners tell devices (or the scheduler) to look.
        if move.cursor:
            _emit(request.app, service.FEED_MOVED, user_id=auth.user_id, cursor=move.cursor)
        if move.reminders:
            _emit(request.app, service.REMINDERS_CHANGED)
        return response


def _emit(app: Litestar, event: str, **kwargs: Any) -> None:
    # Litestar refuses to emit an event nobody listens to; a feature that is switched off is not an error here.
    if app.event_emitter.listeners.get(event):
        app.emit(event, **kwargs)
