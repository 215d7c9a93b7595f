"""Slow clients: a request's headers, then its body, must arrive within a bound, or the connection is cut.

Why in uvicorn's protocol: uvicorn 0.54 has no timeout for a request being received (`timeout_keep_alive` covers
only the idle time between requests, and any byte received resets it), so a client sending half a header, or a body
one byte every two seconds, held a connection for as long as it liked. An ASGI middleware cannot see a request
before its headers are complete, nor a body the app does not read; the protocol sees every byte.

- Headers: from the connection (or from the first byte of a later request on it) to the end of the headers, at most
  KEEPTABS_HEADER_TIMEOUT seconds. A connection that sent nothing is closed quietly; one with a partial request gets
  a 408 first.
- Body: from the end of the headers to the end of the body, at most KEEPTABS_BODY_TIMEOUT seconds. If the app has
  not answered yet it gets no more of the body and the client gets a 408 problem+json; either way the connection is
  closed.
Nothing bounds a response: a live-update stream may last hours once its request has arrived.

`keeptabs serve` passes this class to uvicorn (`http=`); uvicorn's "auto" would pick the same httptools parser.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from server.config import load_settings

log = logging.getLogger("keeptabs.connections")

_PROBLEM = (
    b'{"type":"about:blank","title":"Request Timeout","status":408,'
    b'"detail":"The request did not arrive in time; send it again."}'
)
_TIMEOUT_408 = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/problem+json\r\n"
    b"content-length: " + str(len(_PROBLEM)).encode() + b"\r\nconnection: close\r\n\r\n" + _PROBLEM
)


@functools.cache
def _timeouts() -> tuple[float, float]:
    """Read once per process: each worker is a fresh process started with the same environment."""
    settings = load_settings()
    return settings.header_timeout, settings.body_timeout


class DeadlineProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timeout, self._body_timeout = _timeouts()
        self._deadline: asyncio.TimerHandle | None = None
        self._partial = False
        """Bytes of a request have arrived since the last one ended."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self._header_timeout, self._headers_late)

    def data_received(self, data: bytes) -> None:
        self._partial = True
        # Bytes while no deadline runs start a request (or pad one out): its headers are now on the clock.
        if self._deadline is None:
            self._arm(self._header_timeout, self._headers_late)
        super().data_received(data)

    def on_headers_complete(self) -> None:
        self._arm(self._body_timeout, self._body_late)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        self._partial = False
        super().on_message_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self, timeout: float, callback: Callable[[], None]) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(timeout, callback)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _headers_late(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if self._partial:
            log.warning("cut a request from %s: its headers took over %.0f s", self._peer(), self._header_timeout)
            self.transport.write(_TIMEOUT_408)
        self.transport.close()

    def _body_late(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        log.warning("cut a request from %s: its body took over %.0f s", self._peer(), self._body_timeout)
        cycle = self.cycle
        if cycle is not None and not cycle.response_started:
            # The app is waiting for the rest of the body: it now hears a disconnect, and its answer goes nowhere.
            cycle.disconnected = True
            cycle.message_event.set()
            self.transport.write(_TIMEOUT_408)
        self.transport.close()

    def _peer(self) -> str:
        return f"{self.client[0]}:{self.client[1]}" if self.client else "?"
