"""A change the server refuses is flagged (`Not synced` with the reason, `Copy text`, `Discard change`) and kept on
the device, while everything else keeps syncing to the laptop; sign-out warns about it."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Browser, Dialog, Page, expect

from tests.e2e.conftest import LAPTOP, ConsoleWatch, server_notes, sign_in, sign_up
from tests.e2e.helpers import eventually, note_id, pumping
from tests.server_process import ServerProcess

pytestmark = pytest.mark.e2e

TOO_LONG = "Pasted transcript " + "blah " * 20_010  # over the server's 100,000 characters
REASON = "Not synced: The body is 100,068 characters long; the most is 100,000."


def capture(page: Page, text: str) -> None:
    page.get_by_label("New note").fill(text)
    page.get_by_role("button", name="Done").click()


def open_note(page: Page, text: str) -> None:
    page.get_by_role("list", name="Notes").get_by_role("listitem").filter(has_text=text).get_by_role("button").click()
    expect(page.get_by_label("Body")).to_be_visible()


def test_a_refused_note_is_flagged_kept_and_does_not_hold_the_others_back(
    server: ServerProcess, new_device: Callable[..., Page]
) -> None:
    phone = new_device("phone")
    user = sign_up(phone, server.base_url)
    phone.context.grant_permissions(["clipboard-read", "clipboard-write"])
    laptop = new_device("laptop")
    sign_in(laptop, server.base_url, user)

    capture(phone, TOO_LONG)
    refused = phone.get_by_role("list", name="Notes").get_by_role("listitem").filter(has_text="Pasted transcript")
    expect(refused).to_contain_text("Not synced")
    expect(phone.get_by_role("status")).to_have_text("1 note not synced")
    capture(phone, "Typed after the refusal")

    laptop_notes = laptop.get_by_role("list", name="Notes")
    expect(laptop_notes).to_contain_text("Typed after the refusal")
    expect(laptop_notes).not_to_contain_text("Pasted transcript")

    open_note(phone, "Pasted transcript")
    expect(phone.get_by_text(REASON)).to_be_visible()
    expect(phone.get_by_label("Body")).to_have_value(TOO_LONG)  # the device keeps its text
    phone.get_by_role("button", name="Copy text").click()
    assert phone.evaluate("navigator.clipboard.readText()") == TOO_LONG

    # Sign-out warns, says how many, and stays when the person says no.
    messages: list[str] = []

    def dismiss(dialog: Dialog) -> None:
        messages.append(dialog.message)
        dialog.dismiss()

    phone.once("dialog", dismiss)
    phone.get_by_role("button", name="Sign out").click()
    pumping(phone, lambda: assert_one(messages))
    assert "1 note not synced" in messages[0]
    expect(phone.get_by_label("Body")).to_be_visible()

    # Made short enough, it is sent again, taken, and the mark goes.
    phone.get_by_label("Body").fill("Pasted transcript, the part that matters")
    expect(phone.get_by_text(REASON)).to_be_hidden()
    expect(laptop_notes).to_contain_text("the part that matters")
    expect(phone.get_by_role("status")).to_have_text("Synced")
    phone.get_by_role("button", name="Close").click()
    expect(refused).to_contain_text("the part that matters")
    expect(refused).not_to_contain_text("Not synced")


def assert_one(messages: list[str]) -> None:
    assert len(messages) == 1


def test_discard_change_drops_a_refused_new_note(server: ServerProcess, new_device: Callable[..., Page]) -> None:
    phone = new_device("phone")
    user = sign_up(phone, server.base_url)
    capture(phone, TOO_LONG)
    expect(phone.get_by_role("status")).to_have_text("1 note not synced")

    open_note(phone, "Pasted transcript")
    phone.get_by_role("button", name="Discard change").click()

    expect(phone.get_by_label("Body")).to_be_hidden()
    expect(phone.get_by_role("list", name="Notes").get_by_role("listitem")).to_have_count(0)
    expect(phone.get_by_role("status")).to_have_text("Synced")
    phone.reload()
    expect(phone.get_by_role("list", name="Notes").get_by_role("listitem")).to_have_count(0)
    assert server_notes(server.base_url, user) == {}


def test_a_request_refused_whole_is_split_and_only_its_culprit_refused(
    server: ServerProcess, browser: Browser, new_device: Callable[..., Page], console: ConsoleWatch
) -> None:
    """A reminder at 00:00 on 1 January of the year 1, set where clocks are 14 hours ahead, is in the year 0 in UTC:
    the server cannot decode that request at all (422 for all of it). The app finds the one edit it cannot take,
    flags it, sends the others, and `Discard change` puts back the server's version."""
    context = browser.new_context(timezone_id="Etc/GMT-14", **LAPTOP)
    try:
        context.on("page", console.watch)
        phone = console.watch(context.new_page())
        user = sign_up(phone, server.base_url)
        capture(phone, "Call the embassy")
        eventually(lambda: assert_has(server_notes(server.base_url, user), "Call the embassy"))
        laptop = new_device("laptop")
        sign_in(laptop, server.base_url, user)

        phone.context.set_offline(True)  # both edits leave in one request
        open_note(phone, "Call the embassy")
        phone.get_by_role("button", name="Remind me").click()
        phone.get_by_label("Remind at").fill("0001-01-01T00:00")
        phone.get_by_role("button", name="Set reminder").click()
        phone.get_by_role("button", name="Close").click()
        capture(phone, "Sent all the same")
        phone.context.set_offline(False)

        expect(laptop.get_by_role("list", name="Notes")).to_contain_text("Sent all the same")
        open_note(phone, "Call the embassy")
        expect(phone.get_by_text("Not synced:")).to_contain_text("reminder.at")
        embassy = note_id(phone, "Call the embassy")
        assert server_notes(server.base_url, user)[embassy]["reminder"] is None

        # Another field of the note syncs on its own; the refused reminder stays parked on the phone.
        phone.get_by_role("button", name="Pin").click()
        laptop_item = laptop.get_by_role("list", name="Notes").get_by_role("listitem").filter(has_text="embassy")
        expect(laptop_item).to_contain_text("Pinned")
        expect(phone.get_by_text("Not synced:")).to_be_visible()

        phone.get_by_role("button", name="Discard change").click()
        expect(phone.get_by_text("Not synced:")).to_be_hidden()
        expect(phone.locator("#reminder-banner")).to_be_hidden()
        expect(phone.get_by_role("button", name="Unpin")).to_be_visible()
        expect(phone.get_by_role("status")).to_have_text("Synced")
        assert server_notes(server.base_url, user)[embassy]["pinned"] is True
    finally:
        context.close()
    # The browser logs each refused request; those are the point of this test. Anything else still fails it.
    console.errors[:] = [e for e in console.errors if not e.startswith(REFUSED_LOG)]


REFUSED_LOG = "Failed to load resource: the server responded with a status of 422"


def assert_has(notes: dict[str, dict[str, object]], body: str) -> None:
    assert [n["body"] for n in notes.values()] == [body]
