"""POST /share and its page (for a browser with no service worker yet), and the claim a signed-in device makes."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from litestar import Controller, Request, get, post
from litestar.datastructures import CacheControlHeader, State
from litestar.params import FromPath
from litestar.response import Redirect, Stream, Template

from server.attachments import shares
from server.attachments.routes import IMAGE_CSP
from server.attachments.shares import ClaimedShare
from server.config import MAX_BLOB_CEILING
from server.deps import AuthDep
from server.errors import NotFound
from server.hygiene import CHECKS_NUL

NO_STORE = CacheControlHeader(no_store=True)


class SharePageController(Controller):
    """The pages: not part of the JSON API (a browser's navigation, answered with HTML)."""

    include_in_schema = False

    # NUL: the text fields drop it (form.py) and photos are bytes, so the app's check, which reads a body whole, is off.
    @post("/share", request_max_body_size=MAX_BLOB_CEILING, status_code=303, opt={CHECKS_NUL: True})
    async def receive(self, state: State, request: Request[Any, Any, Any]) -> Redirect:
        share_id = await shares.receive(state, request.headers.get("content-type", ""), request.stream())
        # Post/redirect/get: reloading the page shows the same share instead of posting it again.
        return Redirect(f"/share/{share_id}", status_code=303)

    @get("/share/{share_id:str}", cache_control=NO_STORE)
    async def page(self, share_id: FromPath[str], state: State, request: Request[Any, Any, Any]) -> Template:
        try:
            share = await shares.load(state, share_id)
        except NotFound:
            return Template("share.html", context={"static": state.assets.prefix, "share": None}, status_code=404)
        # Saved into the app without a tap only when the share came from the device itself (its share sheet, or a
        # reload), never from a form another site submitted.
        auto = request.headers.get("sec-fetch-site", "none") in ("none", "same-origin")
        context = {
            "static": state.assets.prefix, "share": share, "share_id": share_id, "auto": auto,
            "link": share.url if urlsplit(share.url).scheme in ("http", "https") else "",
        }
        return Template("share.html", context=context)

    @get("/share/{share_id:str}/images/{index:int}", cache_control=NO_STORE)
    async def image(self, share_id: FromPath[str], index: FromPath[int], state: State) -> Stream:
        image, body = await shares.open_image(state, share_id, index)
        headers = {
            "Content-Length": str(image["size"]), "Content-Disposition": "inline",
            "Content-Security-Policy": IMAGE_CSP, "Cross-Origin-Resource-Policy": "same-origin",
        }
        return Stream(body, media_type=image["type"], headers=headers)


class ShareClaimController(Controller):
    path = "/api/shares"
    tags = ("attachments",)

    @post("/{share_id:str}/claim", status_code=200)
    async def claim(self, share_id: FromPath[str], auth: AuthDep, state: State) -> ClaimedShare:
        """Takes a share received before the app could: its photos become the user's blobs and the share ends."""
        return await shares.claim(state, auth.user_id, share_id)


