"""The image sniffer (types from bytes only), the scratch-file intake and blob keys: pure, table-driven."""

from __future__ import annotations

import hashlib
import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from PIL import Image

from server.attachments.intake import FLUSH_BYTES, TooLarge, receive
from server.attachments.sniff import AVIF, HEIC, HEIF, JPEG, PNG, WEBP, sniff
from server.attachments.storage import share_key, user_key


def ftyp(major: bytes, *compatible: bytes) -> bytes:
    body = major + b"\x00\x00\x00\x00" + b"".join(compatible)
    return (8 + len(body)).to_bytes(4, "big") + b"ftyp" + body + b"\x00\x00\x00\x08mdat"


def pillow(kind: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(out, kind)
    return out.getvalue()


@pytest.mark.parametrize(
    "head, expected",
    [
        (pillow("JPEG"), JPEG),
        (pillow("PNG"), PNG),
        (pillow("WEBP"), WEBP),
        (pillow("AVIF"), AVIF),
        (ftyp(b"heic", b"mif1", b"heic"), HEIC),
        (ftyp(b"mif1", b"heic"), HEIC),  # a generic HEIF major brand, HEVC-coded: the compatible brands say so
        (ftyp(b"mif1", b"miaf"), HEIF),
        (ftyp(b"avif", b"mif1", b"miaf"), AVIF),
        (ftyp(b"mif1", b"avif"), AVIF),
        (ftyp(b"isom", b"mp41"), None),  # an MP4 video
        (ftyp(b"qt  "), None),
        (b"\x00\x00\x00\x07ftypheic", None),  # a box size that cannot hold its own header
        (b"GIF89a\x01\x00\x01\x00", None),
        (b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>", None),
        (b"<!doctype html><html>", None),
        (b"%PDF-1.7", None),
        (b"RIFF\x00\x00\x00\x00WAVEfmt ", None),
        (b"\xff\xd8", None),
        (b"", None),
    ],
    ids=lambda v: v if isinstance(v, str) or v is None else None,
)
def test_sniff(head: bytes, expected: str | None) -> None:
    assert sniff(head[:64]) == expected


async def _chunks(data: bytes, size: int) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


async def test_receive_hashes_while_streaming(tmp_path: Path) -> None:
    data = bytes(range(256)) * (3 * FLUSH_BYTES // 256 + 17)  # several flushes and a remainder
    received = await receive(_chunks(data, 65_536), tmp_path, limit=len(data))
    assert received.sha256 == hashlib.sha256(data).hexdigest() and received.size == len(data)
    assert received.head == data[:64] and received.path.read_bytes() == data


async def test_receive_stops_past_the_limit_and_leaves_nothing(tmp_path: Path) -> None:
    data = b"x" * (2 * FLUSH_BYTES + 1)
    with pytest.raises(TooLarge):
        await receive(_chunks(data, 65_536), tmp_path, limit=2 * FLUSH_BYTES)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("bad", ["../../etc/passwd", "A" * 64, "a" * 63, "a" * 64 + "/x", ""])
def test_keys_are_built_from_validated_values_only(bad: str) -> None:
    user = "00000000-0000-4000-8000-000000000001"
    assert user_key(user, "ab" * 32) == f"users/{user}/ab/{'ab' * 32}"
    with pytest.raises(ValueError):
        user_key(user, bad)
    with pytest.raises(ValueError):
        share_key(bad, "ab" * 32)
    with pytest.raises(ValueError):
        user_key("../" + user, "ab" * 32)
