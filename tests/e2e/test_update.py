"""A new version of the app: it waits until the person chooses `Update`, and what they were typing survives it."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import sign_up
from tests.e2e.helpers import wait_for_worker
from tests.e2e.proxy import VersionProxy
from tests.server_process import ServerProcess

pytestmark = pytest.mark.e2e

REGISTRATION = "navigator.serviceWorker.getRegistration()"


@pytest.fixture
def proxy(server: ServerProcess) -> Iterator[VersionProxy]:
    with VersionProxy(server.base_url) as running:
        yield running


def test_a_new_version_waits_for_update_and_typing_survives_the_reload(
    proxy: VersionProxy, new_device: Callable[..., Page]
) -> None:
    phone = new_device("phone")
    sign_up(phone, proxy.base_url)
    wait_for_worker(phone)

    proxy.next_version = True
    phone.evaluate(f"async () => (await {REGISTRATION}).update()")

    offer = phone.get_by_text("A new version of KeepTabs is ready.")
    expect(offer).to_be_visible()
    # Until asked, the running version stays: nothing reloads under the person's fingers.
    assert phone.evaluate(f"async () => (await {REGISTRATION}).waiting !== null")
    phone.get_by_label("New note").press_sequentially("Typed just before updating")

    with phone.expect_event("load"):
        phone.get_by_role("button", name="Update").click()

    expect(phone.get_by_role("list", name="Notes")).to_contain_text("Typed just before updating")
    expect(offer).to_have_count(0)
    assert phone.evaluate(f"async () => (await {REGISTRATION}).waiting === null")
    active = [w for w in phone.context.service_workers if w.evaluate("() => self.serviceWorker?.state") == "activated"]
    assert [w.evaluate("() => self.nextVersionForTest === true") for w in active] == [True]
