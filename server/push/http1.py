"""HTTP/1.1 message framing for the push transport (RFC 9112): the request bytes, a strict and bounded response
parser, and the errors of an exchange. The answer comes from a host a user chose, so anything odd is a
ProtocolError, and no head or body is read past its bound."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from server.push.failures import Failure

MAX_HEAD = 16 * 1024
MAX_BODY = 64 * 1024
"""More than any push service answers; a longer body is cut and its connection closed instead of being read."""

_STATUS_LINE = re.compile(r"HTTP/1\.([01]) ([1-9][0-9][0-9])(?: [^\r\n]*)?")
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_UNSAFE = re.compile(r"[\x00-\x1f\x7f]")
_DIGITS = re.compile(r"[0-9]{1,18}")
_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,15}")


class Reader(Protocol):
    """A connection's received bytes (transport.py's _Connection)."""

    async def read_until(self, separator: bytes, limit: int) -> bytes: ...
    async def read_exactly(self, count: int) -> bytes: ...
    async def read_to_close(self, limit: int) -> bytes: ...


class TransportError(Exception):
    """The exchange failed before a complete answer arrived: worth another attempt later."""

    failure = Failure.CONNECTION
    """What the delivery record may say about it (the message is for the log only)."""


class ConnectError(TransportError):
    def __init__(self, message: str, failure: Failure = Failure.CONNECTION) -> None:
        super().__init__(message)
        self.failure = failure


class Timeout(TransportError):
    failure = Failure.TIMEOUT


class ProtocolError(TransportError):
    """The peer answered something that is not well-formed HTTP/1.1, or closed before a full answer."""

    failure = Failure.PROTOCOL


class ConnectionClosed(ProtocolError):
    pass


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    """Lower-case names; a repeated header keeps its last value."""
    body: bytes


def request_bytes(target: str, headers: Sequence[tuple[str, str]], body: bytes) -> bytes:
    lines = [f"POST {target} HTTP/1.1"]
    for name, value in headers:
        # The values come from a stored endpoint and our own code; a line break would smuggle a header in.
        if _UNSAFE.search(value) or not _HEADER_NAME.fullmatch(name):
            raise ValueError(f"unsafe header {name!r}")
        lines.append(f"{name}: {value}")
    if _UNSAFE.search(target) or " " in target:
        raise ValueError("unsafe request target")
    lines.append(f"Content-Length: {len(body)}\r\n\r\n")
    return "\r\n".join(lines).encode("ascii") + body


async def read_response(connection: Reader) -> tuple[Response, bool]:
    """The response and whether the connection can carry another request."""
    while True:
        status, headers, keep_alive = _parse_head(await connection.read_until(b"\r\n\r\n", MAX_HEAD))
        if status == 101:
            raise ProtocolError("unexpected 101 Switching Protocols")
        if status >= 200:
            break
        # 100 Continue, 103 Early Hints: interim answers, the real one follows.
    body, complete = await _read_body(connection, status, headers)
    return Response(status, headers, body), keep_alive and complete


def _parse_head(head: bytes) -> tuple[int, dict[str, str], bool]:
    lines = head[:-4].decode("latin-1").split("\r\n")
    match = _STATUS_LINE.fullmatch(lines[0])
    if match is None:
        raise ProtocolError(f"not an HTTP/1.x status line: {lines[0][:80]!r}")
    headers: dict[str, str] = {}
    lengths: set[str] = set()
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon or not _HEADER_NAME.fullmatch(name):  # also refuses obsolete line folding
            raise ProtocolError(f"malformed header line: {line[:80]!r}")
        name, value = name.lower(), value.strip(" \t")
        if name == "content-length":
            lengths.add(value)
        headers[name] = value
    if len(lengths) > 1:
        raise ProtocolError("conflicting Content-Length headers")
    connection_tokens = {t.strip().lower() for t in headers.get("connection", "").split(",")}
    keep_alive = match[1] == "1" and "close" not in connection_tokens
    return int(match[2]), headers, keep_alive


async def _read_body(connection: Reader, status: int, headers: dict[str, str]) -> tuple[bytes, bool]:
    """The body (at most MAX_BODY bytes) and whether it was read to its end."""
    if status in (204, 304):
        return b"", True
    if "transfer-encoding" in headers:
        if headers["transfer-encoding"].rsplit(",", 1)[-1].strip().lower() == "chunked":
            return await _read_chunked(connection)
        return await connection.read_to_close(MAX_BODY), False
    if "content-length" in headers:
        length = headers["content-length"]
        if not _DIGITS.fullmatch(length):
            raise ProtocolError(f"invalid Content-Length {length[:20]!r}")
        if int(length) > MAX_BODY:
            return await connection.read_exactly(MAX_BODY), False
        return await connection.read_exactly(int(length)), True
    return await connection.read_to_close(MAX_BODY), False


async def _read_chunked(connection: Reader) -> tuple[bytes, bool]:
    body = b""
    while True:
        size_line = (await connection.read_until(b"\r\n", 1024))[:-2].split(b";", 1)[0].rstrip(b" \t")
        if not _CHUNK_SIZE.fullmatch(size_line):
            raise ProtocolError(f"invalid chunk size {size_line[:20]!r}")
        size = int(size_line, 16)
        if size == 0:
            while await connection.read_until(b"\r\n", MAX_HEAD) != b"\r\n":
                pass  # trailer fields: not needed
            return body, True
        if len(body) + size > MAX_BODY:
            return body + await connection.read_exactly(MAX_BODY - len(body)), False
        body += await connection.read_exactly(size)
        if await connection.read_exactly(2) != b"\r\n":
            raise ProtocolError("chunk not followed by CRLF")
