"""Input no store can keep, refused before any handler sees it; and tokens kept out of access logs."""

from __future__ import annotations

import logging
import re
from typing import Any

from litestar import Request

from server.errors import Unprocessable

# A JSON `\u0000` escape: preceded by an even number of backslashes (so `\\u0000`, an escaped backslash followed by
# the text "u0000", is left alone). PostgreSQL text cannot hold NUL, and no keyboard types it.
_JSON_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
_BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


async def refuse_nul(request: Request[Any, Any, Any]) -> None:
    """A before-request hook: NUL anywhere in a path, query or JSON body is a 422 that changes nothing."""
    if "\x00" in request.url.path or "%00" in request.url.query.lower():
        raise Unprocessable("url", "the NUL character is not allowed")
    is_json = request.method in _BODY_METHODS and "json" in request.headers.get("content-type", "")
    if is_json and _JSON_NUL.search(await request.body()):
        raise Unprocessable("body", "text may not contain the NUL character (\\u0000)")


class RedactTokens(logging.Filter):
    """Access-log filter: `?token=` (accepted on /api/events, where EventSource cannot send a header) is a secret."""

    _token = re.compile(r"(token=)[^&\s\"]+")

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(self._token.sub(r"\1[redacted]", a) if isinstance(a, str) else a for a in record.args)
        return True
