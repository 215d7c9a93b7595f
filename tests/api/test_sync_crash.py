"""A server killed (SIGKILL) in the middle of a sync request keeps every mutation it committed and loses none: the
device, which got no answer, sends them all again and each is applied exactly once."""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from tests.server_process import ServerProcess

MUTATIONS = 400


def applied_count(database: Path) -> int:
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=10) as conn:
        return int(conn.execute("SELECT count(*) FROM applied_mutations").fetchone()[0])


def kill_mid_request(env: dict[str, str], mutations: list[dict[str, Any]], database: Path) -> dict[str, str]:
    """Starts the server, sends the mutations, kills it once some are committed; returns the device's headers."""
    server = ServerProcess(env).start()
    try:
        account = {"email": "crash@example.org", "password": "correct horse battery", "device_name": "phone"}
        token = httpx.post(f"{server.base_url}/api/auth/register", json=account, timeout=30).json()["token"]
        headers = {"Authorization": f"Bearer {token}"}
        outcome: list[Any] = []

        def send() -> None:
            body = {"mutations": mutations}
            try:
                outcome.append(httpx.post(f"{server.base_url}/api/sync", json=body, headers=headers, timeout=60))
            except httpx.HTTPError as exc:
                outcome.append(exc)

        sender = threading.Thread(target=send)
        sender.start()
        deadline = time.monotonic() + 60
        while applied_count(database) < 10 and time.monotonic() < deadline:
            time.sleep(0.001)  # polling the database for progress, not waiting for a guess
        server.kill()
        sender.join()
    finally:
        server.stop()
    assert isinstance(outcome[0], httpx.HTTPError), "the request finished before the kill: nothing was tested"
    return headers


def test_kill_mid_request_loses_nothing(tmp_path: Path) -> None:
    env = {"KEEPTABS_DATA_DIR": str(tmp_path), "KEEPTABS_DATABASE_URL": ""}
    now = datetime.now(UTC).isoformat()
    mutations = [
        {
            "id": str(uuid.uuid4()),
            "note_id": str(uuid.uuid4()),
            "base_rev": 0,
            "edited_at": now,
            "set": {"title": f"note {i}", "body": "x" * 1500},
        }
        for i in range(MUTATIONS)
    ]
    headers = kill_mid_request(env, mutations, tmp_path / "keeptabs.db")
    committed = applied_count(tmp_path / "keeptabs.db")
    assert 10 <= committed < MUTATIONS

    with ServerProcess(env) as again:
        body = {"mutations": mutations, "limit": 1000}
        data = httpx.post(f"{again.base_url}/api/sync", json=body, headers=headers, timeout=60).json()
    statuses = [r["status"] for r in data["results"]]
    assert statuses == ["duplicate"] * committed + ["applied"] * (MUTATIONS - committed)
    assert sorted(n["title"] for n in data["changes"]) == sorted(f"note {i}" for i in range(MUTATIONS))
    assert {n["rev"] for n in data["changes"]} == {1}
    assert sorted(n["seq"] for n in data["changes"]) == list(range(1, MUTATIONS + 1))
