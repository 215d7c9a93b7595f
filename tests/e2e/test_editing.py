"""Editing on a laptop, from the keyboard: pin to the top, delete to the trash with undo, restore from the trash."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import server_notes, sign_up
from tests.e2e.helpers import eventually, note_id
from tests.server_process import ServerProcess

pytestmark = pytest.mark.e2e


def test_pin_delete_undo_and_restore(server: ServerProcess, new_device: Callable[..., Page]) -> None:
    laptop = new_device("laptop")
    user = sign_up(laptop, server.base_url)
    for text in ("Older note about visas", "Newest note"):
        laptop.keyboard.type(text)
        laptop.keyboard.press("Control+Enter")  # ends the note; focus stays for the next one
    items = laptop.get_by_role("list", name="Notes").get_by_role("listitem")
    expect(items).to_have_count(2)
    expect(items.first).to_contain_text("Newest note")
    older = note_id(laptop, "Older note")

    items.filter(has_text="Older note").get_by_role("button").click()
    laptop.get_by_label("Title").fill("Visas")
    laptop.get_by_role("button", name="Pin").click()
    expect(laptop.get_by_role("button", name="Unpin")).to_be_visible()
    expect(items.first).to_contain_text("Visas")

    laptop.get_by_role("button", name="Delete").click()
    expect(items).to_have_count(1)
    laptop.get_by_role("button", name="Undo").click()
    expect(items).to_have_count(2)

    items.filter(has_text="Visas").get_by_role("button").click()
    laptop.get_by_role("button", name="Delete").click()
    expect(items).to_have_count(1)
    laptop.get_by_role("button", name="Trash").click()
    expect(laptop.get_by_role("list", name="Trash")).to_contain_text("Visas")
    laptop.get_by_role("button", name="Restore").click()
    expect(laptop.get_by_role("list", name="Trash").get_by_role("listitem")).to_have_count(0)

    def restored() -> None:
        note = server_notes(server.base_url, user).get(older)
        assert note is not None
        assert (note["title"], note["pinned"], note["deleted"]) == ("Visas", True, False)

    eventually(restored)
