"""The app shell, its manifest and service worker, and the health check."""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Controller, Response, get
from litestar.datastructures import CacheControlHeader, State
from litestar.response import Template

from server.db import ping
from server.errors import ServiceUnavailable

NO_CACHE = CacheControlHeader(no_cache=True)


class PagesController(Controller):
    include_in_schema = False

    @get("/", cache_control=NO_CACHE)
    async def index(self, state: State) -> Template:
        assets = state.assets
        return Template("index.html", context={"static": assets.prefix, "version": assets.version})

    @get("/manifest.webmanifest", cache_control=NO_CACHE, media_type="application/manifest+json")
    async def manifest(self, state: State) -> dict[str, Any]:
        return state.assets.manifest

    @get("/sw.js", cache_control=NO_CACHE, media_type="text/javascript")
    async def service_worker(self, state: State) -> Response[str]:
        return Response(state.assets.service_worker)

    @get("/healthz", cache_control=NO_CACHE)
    async def healthz(self, state: State) -> dict[str, str]:
        try:
            await asyncio.wait_for(ping(state.engine), timeout=3)
        except Exception as exc:
            raise ServiceUnavailable("The database does not answer.") from exc
        return {"status": "ok"}
