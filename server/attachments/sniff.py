"""Which image a file is, from its first bytes: never from its name or the Content-Type a client sent.

Only the formats a phone's camera or gallery produces are accepted: JPEG, PNG, WebP, and the ISO media formats
HEIC/HEIF and AVIF (an `ftyp` box whose brands say which). Anything else is None, which the service answers with 415.
"""

from __future__ import annotations

HEAD_BYTES = 64
"""How much of a file the sniffer needs (an `ftyp` box lists its brands within this)."""

JPEG = "image/jpeg"
PNG = "image/png"
WEBP = "image/webp"
HEIC = "image/heic"
HEIF = "image/heif"
AVIF = "image/avif"
TYPES = (JPEG, PNG, WEBP, HEIC, HEIF, AVIF)

_AVIF_BRANDS = {b"avif", b"avis"}
_HEIC_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx"}
_HEIF_BRANDS = {b"mif1", b"msf1"}


def sniff(head: bytes) -> str | None:
    """The image type of a file starting with `head` (its first HEAD_BYTES bytes, or all of a shorter file)."""
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    return _iso_media(head)


def _iso_media(head: bytes) -> str | None:
    """HEIC and AVIF start with an `ftyp` box: size (4 bytes), "ftyp", the major brand, a version, then brands."""
    if len(head) < 16 or head[4:8] != b"ftyp":
        return None
    size = int.from_bytes(head[:4], "big")
    if size < 16 or size % 4:
        return None
    brands = {head[8:12]} | {head[i : i + 4] for i in range(16, min(size, len(head)) - 3, 4)}
    if brands & _AVIF_BRANDS:
        return AVIF
    if brands & _HEIC_BRANDS:
        return HEIC
    if brands & _HEIF_BRANDS:
        return HEIF
    return None
