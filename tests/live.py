"""Devices over real HTTP for the live-update, scale-out and benchmark code: a device listening to `GET /api/events`
as a browser's EventSource would, a device syncing as the PWA does, and a real server for them.

Litestar's test client buffers whole responses, so a never-ending event stream needs a server on a socket: either
`ServerProcess` (the real `keeptabs serve`) or `ThreadedServer` below (uvicorn in a thread, for tests that adjust
the app first, such as a short heartbeat).
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

import httpx
import msgspec
import uvicorn
from litestar import Litestar

from tests.server_process import free_port


@dataclass(frozen=True)
class SseMessage:
    event: str | None = None
    data: str | None = None
    comment: str | None = None

    @property
    def cursor(self) -> int:
        assert self.event == "sync", f"not a sync event: {self}"
        assert self.data is not None
        return int(msgspec.json.decode(self.data)["cursor"])


class EventStream:
    """`async with EventStream(base_url, token) as stream`: the stream is open once the block starts."""

    def __init__(
        self, base_url: str, token: str, *, via_query: bool = False, client: httpx.AsyncClient | None = None
    ) -> None:
        self.url = f"{base_url}/api/events"
        self.headers = {} if via_query else {"Authorization": f"Bearer {token}"}
        self.params = {"token": token} if via_query else {}
        # Many streams can share one client (the load benchmark opens hundreds); it is then not closed here.
        self._owns_client = client is None
        self._client = client or httpx.AsyncClient(timeout=httpx.Timeout(10, read=None))
        self.response: httpx.Response | None = None
        self._lines: AsyncIterator[str] | None = None

    async def __aenter__(self) -> EventStream:
        request = self._client.build_request("GET", self.url, headers=self.headers, params=self.params)
        self.response = await self._client.send(request, stream=True)
        self._lines = self.response.aiter_lines()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.response is not None:
            await self.response.aclose()
        if self._owns_client:
            await self._client.aclose()

    async def next(self, timeout: float = 10) -> SseMessage:
        """The next message or comment; a timeout fails the test (the stream is then unusable)."""
        async with asyncio.timeout(timeout):
            return await self._read_message()

    async def _read_message(self) -> SseMessage:
        assert self._lines is not None, "the stream is not open"
        fields: dict[str, str] = {}
        async for line in self._lines:
            if line == "":
                if fields:
                    return SseMessage(fields.get("event"), fields.get("data"), fields.get("comment"))
                continue
            if line.startswith(":"):
                fields["comment"] = line[1:].strip()
                continue
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")
        raise EOFError("the event stream ended")

    async def messages(self) -> AsyncIterator[SseMessage]:
        """Every message until the stream ends (no timeout: for a task that listens as long as it lives)."""
        while True:
            try:
                yield await self._read_message()
            except EOFError:
                return

    async def next_sync(self, timeout: float = 10) -> int:
        """The cursor of the next `sync` event, skipping heartbeats."""
        async with asyncio.timeout(timeout):
            while True:
                message = await self._read_message()
                if message.event == "sync":
                    return message.cursor

    async def wait_for_cursor(self, at_least: int, timeout: float = 10) -> int:
        async with asyncio.timeout(timeout):
            while (cursor := await self.next_sync(timeout)) < at_least:
                pass
        return cursor


class ThreadedServer:
    """uvicorn serving an app built by the test, in a thread with its own event loop."""

    def __init__(self, app: Litestar) -> None:
        self.app = app
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", timeout_graceful_shutdown=2)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=asyncio.run, args=(self._serve(),), daemon=True)
        self.loop: asyncio.AbstractEventLoop | None = None

    async def _serve(self) -> None:
        self.loop = asyncio.get_running_loop()
        await self._server.serve()

    def call(self, coroutine: Coroutine[Any, Any, Any], timeout: float = 10) -> Any:
        """Run a coroutine on the server's loop (for example app.emit, which must be called there)."""
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def __enter__(self) -> ThreadedServer:
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=15)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class SimDevice:
    """A device as the PWA keeps it: a cursor, the notes it has seen, and an outbox of unacknowledged mutations.

    An outbox entry stays until a sync response acknowledges it, so a request lost to a dead server is simply sent
    again (same mutation id) on the next sync.
    """

    token: str
    cursor: int = 0
    notes: dict[str, dict[str, Any]] = field(default_factory=dict)
    outbox: list[dict[str, Any]] = field(default_factory=list)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def edit(self, note_id: str, **changes: Any) -> dict[str, Any]:
        base_rev = self.notes[note_id]["rev"] if note_id in self.notes else 0
        mutation = {"id": str(uuid.uuid4()), "note_id": note_id, "base_rev": base_rev, "edited_at": now_iso()}
        mutation["set"] = changes
        self.outbox.append(mutation)
        return mutation

    async def sync(self, http: httpx.AsyncClient, limit: int = 500) -> list[dict[str, Any]]:
        """Send the outbox and pull until nothing more is waiting; returns the results of the mutations sent."""
        results: list[dict[str, Any]] = []
        while True:
            body = {"cursor": self.cursor, "limit": limit, "mutations": self.outbox}
            response = await http.post("/api/sync", json=body, headers=self.headers)
            assert response.status_code == 200, response.text
            data = response.json()
            acknowledged = {r["id"] for r in data["results"]}
            self.outbox = [m for m in self.outbox if m["id"] not in acknowledged]
            results += data["results"]
            self._apply(data)
            if not data["more"]:
                return results

    def _apply(self, data: dict[str, Any]) -> None:
        if data.get("reset"):
            self.notes.clear()
        for note in data["changes"]:
            self.notes[note["id"]] = note
        for result in data["results"]:
            note = result.get("note")
            if note is not None and note["seq"] > self.notes.get(note["id"], {"seq": -1})["seq"]:
                self.notes[note["id"]] = note
        self.cursor = data["cursor"]


async def register(http: httpx.AsyncClient, device_name: str = "device") -> dict[str, str]:
    email = f"live-{uuid.uuid4().hex[:12]}@example.org"
    body = {"email": email, "password": "correct horse", "device_name": device_name}
    response = await http.post("/api/auth/register", json=body)
    assert response.status_code == 201, response.text
    return {**response.json(), "email": body["email"], "password": body["password"]}


async def login(http: httpx.AsyncClient, account: dict[str, str], device_name: str = "device") -> str:
    body = {"email": account["email"], "password": account["password"], "device_name": device_name}
    response = await http.post("/api/auth/login", json=body)
    assert response.status_code == 200, response.text
    return str(response.json()["token"])
