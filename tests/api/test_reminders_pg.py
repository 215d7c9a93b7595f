"""Two real `keeptabs serve` processes on one PostgreSQL database: every reminder still goes out exactly once."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.config import Settings
from tests.pushsink import PushSink
from tests.server_process import ServerProcess

NOTES = 40
SUBSCRIPTIONS = 2


@pytest.fixture
def db_url(pg_database_url: str) -> str:
    return pg_database_url


@pytest.fixture
def servers(settings: Settings, tmp_path: Path) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    # One data directory, so both processes sign with the same VAPID keys, as a real deployment must.
    env = {
        "KEEPTABS_DATABASE_URL": settings.resolved_database_url,
        "KEEPTABS_DATA_DIR": str(tmp_path / "data"),
        "KEEPTABS_PUSH_ALLOW_LOOPBACK": "1",
    }
    with ServerProcess(env) as first, ServerProcess(env) as second:
        yield first, second


def sync(http: httpx.Client, headers: dict[str, str], note_ids: list[str], at: datetime) -> None:
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    reminder = {"at": at.isoformat().replace("+00:00", "Z"), "repeat": "none", "tz": "UTC", "done": False}
    mutations = [
        {
            "id": str(uuid.uuid4()),
            "note_id": n,
            "base_rev": 0,
            "edited_at": now,
            "set": {"title": n, "reminder": reminder},
        }
        for n in note_ids
    ]
    response = http.post("/api/sync", json={"mutations": mutations}, headers=headers)
    assert response.status_code == 200, response.text


def deliveries(http: httpx.Client, headers: dict[str, str], count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 20
    while True:
        found = http.get("/api/push/deliveries", params={"limit": 500}, headers=headers).json()
        if len(found) >= count or time.monotonic() > deadline:
            return list(found)
        time.sleep(0.05)


def test_two_processes_send_each_reminder_once(servers: tuple[ServerProcess, ServerProcess]) -> None:
    first, second = servers
    with (
        PushSink() as sink,
        httpx.Client(base_url=first.base_url, timeout=10) as one,
        httpx.Client(base_url=second.base_url, timeout=10) as two,
    ):
        sink.vapid_public_key = one.get("/api/push/key").json()["public_key"]
        assert two.get("/api/push/key").json()["public_key"] == sink.vapid_public_key
        body = {"email": "twice@example.org", "password": "long enough", "device_name": "a"}
        headers = {"Authorization": f"Bearer {one.post('/api/auth/register', json=body).json()['token']}"}
        for n in range(SUBSCRIPTIONS):  # one per device: a login per further subscription
            login = one.post("/api/auth/login", json={**body, "device_name": f"d{n}"}).json()
            device = {"Authorization": f"Bearer {login['token']}"}
            assert one.post("/api/push/subscriptions", json=sink.subscription(), headers=device).status_code == 201
        note_ids = [str(uuid.uuid4()) for _ in range(NOTES)]
        at = datetime.now(UTC) + timedelta(seconds=2)
        # Half through each process: both schedulers are woken and both wake up for the same moment.
        sync(one, headers, note_ids[: NOTES // 2], at)
        sync(two, headers, note_ids[NOTES // 2 :], at)

        messages = sink.wait_for(NOTES * SUBSCRIPTIONS, timeout=15)
        records = deliveries(one, headers, NOTES * SUBSCRIPTIONS)
        assert len(records) == NOTES * SUBSCRIPTIONS
        assert len(sink.messages()) == NOTES * SUBSCRIPTIONS
    assert all(m.errors == [] for m in messages)
    sent = Counter((m.payload["note_id"], m.subscription_id) for m in messages)
    assert set(sent.values()) == {1}
    assert {note for note, _ in sent} == set(note_ids)
    assert max(m.at for m in messages) - at.timestamp() <= 2.0
    assert {r["status"] for r in records} == {"delivered"}
