"""Problem details (RFC 9457) for every error, and the exceptions handlers raise."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger("keeptabs")


class ProblemError(Exception):
    status = 400

    def __init__(
        self,
        detail: str,
        *,
        title: str | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.title = title or HTTPStatus(self.status).phrase
        self.headers = headers or {}
        self.extra = extra or {}


class BadRequest(ProblemError):
    status = 400


class Unauthorized(ProblemError):
    status = 401

    def __init__(self, detail: str = "A valid bearer token is required.") -> None:
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(ProblemError):
    status = 403


class NotFound(ProblemError):
    status = 404


class Conflict(ProblemError):
    status = 409


class PayloadTooLarge(ProblemError):
    status = 413


class Unprocessable(ProblemError):
    status = 422

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}", extra={"errors": [{"field": field, "message": message}]})


class TooManyRequests(ProblemError):
    status = 429

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail, headers={"Retry-After": str(max(1, retry_after))})


class ServiceUnavailable(ProblemError):
    status = 503


def problem(status: int, detail: str, *, title: str | None = None, **extra: Any) -> dict[str, Any]:
    """A problem details body: answered as a response, or inside a sync result for a mutation `rejected` alone."""
    body = {"type": "about:blank", "title": title or HTTPStatus(status).phrase, "status": status, "detail": detail}
    body.update(extra)
    return body


def problem_response(
    status: int, detail: str, *, title: str | None = None, headers: dict[str, str] | None = None, **extra: Any
) -> Response[dict[str, Any]]:
    body = problem(status, detail, title=title, **extra)
    return Response(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def handle_problem(_: Request[Any, Any, Any], exc: ProblemError) -> Response[dict[str, Any]]:
    return problem_response(exc.status, exc.detail, title=exc.title, headers=exc.headers, **exc.extra)


def handle_validation(_: Request[Any, Any, Any], exc: ValidationException) -> Response[dict[str, Any]]:
    # Litestar reports body and parameter validation as 400; the contract says 422 for values that parse but do not
    # fit, keeping 400 for JSON that does not parse at all (a ClientException, handled below).
    errors = [
        {"field": str(e.get("key", "")), "message": str(e.get("message", ""))}
        for e in (exc.extra if isinstance(exc.extra, list) else [])
        if isinstance(e, dict)
    ]
    detail = "; ".join(f"{e['field']}: {e['message']}" if e["field"] else e["message"] for e in errors)
    return problem_response(422, detail or str(exc.detail), errors=errors)


def handle_http(_: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    status = exc.status_code
    detail = exc.detail if exc.detail and exc.detail != HTTPStatus(status).phrase else _DEFAULT_DETAIL.get(status, "")
    return problem_response(status, detail or HTTPStatus(status).phrase, headers=exc.headers)


def handle_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem_response(500, "Something went wrong on the server. Nothing was changed.")


_DEFAULT_DETAIL = {
    400: "The request body is not valid JSON.",
    404: "No such resource.",
    405: "This method is not allowed here.",
    413: "The request body is too large.",
}

EXCEPTION_HANDLERS: dict[type[Exception], Any] = {
    ProblemError: handle_problem,
    ValidationException: handle_validation,
    HTTPException: handle_http,
    Exception: handle_unexpected,
}
