"""Input no store can keep, refused before any handler sees it; and tokens kept out of access logs."""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import unquote_plus

from litestar import Request

from server.errors import BadRequest, Unprocessable

# A JSON `\u0000` escape: preceded by an even number of backslashes (so `\\u0000`, an escaped backslash followed by
# the text "u0000", is left alone). PostgreSQL text cannot hold NUL, and no keyboard types it.
_JSON_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
_BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
CHECKS_NUL = "checks_nul"
"""A handler `opt` key: the handler refuses NUL itself, more precisely (sync refuses only the mutation holding it)."""


class JSONRequest(Request[Any, Any, Any]):
    """A request whose JSON body, if it cannot be decoded at all, is a 400 rather than an error deep in a handler."""

    async def json(self) -> Any:
        try:
            return await super().json()
        except RecursionError:  # msgspec stops at Python's recursion limit: about 1,000 levels of nesting
            raise BadRequest("The request body is nested too deeply to be read.") from None
        except UnicodeDecodeError:
            raise BadRequest("The request body is not valid UTF-8.") from None


async def refuse_nul(request: Request[Any, Any, Any]) -> None:
    """A before-request hook: NUL anywhere in a path, query or body is a 422 that changes nothing.

    Bodies are checked whatever their declared content type: a handler reads JSON from a body sent as `text/plain`
    (or `application/JSON`) all the same. (A raw NUL byte is not valid JSON: the parser answers 400.)"""
    if "\x00" in request.url.path or "%00" in request.url.query.lower():
        raise Unprocessable("url", "the NUL character is not allowed")
    if request.method not in _BODY_METHODS or request.route_handler.opt.get(CHECKS_NUL):
        return
    body = await request.body()
    if _JSON_NUL.search(body):
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
