"""Two devices of one person: what the phone captured offline reaches the laptop, and concurrent edits converge."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import sign_in, sign_up
from tests.e2e.helpers import wait_for_worker
from tests.server_process import ServerProcess

pytestmark = pytest.mark.e2e


def open_note(page: Page, text: str) -> None:
    page.get_by_role("list", name="Notes").get_by_role("listitem").filter(has_text=text).get_by_role("button").click()
    expect(page.get_by_label("Body")).to_be_visible()


def test_a_note_captured_offline_reaches_the_laptop_after_reconnecting(
    server: ServerProcess, new_device: Callable[..., Page]
) -> None:
    phone = new_device("phone")
    user = sign_up(phone, server.base_url)
    laptop = new_device("laptop")
    sign_in(laptop, server.base_url, user)
    wait_for_worker(phone)

    phone.context.set_offline(True)
    phone.get_by_label("New note").press_sequentially("Captured in the tunnel")
    expect(phone.get_by_role("status")).to_have_text("Offline, 1 change waiting")
    expect(laptop.get_by_role("status")).to_have_text("Synced")
    expect(laptop.get_by_role("list", name="Notes")).not_to_contain_text("Captured in the tunnel")

    phone.context.set_offline(False)

    expect(laptop.get_by_role("list", name="Notes")).to_contain_text("Captured in the tunnel")
    expect(phone.get_by_role("status")).to_have_text("Synced")


def test_an_offline_edit_and_an_online_edit_converge_in_both_editors(
    server: ServerProcess, new_device: Callable[..., Page]
) -> None:
    base = "Plan\nMeet Ana at noon.\nBring the CV."
    phone = new_device("phone")
    user = sign_up(phone, server.base_url)
    phone.get_by_label("New note").fill(base)
    phone.get_by_role("button", name="Done").click()
    laptop = new_device("laptop")
    sign_in(laptop, server.base_url, user)
    open_note(laptop, "Plan")
    open_note(phone, "Plan")
    expect(phone.get_by_role("status")).to_have_text("Synced")
    wait_for_worker(phone)

    phone.context.set_offline(True)
    phone.get_by_label("Body").fill("Plan for Friday\nMeet Ana at noon.\nBring the CV.")
    expect(phone.get_by_role("status")).to_have_text("Offline, 1 change waiting")
    laptop.get_by_label("Body").fill(base + "\nAsk about visas.")
    expect(laptop.get_by_role("status")).to_have_text("Synced")

    phone.context.set_offline(False)

    merged = "Plan for Friday\nMeet Ana at noon.\nBring the CV.\nAsk about visas."
    expect(phone.get_by_label("Body")).to_have_value(merged)
    expect(laptop.get_by_label("Body")).to_have_value(merged)
    expect(phone.get_by_role("status")).to_have_text("Synced")
