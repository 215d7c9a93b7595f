"""/api/blobs: upload (PUT), download (GET), presence (HEAD) and the list with the quota. Thin over blobs.py."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, head, put
from litestar.datastructures import State
from litestar.openapi.spec import OpenAPIFormat, OpenAPIMediaType, OpenAPIType, Operation, RequestBody, Schema
from litestar.params import FromPath, Parameter
from litestar.response import Stream

from server.attachments import blobs
from server.attachments.blobs import BlobInfo, BlobList
from server.config import MAX_BLOB_CEILING
from server.deps import AuthDep
from server.hygiene import CHECKS_NUL

IMAGE_CSP = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox"
"""For the bytes of a photo: no script, no plugin, no form, a sandbox. An image opened on its own in a tab (or a
file that only claims to be one) must never become a document that runs code on this origin."""


@dataclass
class RawImageUpload(Operation):
    """The upload's body in /schema: raw bytes, not JSON (the handler reads it as a stream, so Litestar cannot
    infer it from a parameter)."""

    def __post_init__(self) -> None:
        binary = OpenAPIMediaType(schema=Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY))
        self.request_body = RequestBody(
            content={"application/octet-stream": binary, "image/*": binary},
            required=True,
            description="The photo's bytes: JPEG, PNG, WebP, HEIC/HEIF or AVIF (sniffed; Content-Type is ignored).",
        )


def image_headers(info: BlobInfo) -> dict[str, str]:
    return {
        "ETag": f'"{info.sha256}"',
        # private: an authenticated answer; immutable: content-addressed, so a name never changes what it holds.
        "Cache-Control": "private, max-age=31536000, immutable",
        "Content-Disposition": "inline",
        "Content-Security-Policy": IMAGE_CSP,
        "Cross-Origin-Resource-Policy": "same-origin",
    }


class BlobController(Controller):
    path = "/api/blobs"
    tags = ("attachments",)

    @get("/")
    async def list_blobs(
        self, auth: AuthDep, state: State, after: Annotated[str, Parameter(max_length=64)] = ""
    ) -> BlobList:
        """The user's photos in SHA-256 order, a page at a time, with the bytes they use and the quota."""
        return await blobs.list_blobs(state, auth.user_id, after)

    @put(
        "/{sha256:str}",
        request_max_body_size=MAX_BLOB_CEILING,
        status_code=201,
        # The app's NUL check would read the body whole; a photo is bytes, NUL is no text there (the URL is checked).
        opt={CHECKS_NUL: True},
        operation_class=RawImageUpload,
    )
    async def upload(
        self, sha256: FromPath[str], auth: AuthDep, state: State, request: Request[Any, Any, Any]
    ) -> Response[BlobInfo]:
        """The raw bytes of a photo, stored under their SHA-256: 201 when new, 200 when already stored."""
        blobs.check_hash(sha256)
        length = request.headers.get("content-length")
        announced = int(length) if length and length.isdigit() else None
        info, created = await blobs.upload(state, auth.user_id, sha256, announced, request.stream())
        return Response(info, status_code=201 if created else 200)

    @get("/{sha256:str}")
    async def download(
        self, sha256: FromPath[str], auth: AuthDep, state: State, request: Request[Any, Any, Any]
    ) -> Response[Any]:
        """The photo's bytes, with its sniffed type, immutable caching and its hash as ETag."""
        blobs.check_hash(sha256)
        if (known := await blobs.find(state, auth.user_id, sha256)) and _matches(request, known):
            return Response(b"", status_code=304, headers=image_headers(known))
        info, body = await blobs.open_blob(state, auth.user_id, sha256)
        headers = {**image_headers(info), "Content-Length": str(info.size)}
        return Stream(body, media_type=info.type, headers=headers)

    @head("/{sha256:str}")
    async def presence(self, sha256: FromPath[str], auth: AuthDep, state: State) -> Response[None]:
        """200 with the photo's type and length if the user has it stored, 404 otherwise."""
        info = await blobs.find(state, auth.user_id, blobs.check_hash(sha256))
        if info is None or not await blobs.stored(state, auth.user_id, sha256):
            return Response(None, status_code=404)
        # The headers a GET would send (a HEAD response carries no body, so they are set by hand).
        headers = {**image_headers(info), "Content-Length": str(info.size), "Content-Type": info.type}
        return Response(None, headers=headers)


def _matches(request: Request[Any, Any, Any], info: BlobInfo) -> bool:
    wanted = request.headers.get("if-none-match", "")
    return any(tag.strip().removeprefix("W/") in (f'"{info.sha256}"', "*") for tag in wanted.split(","))
