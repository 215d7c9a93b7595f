"""`keeptabs` as run from a shell: a bad setting or key is a message naming it, not a traceback."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.server_process import KEEPTABS


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(KEEPTABS), *args], env={"PATH": "/usr/bin:/bin", **env}, capture_output=True, text=True)


def test_vapid_prints_the_same_key_every_time(tmp_path: Path) -> None:
    first = run({"KEEPTABS_DATA_DIR": str(tmp_path)}, "vapid")
    second = run({"KEEPTABS_DATA_DIR": str(tmp_path)}, "vapid")
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout and len(first.stdout.strip()) == 87  # 65-byte P-256 point, base64url
    assert (tmp_path / "vapid_private.pem").stat().st_mode & 0o777 == 0o600


def test_a_bad_vapid_key_is_a_message(tmp_path: Path) -> None:
    result = run({"KEEPTABS_DATA_DIR": str(tmp_path), "KEEPTABS_VAPID_PRIVATE_KEY": "not a key"}, "vapid")
    assert result.returncode == 2
    assert result.stderr.startswith("keeptabs: ") and "Traceback" not in result.stderr


def test_a_bad_setting_names_its_variable(tmp_path: Path) -> None:
    result = run({"KEEPTABS_DATA_DIR": str(tmp_path), "KEEPTABS_PUSH_TTL": "5"}, "migrate")
    assert result.returncode == 2
    assert "KEEPTABS_PUSH_TTL" in result.stderr and "Traceback" not in result.stderr
