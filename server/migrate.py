"""Apply migrations (`keeptabs migrate`, and `serve` before listening); write the next one in development.

The schema has users: every change is a new, incremental revision (0002, 0003, ...) on top of the last one, never a
rewrite of an earlier one. `make migration NAME="what changed"` autogenerates the next revision from the models
against a scratch database at the current head; read and adjust it before committing, and add a filler for any new
table to tests/migrations/fill.py so the upgrade test of the revision after it covers that table's rows.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from server.config import Settings, load_settings

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(settings: Settings) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["settings"] = settings
    return config


def upgrade(settings: Settings, revision: str = "head") -> None:
    """Bring the database to `revision` (the newest by default). Runs its own event loop: call it from a thread
    inside async code."""
    command.upgrade(alembic_config(settings), revision)


def revisions() -> list[str]:
    """Every revision id, oldest first."""
    script = ScriptDirectory.from_config(alembic_config(Settings()))
    return [r.revision for r in reversed(list(script.walk_revisions()))]


def new_revision(message: str) -> None:
    """Autogenerate the next incremental revision from the difference between the models and the current head."""
    number = int(revisions()[-1]) + 1
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=tmp)
        upgrade(settings)
        command.revision(alembic_config(settings), message=message, autogenerate=True, rev_id=f"{number:04d}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["revision"] and len(sys.argv) == 3 and sys.argv[2].strip():
        new_revision(sys.argv[2])
    elif sys.argv[1:]:
        sys.exit('usage: python -m server.migrate [revision "what changed"]')
    else:
        upgrade(load_settings())
