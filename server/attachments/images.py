"""What the server learns from a received image: its sniffed type and its size in pixels (Pillow reads the header
only). Runs in a thread: opening a file and parsing headers is blocking work."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import NamedTuple

from PIL import Image

from server.attachments.sniff import AVIF, HEIC, HEIF, JPEG, PNG, WEBP, sniff

MAX_PIXELS = 100_000_000
"""A larger image is refused (a decompression bomb is a few KB of PNG that decodes to gigabytes)."""
PILLOW_FORMATS = {JPEG: "JPEG", PNG: "PNG", WEBP: "WEBP", AVIF: "AVIF"}
"""The types Pillow reads here; HEIC/HEIF are stored and served without their pixel size (and without OCR)."""


class NotAnImage(Exception):
    """415: the bytes are not an image of an accepted type (or do not parse as the type they claim)."""


class ImageInfo(NamedTuple):
    type: str
    width: int | None
    height: int | None


def inspect(path: Path, head: bytes) -> ImageInfo:
    kind = sniff(head)
    if kind is None:
        raise NotAnImage("Only JPEG, PNG, WebP, HEIC and AVIF images are accepted.")
    if kind in (HEIC, HEIF):
        return ImageInfo(kind, None, None)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path, formats=[PILLOW_FORMATS[kind]]) as image:
                width, height = image.size
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise NotAnImage(f"The file starts like {kind} but is not a readable image.") from exc
    if width * height > MAX_PIXELS:
        raise NotAnImage(f"The image has more than {MAX_PIXELS:,} pixels.")
    return ImageInfo(kind, width, height)
