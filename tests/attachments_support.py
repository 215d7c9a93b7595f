"""Shared by the attachment tests: a local S3-compatible server (moto's server mode, a real HTTP endpoint started
as a process on a free port), settings for each blob store, and images the tests render themselves."""

from __future__ import annotations

import asyncio
import hashlib
import io
import random
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import boto3
import httpx
import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from PIL import Image, ImageDraw, ImageFont

from server.app import create_app
from server.attachments.storage import BlobStore, open_store
from server.config import Settings
from tests.server_process import free_port

MOTO = Path(sys.executable).with_name("moto_server")
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
CARD_LINES = ("Priya Shah", "Product Manager, Stripe", "priya.shah@stripe.com")


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [str(MOTO), "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(url, timeout=1)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("moto_server did not start") from None
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def s3_settings(settings: Settings, moto_url: str) -> Settings:
    """The same settings on a fresh bucket of the local S3 server."""
    bucket = f"keeptabs-test-{uuid.uuid4().hex[:12]}"
    client = boto3.client(
        "s3", endpoint_url=moto_url, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test"
    )
    client.create_bucket(Bucket=bucket)
    return msgspec.structs.replace(
        settings, blob_store="s3", s3_bucket=bucket, s3_endpoint_url=moto_url, s3_access_key_id="test",
        s3_secret_access_key="test", s3_prefix="kt/",
    )


@pytest.fixture(params=["disk", "s3"])
def blob_settings(request: pytest.FixtureRequest, settings: Settings) -> Settings:
    """Settings on each blob store (and, through `settings`, each database)."""
    if request.param == "disk":
        return settings
    return s3_settings(settings, request.getfixturevalue("moto_url"))


@pytest.fixture
async def store(blob_settings: Settings) -> AsyncIterator[BlobStore]:
    """The test's own view of the blob store the app uses."""
    opened = open_store(blob_settings)
    yield opened
    await opened.close()


@pytest.fixture
def blob_app(blob_settings: Settings) -> Litestar:
    return create_app(blob_settings)


@pytest.fixture
async def bclient(blob_app: Litestar) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app=blob_app) as client:
        yield client


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def photo(width: int = 64, height: int = 48, kind: str = "JPEG", seed: int = 0, noisy: bool = False) -> bytes:
    """A small image in any format Pillow writes; `seed` changes its pixels (and so its hash); `noisy` ones do not
    compress (a PNG of random pixels is about 3 bytes a pixel)."""
    if noisy:
        image = Image.frombytes("RGB", (width, height), random.Random(seed).randbytes(width * height * 3))
    else:
        image = Image.new("RGB", (width, height), (seed * 37 % 256, 120, 200))
        ImageDraw.Draw(image).rectangle((2, 2, width // 2, height // 2), fill=(seed % 256, 10, 10))
    out = io.BytesIO()
    image.save(out, kind)
    return out.getvalue()


def card(lines: tuple[str, ...] = CARD_LINES, kind: str = "PNG") -> bytes:
    """A business card: black text on white at 48 px, as a phone would photograph one held flat."""
    font = ImageFont.truetype(FONT, 48)
    image = Image.new("RGB", (1400, 120 + 90 * len(lines)), "white")
    draw = ImageDraw.Draw(image)
    for i, line in enumerate(lines):
        draw.text((60, 60 + 90 * i), line, font=font, fill="black")
    out = io.BytesIO()
    image.save(out, kind)
    return out.getvalue()


async def objects(store: BlobStore, prefix: str) -> int:
    """How many objects the store holds under `prefix` (counted, then put back by nothing: read-only)."""
    if hasattr(store, "client"):
        client = store.client  # type: ignore[attr-defined]
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=store.bucket, Prefix=store.prefix + prefix)  # type: ignore[attr-defined]
        return await asyncio.to_thread(lambda: sum(len(p.get("Contents", [])) for p in pages))
    root: Path = store.root / prefix  # type: ignore[attr-defined]
    return sum(1 for path in root.rglob("*") if path.is_file()) if root.exists() else 0


async def eventually(check, timeout: float = 30.0, every: float = 0.05):  # type: ignore[no-untyped-def]
    """Polls an async check until it returns something truthy (the value), failing after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within {timeout} s: last value {value!r}")
        await asyncio.sleep(every)
