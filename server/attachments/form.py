"""A share's multipart body, parsed as it streams in (the `multipart` package's push parser, which Litestar itself
depends on): text fields kept in memory up to their limits, each file received into a scratch file like an upload.

A file that cannot be kept becomes a line in `refused` instead of failing the share: the text still arrives.
"""

from __future__ import annotations

from collections.abc import AsyncIterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import multipart

from server.attachments.images import NotAnImage, inspect
from server.attachments.intake import Received, Sink, TooLarge
from server.attachments.storage import run_io
from server.errors import BadRequest, PayloadTooLarge, ProblemError

MAX_FILES = 10
TEXT_LIMITS = {"title": 500, "text": 100_000, "url": 2_048}
"""Characters; the title and text as a note holds them."""
MAX_PARTS = MAX_FILES + 20


class UnsupportedShare(ProblemError):
    status = 415


@dataclass
class ShareForm:
    title: str = ""
    text: str = ""
    url: str = ""
    images: list[dict[str, Any]] = field(default_factory=list)
    scratch: list[Path] = field(default_factory=list)
    """The received file of each image, in the same order (the caller stores them, then removes what is left)."""
    refused: list[str] = field(default_factory=list)


class _Part:
    def __init__(self, segment: multipart.MultipartSegment, sink: Sink | None) -> None:
        self.name = segment.name or ""
        self.filename = segment.filename
        self.sink = sink
        self.text = bytearray()
        self.too_large = False


async def parse_share(content_type: str, body: AsyncIterable[bytes], scratch: Path, max_file: int) -> ShareForm:
    kind, options = multipart.parse_options_header(content_type)
    if kind != "multipart/form-data" or not options.get("boundary"):
        raise UnsupportedShare("A share is a multipart/form-data POST (title, text, url and image files).")
    form = ShareForm()
    parser = multipart.PushMultipartParser(options["boundary"], max_segment_count=MAX_PARTS)
    part: _Part | None = None
    try:
        async for chunk in body:
            for event in parser.parse(chunk):
                part = await _on_event(form, part, event, scratch, max_file)
        for event in parser.parse(b""):
            part = await _on_event(form, part, event, scratch, max_file)
    except multipart.MultipartError as exc:
        await _discard(form, part)
        raise BadRequest(f"The multipart body could not be read: {exc}") from exc
    except BaseException:
        await _discard(form, part)
        raise
    return form


async def _on_event(form: ShareForm, part: _Part | None, event: Any, scratch: Path, max_file: int) -> _Part | None:
    if isinstance(event, multipart.MultipartSegment):
        is_file = event.filename is not None
        if is_file and len(form.images) + len(form.refused) >= MAX_FILES:
            raise PayloadTooLarge(f"At most {MAX_FILES} files can be shared at once.")
        return _Part(event, Sink(scratch, max_file) if is_file else None)
    if part is None:
        return None
    if event is None:
        await _finish(form, part, max_file)
        return None
    await _add(part, event)
    return part


async def _add(part: _Part, data: bytes) -> None:
    if part.sink is None:
        if part.name not in TEXT_LIMITS:
            return  # a field a share does not have: ignored
        part.text += data
        if len(part.text) > 4 * TEXT_LIMITS[part.name]:  # UTF-8 takes at most 4 bytes a character
            raise PayloadTooLarge(f"The shared {part.name or 'field'} is too long.")
    elif not part.too_large:
        try:
            await part.sink.add(data)
        except TooLarge:
            part.too_large = True
            await part.sink.discard()


async def _finish(form: ShareForm, part: _Part, max_file: int) -> None:
    if part.sink is None:
        _set_text(form, part)
        return
    name = part.filename or "a file"
    if part.too_large:
        form.refused.append(f"{name}: larger than {max_file:,} bytes, not kept.")
        return
    received = await part.sink.finish()
    if received.size == 0:  # a form's empty file input: nothing was chosen
        await run_io(received.path.unlink, True)
        return
    await _add_image(form, name, received)


async def _add_image(form: ShareForm, name: str, received: Received) -> None:
    try:
        image = await run_io(inspect, received.path, received.head)
    except NotAnImage as exc:
        await run_io(received.path.unlink, True)
        form.refused.append(f"{name}: {exc} Not kept.")
        return
    if any(kept["sha256"] == received.sha256 for kept in form.images):
        await run_io(received.path.unlink, True)  # the same photo twice: once is enough
        return
    form.images.append(
        {"sha256": received.sha256, "type": image.type, "size": received.size, "width": image.width,
         "height": image.height, "name": name[:200]}
    )
    form.scratch.append(received.path)


def _set_text(form: ShareForm, part: _Part) -> None:
    if part.name not in TEXT_LIMITS:
        return
    value = part.text.decode("utf-8", errors="replace").replace("\x00", "").replace("\r\n", "\n")
    if len(value) > TEXT_LIMITS[part.name]:
        raise PayloadTooLarge(f"The shared {part.name} is longer than {TEXT_LIMITS[part.name]:,} characters.")
    setattr(form, part.name, value)


async def _discard(form: ShareForm, part: _Part | None) -> None:
    if part is not None and part.sink is not None:
        await part.sink.discard()
    for path in form.scratch:
        await run_io(path.unlink, True)
