"""Clients that reach the app concurrently, each from its own client address.

Litestar's AsyncTestClient hands requests to the app one at a time (its transport blocks until each response), so it
cannot show what concurrent requests do. httpx's ASGITransport runs each request as its own task on the test's event
loop, as uvicorn does, and sets the socket peer address the app sees.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager

import httpx
from litestar import Litestar

ClientAt = Callable[[str], httpx.AsyncClient]


@asynccontextmanager
async def running(app: Litestar) -> AsyncIterator[ClientAt]:
    """Runs the app's lifespan; yields `at(address)`, which makes a client whose requests come from that address."""
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(app.lifespan())

        def at(address: str) -> httpx.AsyncClient:
            transport = httpx.ASGITransport(app=app, client=(address, 40000))
            client = httpx.AsyncClient(transport=transport, base_url="http://testserver.local", timeout=60)
            stack.push_async_callback(client.aclose)
            return client

        yield at
