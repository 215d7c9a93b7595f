"""The server's database is restored from a backup: a device gives back what the server lost."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import User, server_notes, sign_up
from tests.e2e.helpers import eventually
from tests.e2e.test_sync import open_note
from tests.server_process import ServerProcess

pytestmark = pytest.mark.e2e


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A server of this test's own: it is stopped and its database replaced, which the shared one must not see."""
    env = {"KEEPTABS_DATA_DIR": str(tmp_path / "data"), "KEEPTABS_DATABASE_URL": ""}
    with ServerProcess(env) as process:
        yield process


def backup(database: Path, to: Path) -> None:
    """SQLite's online backup, as an operator's nightly job would take it while the server runs."""
    with sqlite3.connect(database) as source, sqlite3.connect(to) as target:
        source.backup(target)
    source.close()
    target.close()


def restore(server: ServerProcess, database: Path, copy: Path) -> None:
    server.stop()
    for leftover in database.parent.glob(database.name + "-*"):  # the write-ahead log of the lost writes
        leftover.unlink()
    shutil.copyfile(copy, database)
    server.start()


def capture(page: Page, text: str) -> None:
    page.get_by_label("New note").fill(text)
    page.get_by_role("button", name="Done").click()
    expect(page.get_by_role("list", name="Notes")).to_contain_text(text)


def bodies(base_url: str, user: User) -> list[str]:
    return sorted(note["body"] for note in server_notes(base_url, user).values())


def test_after_a_restore_the_phone_sends_again_the_notes_and_edits_the_server_lost(
    own_server: ServerProcess, new_device: Callable[..., Page], tmp_path: Path
) -> None:
    database = Path(own_server.env["KEEPTABS_DATA_DIR"]) / "keeptabs.db"
    phone = new_device("phone")
    user = sign_up(phone, own_server.base_url)
    capture(phone, "Kept in the backup")
    capture(phone, "Edited after the backup")
    synced = phone.get_by_role("status")
    expect(synced).to_have_text("Synced")
    backup(database, tmp_path / "backup.db")

    capture(phone, "Written after the backup")
    open_note(phone, "Edited after the backup")
    phone.get_by_label("Body").fill("Edited after the backup, then finished")
    phone.get_by_role("button", name="Close").click()
    after_backup = ["Edited after the backup, then finished", "Kept in the backup", "Written after the backup"]
    eventually(lambda: _equal(bodies(own_server.base_url, user), after_backup))

    # One more note waits in the outbox, unsent. The app is closed while the server is down (its requests would fail
    # loudly), then opened again.
    phone.context.set_offline(True)
    capture(phone, "Written offline")
    expect(synced).to_have_text("Offline, 1 change waiting")
    phone.goto("about:blank")
    restore(own_server, database, tmp_path / "backup.db")
    assert bodies(own_server.base_url, user) == ["Edited after the backup", "Kept in the backup"]
    phone.context.set_offline(False)
    phone.goto(own_server.base_url)
    after_backup.append("Written offline")

    eventually(lambda: _equal(bodies(own_server.base_url, user), after_backup))
    expect(synced).to_have_text("Synced")
    items = phone.get_by_role("list", name="Notes").get_by_role("listitem")
    expect(items).to_have_count(4)
    expect(items.filter(has_text="then finished")).to_have_count(1)


def _equal(actual: list[str], expected: list[str]) -> None:
    assert actual == expected
