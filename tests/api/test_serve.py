"""`keeptabs serve` as a user runs it: a real process, real HTTP, migrations applied on start."""

from __future__ import annotations

from pathlib import Path

import httpx

from server.config import Settings
from tests.server_process import ServerProcess


def test_serve_migrates_and_serves_shell_and_api(settings: Settings, tmp_path: Path) -> None:
    env = {"KEEPTABS_DATABASE_URL": settings.resolved_database_url, "KEEPTABS_DATA_DIR": str(tmp_path)}
    with ServerProcess(env) as server, httpx.Client(base_url=server.base_url, timeout=10) as http:
        assert http.get("/healthz").json() == {"status": "ok"}
        assert "<html" in http.get("/").text
        body = {"email": "proc@example.org", "password": "long enough", "device_name": "cli"}
        registered = http.post("/api/auth/register", json=body)
        assert registered.status_code == 201
        token = registered.json()["token"]
        devices = http.get("/api/devices", headers={"Authorization": f"Bearer {token}"})
        assert [d["name"] for d in devices.json()] == ["cli"]


def test_serve_defaults_to_a_sqlite_file_in_the_data_dir(tmp_path: Path) -> None:
    env = {"KEEPTABS_DATA_DIR": str(tmp_path / "var"), "KEEPTABS_DATABASE_URL": ""}
    with ServerProcess(env) as server:
        assert httpx.get(f"{server.base_url}/healthz", timeout=10).status_code == 200
    assert (tmp_path / "var" / "keeptabs.db").is_file()
