"""A reverse proxy in front of a real `keeptabs serve` that can hand the browser the next version of /sw.js.

A deploy changes the worker's bytes, but a running server always serves the same ones, and neither Playwright's
routes nor the Fetch domain of the browser's DevTools target see the browser's update check of a service worker
script. So the browser talks to this proxy, which passes every request but live updates through unchanged until told
to serve /sw.js with a marker appended.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

import httpx

NEXT_VERSION = b"\nself.nextVersionForTest = true;\n"
# Hop-by-hop headers, and those that describe a body this proxy may change.
DROPPED = {"host", "connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding"}


class VersionProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = httpx.Client(base_url=upstream, timeout=30)
        self.next_version = False
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                proxy.forward(self)

            do_POST = do_DELETE = do_PUT = do_GET

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler

    def forward(self, handler: BaseHTTPRequestHandler) -> None:
        if handler.path.startswith("/api/events"):
            # Live updates end at once (the app reconnects later): a stream held open would also hold the server's
            # graceful shutdown, which waits for its connections to finish.
            handler.send_response(200)
            handler.send_header("Content-Type", "text/event-stream")
            handler.end_headers()
            return
        length = int(handler.headers.get("Content-Length") or 0)
        headers = {k: v for k, v in handler.headers.items() if k.lower() not in DROPPED}
        response = self.upstream.request(
            handler.command, handler.path, headers=headers, content=handler.rfile.read(length) if length else None
        )
        handler.send_response(response.status_code)
        for name, value in response.headers.items():
            if name.lower() not in DROPPED:
                handler.send_header(name, value)
        handler.end_headers()  # HTTP/1.0: the body ends when the connection closes
        # The body is decoded: content-encoding is not passed on.
        next_version = handler.path == "/sw.js" and self.next_version
        handler.wfile.write(response.content + (NEXT_VERSION if next_version else b""))

    def __enter__(self) -> VersionProxy:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.upstream.close()
