"""The client address that failed sign-ins are counted under, through a real `keeptabs serve`: the socket peer, unless
that peer is listed in KEEPTABS_TRUSTED_PROXIES, in which case the right-most untrusted X-Forwarded-For hop."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from server.config import Settings
from tests.server_process import ServerProcess

PASSWORD = "correct horse battery"
EMAIL = "owner@example.org"


@contextmanager
def serving(settings: Settings, tmp_path: Path, trusted: str) -> Iterator[httpx.Client]:
    env = {"KEEPTABS_DATABASE_URL": settings.resolved_database_url, "KEEPTABS_DATA_DIR": str(tmp_path / "serve"),
           "KEEPTABS_TRUSTED_PROXIES": trusted}
    with ServerProcess(env) as server, httpx.Client(base_url=server.base_url, timeout=30) as client:
        response = client.post("/api/auth/register", json={"email": EMAIL, "password": PASSWORD})
        assert response.status_code == 201, response.text
        yield client


def sign_in(client: httpx.Client, password: str, forwarded_for: str) -> int:
    body = {"email": EMAIL, "password": password}
    return client.post("/api/auth/login", json=body, headers={"X-Forwarded-For": forwarded_for}).status_code


def test_behind_a_trusted_proxy_each_client_is_counted_apart(settings: Settings, tmp_path: Path) -> None:
    with serving(settings, tmp_path, "127.0.0.1") as client:
        for _ in range(5):
            assert sign_in(client, "guess guess", "203.0.113.66") == 401
        assert sign_in(client, PASSWORD, "203.0.113.66") == 429
        # A client may send its own X-Forwarded-For; the proxy appends the address it saw, the right-most one.
        assert sign_in(client, PASSWORD, "198.51.100.10, 203.0.113.66") == 429
        assert sign_in(client, PASSWORD, "198.51.100.10") == 200


def test_forwarded_for_is_ignored_from_a_peer_that_is_not_trusted(settings: Settings, tmp_path: Path) -> None:
    with serving(settings, tmp_path, "") as client:
        for n in range(5):
            assert sign_in(client, "guess guess", f"203.0.113.{n}") == 401
        assert sign_in(client, PASSWORD, "198.51.100.10") == 429  # every attempt came from 127.0.0.1
