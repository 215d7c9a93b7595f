"""The access log of a real `keeptabs serve` never shows a token, however the query spells its name."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.server_process import ServerProcess


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    env = {"KEEPTABS_DATA_DIR": str(tmp_path_factory.mktemp("log") / "data"), "KEEPTABS_DATABASE_URL": ""}
    with ServerProcess(env) as server:
        yield server


@pytest.mark.parametrize(
    "query", ["token={s}", "tok%65n={s}", "%54OKEN={s}", "x=1&tok%2565n={s}", "token={s}&token={s}"]
)
def test_the_access_log_redacts_the_token(server: ServerProcess, query: str) -> None:
    secret = f"s3cr3t{time.monotonic_ns()}"
    logged_before = server.log().count('"GET /api/events?')
    response = httpx.get(f"{server.base_url}/api/events?{query.format(s=secret)}", timeout=10)
    assert response.status_code == 401  # not a token of this server, whatever the spelling
    deadline = time.monotonic() + 10
    while server.log().count('"GET /api/events?') == logged_before:
        assert time.monotonic() < deadline, "the request never reached the access log"
        time.sleep(0.05)
    assert secret not in server.log()
