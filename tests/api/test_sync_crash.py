"""A server killed (SIGKILL) in the middle of a sync request keeps every request it committed, applies nothing of
the one it was in (a request is one transaction), and loses nothing: the device, which got no answer, sends its
whole outbox again and each mutation is applied exactly once."""

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
FIRST = 150
"""The first request, answered before the crash; the rest go in the request that the kill interrupts."""


def counts(database: Path) -> tuple[int, int]:
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=10) as conn:
        applied = conn.execute("SELECT count(*) FROM applied_mutations").fetchone()[0]
        notes = conn.execute("SELECT count(*) FROM notes").fetchone()[0]
    return int(applied), int(notes)


def writer_busy(database: Path) -> bool:
    """Whether a write transaction is open: the server is inside the request's transaction."""
    conn = sqlite3.connect(database, timeout=0, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError:
        return True
    finally:
        conn.close()


def kill_mid_request(env: dict[str, str], mutations: list[dict[str, Any]], database: Path) -> dict[str, str]:
    """Starts the server, has it answer the first FIRST mutations, then kills it while it applies the rest; returns
    the device's headers."""
    server = ServerProcess(env).start()
    try:
        account = {"email": "crash@example.org", "password": "correct horse battery", "device_name": "phone"}
        token = httpx.post(f"{server.base_url}/api/auth/register", json=account, timeout=30).json()["token"]
        headers = {"Authorization": f"Bearer {token}"}
        first = httpx.post(
            f"{server.base_url}/api/sync", json={"mutations": mutations[:FIRST]}, headers=headers, timeout=60
        )
        assert first.status_code == 200, first.text
        outcome: list[Any] = []

        def send() -> None:
            body = {"mutations": mutations[FIRST:]}
            try:
                outcome.append(httpx.post(f"{server.base_url}/api/sync", json=body, headers=headers, timeout=60))
            except httpx.HTTPError as exc:
                outcome.append(exc)

        sender = threading.Thread(target=send)
        sender.start()
        deadline = time.monotonic() + 60
        while not writer_busy(database) and sender.is_alive() and time.monotonic() < deadline:
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
    # All of the answered request, and all or (almost always: the kill came mid-transaction) none of the other.
    committed, stored = counts(tmp_path / "keeptabs.db")
    assert committed == stored and committed in (FIRST, MUTATIONS)

    with ServerProcess(env) as again:
        body = {"mutations": mutations, "limit": 1000}
        data = httpx.post(f"{again.base_url}/api/sync", json=body, headers=headers, timeout=60).json()
    statuses = [r["status"] for r in data["results"]]
    assert statuses == ["duplicate"] * committed + ["applied"] * (MUTATIONS - committed)
    assert sorted(n["title"] for n in data["changes"]) == sorted(f"note {i}" for i in range(MUTATIONS))
    assert {n["rev"] for n in data["changes"]} == {1}
    assert sorted(n["seq"] for n in data["changes"]) == list(range(1, MUTATIONS + 1))
