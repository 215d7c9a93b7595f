"""Input no store can keep, refused before any handler sees it; and tokens kept out of access logs."""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import unquote_plus

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
    """Access-log filter: `?token=` (accepted on /api/events, where EventSource cannot send a header) is a secret.

    Names are compared decoded (`tok%65n=` is `token=` to anything that decodes it), and any name containing "token"
    counts. A query whose separators are themselves encoded (so no pair shows until decoded) is dropped whole if a
    token appears once it is decoded."""

    _pair = re.compile(r"(?P<name>[^?&;=\s\"]+)=(?P<value>[^&;\s\"]*)")
    _query_start = re.compile(r"\?|;|%(?:25)*3f|%(?:25)*3b", re.IGNORECASE)

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(self.redact(a) if isinstance(a, str) else a for a in record.args)
        return True

    @classmethod
    def redact(cls, text: str) -> str:
        redacted = cls._pair.sub(cls._redact_pair, text)
        if not cls._shows_token(_decoded(redacted)):
            return redacted
        head = cls._query_start.split(redacted, maxsplit=1)
        return f"{head[0]}?[redacted]" if len(head) == 2 else "[redacted]"

    @staticmethod
    def _redact_pair(match: re.Match[str]) -> str:
        if "token" in _decoded(match["name"]).lower() and match["value"]:
            return f"{match['name']}=[redacted]"
        return match[0]

    @classmethod
    def _shows_token(cls, text: str) -> bool:
        return any(
            "token" in m["name"].lower() and m["value"] not in ("", "[redacted]") for m in cls._pair.finditer(text)
        )


def _decoded(text: str, rounds: int = 3) -> str:
    """Percent-decoded until it stops changing (a proxy in front may have decoded once already)."""
    for _ in range(rounds):
        decoded = unquote_plus(text)
        if decoded == text:
            break
        text = decoded
    return text
