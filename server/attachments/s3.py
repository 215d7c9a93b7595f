"""An S3-compatible bucket (AWS, MinIO, Ceph, Garage...) through boto3, whose blocking calls run in the blob I/O pool.

Why boto3 in threads rather than an async client: boto3's client is thread-safe and the reference implementation
every S3-compatible store tests against; the async wrappers pin older botocore releases. Bodies being received are
spooled to a local scratch directory first (their hash must be checked before anything is stored), then uploaded in
one call (multipart above 8 MB, by boto3's transfer manager).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from server.attachments.storage import CHUNK, run_io
from server.config import Settings

_MISSING = {"404", "NoSuchKey", "NotFound"}


class S3Store:
    def __init__(self, settings: Settings) -> None:
        self.bucket = settings.s3_bucket
        self.prefix = settings.s3_prefix
        self.scratch = settings.data_path / "incoming"
        self.scratch.mkdir(parents=True, exist_ok=True)
        credentials = {}
        if settings.s3_access_key_id:
            credentials = {
                "aws_access_key_id": settings.s3_access_key_id,
                "aws_secret_access_key": settings.s3_secret_access_key,
            }
        self.client: Any = boto3.client(
            "s3",
            endpoint_url=settings.s3_endpoint_url or None,
            region_name=settings.s3_region,
            config=Config(retries={"mode": "standard", "max_attempts": 4}, max_pool_connections=16),
            **credentials,
        )

    def _key(self, key: str) -> str:
        return self.prefix + key

    async def put(self, key: str, source: Path) -> None:
        try:
            await run_io(self.client.upload_file, str(source), self.bucket, self._key(key))
        finally:
            source.unlink(missing_ok=True)

    async def read(self, key: str) -> AsyncIterator[bytes]:
        try:
            response = await run_io(lambda: self.client.get_object(Bucket=self.bucket, Key=self._key(key)))
        except ClientError as exc:
            if _code(exc) in _MISSING:
                raise FileNotFoundError(key) from exc
            raise
        body = response["Body"]
        try:
            while chunk := await run_io(body.read, CHUNK):
                yield chunk
        finally:
            await run_io(body.close)

    async def fetch(self, key: str, target: Path) -> None:
        await run_io(self.client.download_file, self.bucket, self._key(key), str(target))

    async def copy(self, source: str, target: str) -> None:
        origin = {"Bucket": self.bucket, "Key": self._key(source)}
        await run_io(lambda: self.client.copy(origin, self.bucket, self._key(target)))

    async def exists(self, key: str) -> bool:
        try:
            await run_io(lambda: self.client.head_object(Bucket=self.bucket, Key=self._key(key)))
        except ClientError as exc:
            if _code(exc) in _MISSING:
                return False
            raise
        return True

    async def delete(self, key: str) -> None:
        await run_io(lambda: self.client.delete_object(Bucket=self.bucket, Key=self._key(key)))

    async def delete_prefix(self, prefix: str) -> int:
        return await run_io(self._delete_prefix, self._key(prefix))

    def _delete_prefix(self, prefix: str) -> int:
        count = 0
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        for page in pages:
            keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if keys:  # a page holds at most 1,000 keys, the most one delete_objects takes
                self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": keys, "Quiet": True})
                count += len(keys)
        return count

    async def close(self) -> None:
        await run_io(self.client.close)


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))
