"""Capture on the phone: the box is ready at once, typing is kept at each pause, and the app works offline."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, expect

from tests.e2e.conftest import server_notes, sign_up
from tests.e2e.helpers import eventually, wait_for_worker
from tests.server_process import ServerProcess

pytestmark = pytest.mark.e2e


def capture(page: Page, text: str) -> None:
    box = page.get_by_label("New note")
    box.click()
    box.press_sequentially(text)
    expect(page.get_by_role("list", name="Notes")).to_contain_text(text.split("\n")[0])
    page.get_by_role("button", name="Done").click()
    expect(box).to_have_value("")


def test_sign_up_focuses_new_note_and_the_note_reaches_the_server(
    server: ServerProcess, new_device: Callable[..., Page]
) -> None:
    phone = new_device("phone")
    user = sign_up(phone, server.base_url)

    phone.keyboard.type("Ask Dana about the internship")

    items = phone.get_by_role("list", name="Notes").get_by_role("listitem")
    expect(items).to_have_count(1)
    expect(items.first).to_contain_text("Ask Dana about the internship")

    def stored() -> None:
        assert [n["body"] for n in server_notes(server.base_url, user).values()] == ["Ask Dana about the internship"]

    eventually(stored)
    expect(phone.get_by_role("status")).to_have_text("Synced")


def test_offline_reload_keeps_the_notes_and_search_and_capture_work(
    server: ServerProcess, new_device: Callable[..., Page]
) -> None:
    phone = new_device("phone")
    sign_up(phone, server.base_url)
    capture(phone, "Career fair: booth 14, robotics startup")
    capture(phone, "Buy the train ticket home")
    wait_for_worker(phone)
    expect(phone.get_by_role("status")).to_have_text("Synced")

    phone.context.set_offline(True)
    response = phone.reload()

    assert response is not None and response.from_service_worker
    expect(phone.get_by_label("New note")).to_be_focused()
    notes = phone.get_by_role("list", name="Notes")
    expect(notes.get_by_role("listitem")).to_have_count(2)
    expect(notes.get_by_role("listitem").first).to_contain_text("Buy the train ticket home")
    expect(phone.get_by_role("status")).to_contain_text("Offline")

    phone.get_by_role("searchbox", name="Search notes").fill("ROBOTICS")
    expect(notes.get_by_role("listitem")).to_have_count(1)
    expect(notes).to_contain_text("booth 14")
    phone.get_by_role("searchbox", name="Search notes").fill("")

    capture(phone, "Written with no signal")
    expect(notes.get_by_role("listitem")).to_have_count(3)
    expect(phone.get_by_role("status")).to_have_text("Offline, 1 change waiting")


def test_a_tab_killed_right_after_a_typing_pause_keeps_what_was_typed(
    server: ServerProcess, new_device: Callable[..., Page]
) -> None:
    phone = new_device("phone")
    sign_up(phone, server.base_url)
    wait_for_worker(phone)
    # Offline, the note can only come back from this device's own storage.
    phone.context.set_offline(True)

    phone.get_by_label("New note").press_sequentially("Umbrella in the blue bag")
    # The pause the app promises to honour: 300 ms without a key. Then the renderer is killed: chrome://crash is
    # handled inside the current renderer, which dies on the spot, so no pagehide or unload code gets to save.
    phone.wait_for_timeout(300)
    with phone.expect_event("crash"), pytest.raises(PlaywrightError):
        phone.goto("chrome://crash")

    reopened = phone.context.new_page()
    reopened.goto(server.base_url)
    expect(reopened.get_by_role("list", name="Notes")).to_contain_text("Umbrella in the blue bag")
    expect(reopened.get_by_label("New note")).to_be_focused()


def test_the_capture_box_is_on_screen_and_focused_before_any_script_runs(
    server: ServerProcess, new_device: Callable[..., Page]
) -> None:
    phone = new_device("phone")
    sign_up(phone, server.base_url)
    wait_for_worker(phone)
    # The page's scripts stay off; the service worker, another context, still serves the shell.
    phone.context.new_cdp_session(phone).send("Emulation.setScriptExecutionDisabled", {"value": True})

    phone.reload()

    assert phone.evaluate("() => performance.getEntriesByName('capture-ready').length") == 0
    expect(phone.get_by_label("New note")).to_be_visible()
    expect(phone.get_by_label("New note")).to_be_focused()
    expect(phone.get_by_label("Email")).to_be_hidden()
