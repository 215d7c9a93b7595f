"""sync/ stays pure: no web framework, database, network or clock (a merge that read the time could not be replayed)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SYNC = Path(__file__).resolve().parents[3] / "sync"
FORBIDDEN_MODULES = {
    "litestar",
    "sqlalchemy",
    "asyncpg",
    "aiosqlite",
    "httpx",
    "socket",
    "urllib",
    "time",
    "asyncio",
    "os",
    "server",
    "random",
    "uuid",
}
FORBIDDEN_CALLS = {"now", "utcnow", "today"}


@pytest.mark.parametrize("path", sorted(SYNC.glob("*.py")), ids=lambda p: p.name)
def test_module_is_pure(path: Path) -> None:
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        else:
            if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load):
                assert node.attr not in FORBIDDEN_CALLS, f"{path.name}:{node.lineno} reads the clock"
            continue
        for name in names:
            assert name.split(".")[0] not in FORBIDDEN_MODULES, f"{path.name}:{node.lineno} imports {name}"
