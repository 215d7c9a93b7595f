"""A share on a device whose app has no service worker yet (its first visit): the server's page hands the text to
the app as a note, through the same edit path as typing, and it reaches the server once the person signs up."""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest
from PIL import Image
from playwright.sync_api import Page, expect

from tests.e2e.conftest import server_notes, sign_up
from tests.e2e.helpers import eventually
from tests.server_process import ServerProcess

pytestmark = pytest.mark.e2e

URL = "https://www.linkedin.com/in/priya-shah"
BUILD_FORM = """([title, text, url]) => {
  const form = document.createElement('form');
  form.method = 'post'; form.enctype = 'multipart/form-data'; form.action = '/share';
  for (const [name, value] of [['title', title], ['text', text], ['url', url]]) {
    const input = document.createElement('input');
    input.name = name; input.value = value; form.append(input);
  }
  const file = document.createElement('input');
  file.type = 'file'; file.name = 'images'; file.id = 'images'; form.append(file);
  document.body.append(form);
}"""


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (120, 90), "teal").save(out, "JPEG")
    return out.getvalue()


def test_a_share_before_the_service_worker_becomes_a_note(
    server: ServerProcess, new_device: Callable[..., Page]
) -> None:
    phone = new_device("phone")
    phone.route("**/favicon.ico", lambda route: route.fulfill(status=204))  # asked for by the JSON page below
    phone.goto(f"{server.base_url}/healthz")  # any page of the origin, with no app and no service worker
    phone.evaluate(BUILD_FORM, ["Priya Shah", "Met at the Stripe booth", URL])
    phone.set_input_files("#images", files=[{"name": "card.jpg", "mimeType": "image/jpeg", "buffer": jpeg()}])
    with phone.expect_navigation(url="**/#note/*", timeout=15_000):
        phone.evaluate("() => document.querySelector('form').submit()")

    note_id = phone.url.rsplit("/", 1)[1]
    pending = phone.evaluate(
        """() => new Promise((resolve, reject) => {
             const open = indexedDB.open('keeptabs');
             open.onsuccess = () => {
               const request = open.result.transaction('meta').objectStore('meta').get('pending-shares');
               request.onsuccess = () => resolve(request.result); request.onerror = () => reject(request.error);
             };
           })"""
    )
    [(share_id, entry)] = pending.items()
    assert entry["note_id"] == note_id and entry["images"] == 1 and len(share_id) == 43

    user = sign_up(phone, server.base_url)
    expect(phone.get_by_role("list", name="Notes")).to_contain_text("Met at the Stripe booth")

    def synced() -> None:
        note = server_notes(server.base_url, user)[note_id]
        assert (note["title"], note["body"]) == ("Priya Shah", f"Met at the Stripe booth\n{URL}")

    eventually(synced)
