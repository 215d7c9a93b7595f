"""Schemathesis against /schema on a real server: no 5xx, and no response that breaks the documented schema.

Bounded for `make test`; `make fuzz` (-m slow) runs many more examples. /api/events is left out: it is an endless
stream by design, and tests/api/test_events.py covers it, bad tokens included. (Schemathesis' own pytest
integration, `from_fixture`, does not run under pytest 9, so the operations are walked here with Hypothesis.)
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error, response_schema_conformance
from schemathesis.core.failures import FailureGroup
from schemathesis.generation.case import Case
from schemathesis.schemas import APIOperation, BaseSchema

from server.app import create_app
from server.config import Settings
from tests.live import ThreadedServer

CHECKS = [not_a_server_error, response_schema_conformance]
ENDLESS = "/api/events"


@pytest.fixture
def fuzz_server(settings: Settings) -> Iterator[ThreadedServer]:
    with ThreadedServer(create_app(settings)) as server:
        yield server


@pytest.fixture
def api_schema(fuzz_server: ThreadedServer) -> BaseSchema:
    return schemathesis.openapi.from_url(f"{fuzz_server.base_url}/schema").exclude(path=ENDLESS)


def sign_in(base_url: str) -> dict[str, str]:
    """A real account's token, so that fuzzing reaches past authentication (a fuzzed logout may end the last one)."""
    body = {"email": "fuzz@example.org", "password": "correct horse battery", "device_name": "fuzz"}
    response = httpx.post(f"{base_url}/api/auth/register", json=body, timeout=10)
    if response.status_code == 409:
        response = httpx.post(f"{base_url}/api/auth/login", json=body, timeout=10)
    assert response.status_code in (200, 201), response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


def fuzz_operation(operation: APIOperation, mode: GenerationMode, base_url: str, examples: int, thorough: bool) -> None:
    # The bounded run is derandomized so that CI sees the same examples every time; the thorough one explores.
    phases = [Phase.explicit, Phase.generate, *([Phase.shrink] if thorough else [])]
    headers = sign_in(base_url)

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=examples,
        derandomize=not thorough,
        deadline=None,
        database=None,
        phases=phases,
        suppress_health_check=list(HealthCheck),
    )
    def check(case: Case) -> None:
        case.call_and_validate(headers=headers, checks=CHECKS, timeout=30)

    check()


def format_failure(exc: BaseException) -> str:
    if isinstance(exc, BaseExceptionGroup):
        return "\n".join(str(inner)[:2000] for inner in exc.exceptions)
    return ""


def fuzz(schema: BaseSchema, base_url: str, examples: int, thorough: bool = False) -> list[str]:
    """Every operation, with valid and with invalid input; the failures, one line each (all are reported)."""
    failures = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 5, "the schema lists too few operations to be the whole API"
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                fuzz_operation(operation, mode, base_url, examples, thorough)
            except Unsatisfiable:
                assert mode is GenerationMode.NEGATIVE, f"{operation.label}: no valid input can be made"
                # Nothing in this operation can be made invalid (no body, or only free-form strings).
            except (Exception, FailureGroup) as exc:  # schemathesis reports its findings as a BaseExceptionGroup
                failures.append(f"{operation.label} ({mode.value}): {exc}\n{format_failure(exc)}")
    return failures


def test_api_keeps_to_its_schema(api_schema: BaseSchema, fuzz_server: ThreadedServer) -> None:
    failures = fuzz(api_schema, fuzz_server.base_url, examples=12)
    assert not failures, "\n\n".join(failures)


@pytest.mark.slow
def test_api_keeps_to_its_schema_thoroughly(api_schema: BaseSchema, fuzz_server: ThreadedServer) -> None:
    failures = fuzz(api_schema, fuzz_server.base_url, examples=300, thorough=True)
    assert not failures, "\n\n".join(failures)
