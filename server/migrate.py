"""Apply migrations (`keeptabs migrate`, and `serve` before listening); regenerate the initial one in development."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from alembic import command
from alembic.config import Config

from server.config import Settings, load_settings

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(settings: Settings) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["settings"] = settings
    return config


def upgrade(settings: Settings) -> None:
    """Bring the database to the newest schema. Runs its own event loop: call it from a thread inside async code."""
    command.upgrade(alembic_config(settings), "head")


def regenerate_initial() -> None:
    """Rewrite the single initial migration from the models (only while no schema has been released)."""
    for old in (MIGRATIONS / "versions").glob("*.py"):
        old.unlink()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=tmp)
        command.revision(alembic_config(settings), message="initial schema", autogenerate=True, rev_id="0001")


if __name__ == "__main__":
    if sys.argv[1:] == ["regenerate"]:
        regenerate_initial()
    else:
        upgrade(load_settings())
