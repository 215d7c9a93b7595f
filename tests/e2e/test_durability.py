"""What the app shows as kept is kept: a note typed and ended with Done survives a reload (or a closed page) at once,
30 times in a row, offline, so it can only come back from this device's own storage."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import ConsoleWatch, sign_up
from tests.e2e.helpers import wait_for_worker
from tests.server_process import ServerProcess

pytestmark = pytest.mark.e2e

REPEATS = 30
# The page knows it is offline, and no sync is running (any that was on its way has failed and let go of its lock).
SETTLED_OFFLINE = """async () => !navigator.onLine
    && !(await navigator.locks.query()).held.some((lock) => lock.name === 'keeptabs-sync')"""


@pytest.fixture(autouse=True)
def _offline_sync_attempts(console: ConsoleWatch) -> Iterator[None]:
    """These tests go offline right after signing up. A sync under way at that moment fails, and so may the service
    worker's Background Sync, which Chromium fires by the machine's network rather than the emulated one; the browser
    logs those requests as errors. They are the network's doing: any other console error still fails the test."""
    yield
    console.errors[:] = [e for e in console.errors if not ("ERR_INTERNET_DISCONNECTED" in e and "/api/sync" in e)]


def ready_offline(page: Page, base_url: str) -> None:
    sign_up(page, base_url)
    wait_for_worker(page)
    page.context.set_offline(True)
    page.wait_for_function(SETTLED_OFFLINE)


def type_and_finish(page: Page, text: str) -> None:
    box = page.get_by_label("New note")
    expect(box).to_be_focused()
    box.fill(text)
    page.get_by_role("button", name="Done").click()


def expect_all_kept(page: Page, texts: list[str]) -> None:
    items = page.get_by_role("list", name="Notes").get_by_role("listitem")
    expect(items).to_have_count(len(texts))
    shown = set(items.all_inner_texts())
    assert [t for t in texts if not any(t in s for s in shown)] == []


def test_type_done_and_reload_at_once_loses_nothing(server: ServerProcess, new_device: Callable[..., Page]) -> None:
    phone = new_device("phone")
    ready_offline(phone, server.base_url)
    texts = [f"Reloaded note {i:02}" for i in range(REPEATS)]

    for text in texts:
        type_and_finish(phone, text)
        phone.reload()

    expect_all_kept(phone, texts)
    phone.reload()  # and they stay once the journal has been replayed and cleared
    expect_all_kept(phone, texts)
    assert phone.evaluate("Object.keys(localStorage).filter((k) => k.startsWith('keeptabs.journal.'))") == []


def test_type_done_and_close_the_page_at_once_loses_nothing(
    server: ServerProcess, new_device: Callable[..., Page]
) -> None:
    page = new_device("phone")
    ready_offline(page, server.base_url)
    texts = [f"Closed note {i:02}" for i in range(REPEATS)]

    for text in texts:
        type_and_finish(page, text)
        context = page.context
        page.close()
        page = context.new_page()
        page.goto(server.base_url)

    expect_all_kept(page, texts)


def test_typing_cut_off_before_its_pause_is_kept(server: ServerProcess, new_device: Callable[..., Page]) -> None:
    """No Done and no pause at all: the page goes while the words are still arriving."""
    phone = new_device("phone")
    ready_offline(phone, server.base_url)
    phone.get_by_label("New note").press_sequentially("Gate B12")

    phone.reload()

    expect_all_kept(phone, ["Gate B12"])
    expect(phone.get_by_role("status")).to_have_text("Offline, 1 change waiting")


def test_editor_typing_reloaded_at_once_is_kept(server: ServerProcess, new_device: Callable[..., Page]) -> None:
    phone = new_device("phone")
    ready_offline(phone, server.base_url)
    type_and_finish(phone, "Packing list")
    phone.get_by_role("list", name="Notes").get_by_role("listitem").get_by_role("button").click()
    phone.get_by_label("Title").fill("Trip")
    phone.get_by_label("Body").press("End")
    phone.get_by_label("Body").press_sequentially(": passport")

    phone.reload()  # the address still names the note: the editor opens again

    expect(phone.get_by_label("Title")).to_have_value("Trip")
    expect(phone.get_by_label("Body")).to_have_value("Packing list: passport")
    phone.get_by_role("button", name="Close").click()
    item = phone.get_by_role("list", name="Notes").get_by_role("listitem")
    expect(item).to_contain_text("Trip")
    expect(item).to_contain_text("Packing list: passport")
