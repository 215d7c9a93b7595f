"""The PWA's pure modules, tested by Node's own runner (tests/unit/pwa/*.test.mjs), so `make test` runs them too."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent / "pwa"


@pytest.mark.parametrize("path", sorted(TESTS.glob("*.test.mjs")), ids=lambda p: p.name)
def test_node(path: Path) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.fail("Node.js (20 or later) is needed for the PWA's unit tests: apt-get install -y nodejs")
    result = subprocess.run([node, "--test", str(path)], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
