"""Why a message did not go through, as the delivery record says it: a fixed set of categories.

Never the push service's answer or an exception's text. The endpoint is chosen by the user who reads the record, so
anything more would let them read back what an address answers, or tell its open ports from its closed ones by the
error's wording.
"""

from __future__ import annotations

import errno
import ssl
from enum import StrEnum


class Failure(StrEnum):
    TIMEOUT = "timeout"
    REFUSED = "connection refused"
    RESET = "connection reset"
    UNREACHABLE = "unreachable"
    CONNECTION = "connection failed"
    TLS = "tls"
    DNS = "dns"
    PROTOCOL = "protocol error"
    """The answer was not well-formed HTTP/1.1, or the connection closed before a full answer."""
    NOT_ALLOWED = "endpoint not allowed"
    """The SSRF guard refused the endpoint at send time (its host now resolves to a non-public address)."""
    ENCRYPTION = "cannot encrypt"
    HTTP_3XX = "http 3xx"
    HTTP_4XX = "http 4xx"
    HTTP_5XX = "http 5xx"
    HTTP_OTHER = "http other"


CATEGORIES = frozenset(Failure)
_UNREACHABLE = {errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EHOSTDOWN, errno.ENETDOWN}


def for_status(status: int) -> Failure:
    return {3: Failure.HTTP_3XX, 4: Failure.HTTP_4XX, 5: Failure.HTTP_5XX}.get(status // 100, Failure.HTTP_OTHER)


def for_connect_error(exc: BaseException) -> Failure:
    if isinstance(exc, ssl.SSLError | ssl.CertificateError):
        return Failure.TLS
    if isinstance(exc, TimeoutError):
        return Failure.TIMEOUT
    if isinstance(exc, ConnectionRefusedError):
        return Failure.REFUSED
    if isinstance(exc, ConnectionResetError | ConnectionAbortedError | BrokenPipeError):
        return Failure.RESET
    if isinstance(exc, OSError) and exc.errno in _UNREACHABLE:
        return Failure.UNREACHABLE
    return Failure.CONNECTION


def shown(error: str | None, http_status: int | None) -> str | None:
    """A stored error as the delivery record shows it: records written before the categories held free text (an
    answer's first bytes, an exception's message), which is never shown again."""
    if error is None or error in CATEGORIES:
        return error
    return str(for_status(http_status)) if http_status is not None else str(Failure.CONNECTION)
