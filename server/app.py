"""create_app(settings) -> Litestar: every plugin, route, hook and error handler, wired in one place."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from litestar import Litestar
from litestar.datastructures import CacheControlHeader, State
from litestar.di import Provide
from litestar.events import EventListener
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template import TemplateConfig

from server.assets import Assets
from server.attachments.lifespan import attachments_lifespan
from server.auth import provide_auth
from server.compression import compression_config
from server.config import Settings, load_settings
from server.db import db_lifespan, provide_db, provide_db_session
from server.errors import EXCEPTION_HANDLERS
from server.hygiene import JSONRequest, refuse_nul
from server.memo import for_database
from server.push.scheduler import reminders_changed_listener, reminders_lifespan
from server.routes import ROUTE_HANDLERS
from server.security import security_headers
from server.services.events import live_channels

TEMPLATES = Path(__file__).resolve().parent / "templates"
IMMUTABLE = CacheControlHeader(public=True, max_age=31_536_000, immutable=True)

# Features hook in here: lifespans run inside the database lifespan (the engine exists), listeners get app.emit().
LIFESPANS: list[Callable[[Litestar], Any]] = [reminders_lifespan, attachments_lifespan]
LISTENERS: list[EventListener] = [reminders_changed_listener]


def create_app(settings: Settings, assets: Assets | None = None) -> Litestar:
    assets = assets or Assets()
    live = live_channels(settings)
    memo = for_database(settings.resolved_database_url)  # SQLite only: there this process is the only writer
    return Litestar(
        route_handlers=[
            *ROUTE_HANDLERS,
            create_static_files_router(path=assets.prefix, directories=[assets.root], cache_control=IMMUTABLE),
        ],
        dependencies={
            "db": Provide(provide_db),
            "db_session": Provide(provide_db_session),
            "auth": Provide(provide_auth),
        },
        lifespan=[db_lifespan, *LIFESPANS],
        listeners=[*LISTENERS, live.feed_moved_listener()],
        plugins=[live],
        state=State({"settings": settings, "assets": assets, "memo": memo}),
        exception_handlers=EXCEPTION_HANDLERS,
        before_send=[security_headers(settings.behind_https)],
        before_request=refuse_nul,
        request_class=JSONRequest,
        template_config=TemplateConfig(directory=TEMPLATES, engine=JinjaTemplateEngine),
        compression_config=compression_config(),
        openapi_config=OpenAPIConfig(
            title="KeepTabs API", version="1", path="/schema", render_plugins=[JsonRenderPlugin(path="/")]
        ),
        request_max_body_size=settings.max_body_bytes,
    )


def app_from_env() -> Litestar:
    """Factory for uvicorn (`keeptabs serve`, and each worker process when there are several)."""
    return create_app(load_settings())
