"""Where blob bytes live: files in a directory (the default), or objects in an S3-compatible bucket (s3.py).

Keys are built here only, from values the server made or validated: a user id from the database, a share's id hash,
and a SHA-256 in lowercase hex. Nothing a client typed becomes part of a path except that validated hash.

Blocking work (file I/O, boto3's calls) runs in one bounded thread pool, so a slow disk or bucket ties up at most
IO_THREADS threads and never the event loop.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import uuid
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO, Protocol, TypeVar

from server.config import Settings

CHUNK = 256 * 1024
IO_THREADS = 8
SHA256 = re.compile(r"^[0-9a-f]{64}$")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_io = ThreadPoolExecutor(max_workers=IO_THREADS, thread_name_prefix="keeptabs-blobs")
T = TypeVar("T")


async def run_io(fn: Callable[..., T], *args: object) -> T:
    return await asyncio.get_running_loop().run_in_executor(_io, fn, *args)


def user_prefix(user_id: str) -> str:
    if not _UUID.match(user_id):
        raise ValueError("not a user id")
    return f"users/{user_id}/"


def user_key(user_id: str, sha256: str) -> str:
    return f"{user_prefix(user_id)}{_hex(sha256)[:2]}/{sha256}"


def share_prefix(id_hash: str) -> str:
    return f"shares/{_hex(id_hash)}/"


def share_key(id_hash: str, sha256: str) -> str:
    return f"{share_prefix(id_hash)}{_hex(sha256)}"


def _hex(value: str) -> str:
    if not SHA256.match(value):
        raise ValueError("not a SHA-256 in lowercase hex")
    return value


class BlobStore(Protocol):
    scratch: Path
    """A local directory for bodies being received (on the same file system as the blobs, for the disk store)."""

    async def put(self, key: str, source: Path) -> None:
        """Stores the file at `source` under `key`, atomically, and takes the file (moved or removed)."""

    def read(self, key: str) -> AsyncIterator[bytes]:
        """The object's bytes, CHUNK at a time; FileNotFoundError if there is none."""

    async def fetch(self, key: str, target: Path) -> None:
        """Copies the object into a local file."""

    async def copy(self, source: str, target: str) -> None: ...

    async def exists(self, key: str) -> bool: ...

    async def delete(self, key: str) -> None:
        """Removes the object; nothing happens if there is none."""

    async def delete_prefix(self, prefix: str) -> int:
        """Removes every object whose key starts with `prefix`; returns how many."""

    async def close(self) -> None: ...


class DiskStore:
    """Files under `root`: `users/<user id>/<ab>/<sha256>`, written as a temp file in `root/incoming` then renamed."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.scratch = root / "incoming"
        self.scratch.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        return self.root / key

    async def put(self, key: str, source: Path) -> None:
        await run_io(self._put, source, self._path(key))

    @staticmethod
    def _put(source: Path, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        with source.open("rb") as file:
            os.fsync(file.fileno())  # the rename must not land before the bytes it names
        os.replace(source, target)

    async def read(self, key: str) -> AsyncIterator[bytes]:
        file: BinaryIO = await run_io(open, self._path(key), "rb")
        try:
            while chunk := await run_io(file.read, CHUNK):
                yield chunk
        finally:
            await run_io(file.close)

    async def fetch(self, key: str, target: Path) -> None:
        await run_io(shutil.copyfile, self._path(key), target)

    async def copy(self, source: str, target: str) -> None:
        temporary = self.scratch / f"copy-{uuid.uuid4().hex}"
        await run_io(shutil.copyfile, self._path(source), temporary)
        await self.put(target, temporary)

    async def exists(self, key: str) -> bool:
        return await run_io(self._path(key).is_file)

    async def delete(self, key: str) -> None:
        await run_io(self._path(key).unlink, True)

    async def delete_prefix(self, prefix: str) -> int:
        return await run_io(self._delete_tree, self._path(prefix.rstrip("/")))

    @staticmethod
    def _delete_tree(folder: Path) -> int:
        count = sum(1 for path in folder.rglob("*") if path.is_file()) if folder.is_dir() else 0
        shutil.rmtree(folder, ignore_errors=True)
        return count

    async def close(self) -> None:
        return None


def open_store(settings: Settings) -> BlobStore:
    if settings.blob_store == "s3":
        from server.attachments.s3 import S3Store  # boto3 is imported only by a server that uses it

        return S3Store(settings)
    return DiskStore(settings.blob_path)
