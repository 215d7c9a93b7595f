"""Repeating reminders first set centuries ago do not stall a real `keeptabs serve`: /healthz answers promptly while
they are due, sent, and moved on to their next occurrence (computing it once cost about a second each)."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx

from server.config import Settings
from tests.pushsink import PushSink
from tests.server_process import ServerProcess

SERIES = [
    ("daily", "Europe/Paris"),
    ("daily", "America/New_York"),
    ("weekly", "Australia/Lord_Howe"),
    ("monthly", "America/Santiago"),
    ("daily", "UTC"),
    ("daily", "Asia/Kolkata"),
]
PROMPT = 1.0
"""Seconds: only catches a stall (a single far-past reminder used to hold the event loop about a second)."""


def test_far_past_repeating_reminders_do_not_stall_the_server(settings: Settings, tmp_path: Path) -> None:
    env = {
        "KEEPTABS_DATABASE_URL": settings.resolved_database_url,
        "KEEPTABS_DATA_DIR": str(tmp_path / "data"),
        "KEEPTABS_PUSH_ALLOW_LOOPBACK": "1",
    }
    with ServerProcess(env) as server, PushSink() as sink, httpx.Client(base_url=server.base_url, timeout=30) as http:
        sink.vapid_public_key = http.get("/api/push/key").json()["public_key"]
        body = {"email": "ancient@example.org", "password": "long enough pass", "device_name": "a"}
        headers = {"Authorization": f"Bearer {http.post('/api/auth/register', json=body).json()['token']}"}
        assert http.post("/api/push/subscriptions", json=sink.subscription(), headers=headers).status_code == 201
        now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        mutations = [
            {
                "id": str(uuid.uuid4()),
                "note_id": str(uuid.uuid4()),
                "base_rev": 0,
                "edited_at": now,
                "set": {
                    "title": f"{repeat} {tz}",
                    "reminder": {"at": "0001-01-03T09:00:00Z", "repeat": repeat, "tz": tz},
                },
            }
            for repeat, tz in SERIES
        ]
        synced = http.post("/api/sync", json={"mutations": mutations}, headers=headers)
        assert synced.status_code == 200, synced.text
        cursor = synced.json()["cursor"]

        slowest, moved = 0.0, {}
        deadline = time.monotonic() + 60
        while len(moved) < len(SERIES) and time.monotonic() < deadline:
            started = time.perf_counter()
            assert http.get("/healthz").status_code == 200
            slowest = max(slowest, time.perf_counter() - started)
            feed = http.post("/api/sync", json={"cursor": cursor}, headers=headers).json()
            moved.update({n["id"]: n["reminder"]["at"] for n in feed["changes"]})
        assert len(moved) == len(SERIES), f"moved {len(moved)} of {len(SERIES)}: {server.log()[-2000:]}"
        assert slowest < PROMPT, f"/healthz took {slowest:.2f} s while far-past reminders were due"
        for at in moved.values():
            assert datetime.fromisoformat(at.replace("Z", "+00:00")) > datetime.now(UTC)
        assert len(sink.wait_for(len(SERIES), timeout=10)) == len(SERIES)
