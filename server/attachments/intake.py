"""Receiving a body into a scratch file: hashed and counted as it arrives, never held in memory whole.

Chunks from the network are gathered up to FLUSH_BYTES and then handed to the blob I/O pool, which hashes and writes
them: SHA-256 of a 10 MB photo is ~30 ms of CPU, which must not run on the event loop, and one thread hop per
megabyte (rather than per 64 KB chunk) keeps the overhead small. At most FLUSH_BYTES plus one chunk of a body is in
memory at a time.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterable
from pathlib import Path
from typing import BinaryIO, NamedTuple

from server.attachments.sniff import HEAD_BYTES
from server.attachments.storage import run_io

FLUSH_BYTES = 1024 * 1024


class TooLarge(Exception):
    """The body went past the limit it was received with."""


class Received(NamedTuple):
    path: Path
    sha256: str
    size: int
    head: bytes
    """The first HEAD_BYTES bytes, for the type sniffer."""


class Sink:
    """One file being received: call `add` for each chunk, then `finish` (or `discard` on any failure)."""

    def __init__(self, scratch: Path, limit: int) -> None:
        self.path = scratch / f"in-{uuid.uuid4().hex}"
        self.limit = limit
        self.size = 0
        self.head = b""
        self._hash = hashlib.sha256()
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self._file: BinaryIO | None = None

    async def add(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.limit:
            raise TooLarge()
        if len(self.head) < HEAD_BYTES:
            self.head = (self.head + chunk)[:HEAD_BYTES]
        self._pending.append(chunk)
        self._pending_bytes += len(chunk)
        if self._pending_bytes >= FLUSH_BYTES:
            await self._flush()

    async def _flush(self) -> None:
        data, self._pending, self._pending_bytes = b"".join(self._pending), [], 0
        if self._file is None:
            self._file = await run_io(self.path.open, "wb")
        await run_io(self._write, self._file, data)

    def _write(self, file: BinaryIO, data: bytes) -> None:
        self._hash.update(data)
        file.write(data)

    async def finish(self) -> Received:
        await self._flush()
        if self._file is not None:
            await run_io(self._file.close)
        return Received(self.path, self._hash.hexdigest(), self.size, self.head)

    async def discard(self) -> None:
        if self._file is not None:
            await run_io(self._file.close)
        await run_io(self.path.unlink, True)


async def receive(chunks: AsyncIterable[bytes], scratch: Path, limit: int) -> Received:
    """A whole body into a scratch file (the caller owns it then); TooLarge past `limit` bytes, nothing left behind."""
    sink = Sink(scratch, limit)
    try:
        async for chunk in chunks:
            if chunk:
                await sink.add(chunk)
        return await sink.finish()
    except BaseException:
        await sink.discard()
        raise
