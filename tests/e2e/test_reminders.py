"""Reminders in the browser: set from the editor (offline-capable, through sync), shown by the service worker when a
push arrives, and acted on from the notification with no page involved."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import User, server_notes, sign_up
from tests.e2e.helpers import eventually, note_id, pumping, wait_for_worker
from tests.server_process import ServerProcess

pytestmark = pytest.mark.e2e

NOTIFICATIONS = """async () => {
  const registration = await navigator.serviceWorker.ready;
  const shown = await registration.getNotifications();
  return shown.map((n) => ({title: n.title, body: n.body, tag: n.tag, actions: n.actions.map((a) => a.title)}));
}"""


def set_reminder_tomorrow(page: Page, text: str) -> str:
    page.get_by_label("New note").fill(text)
    page.get_by_role("button", name="Done").click()
    note = note_id(page, text)
    page.get_by_role("list", name="Notes").get_by_role("listitem").filter(has_text=text).get_by_role("button").click()
    page.get_by_role("button", name="Remind me").click()
    page.get_by_role("button", name="Tomorrow morning").click()
    expect(page.get_by_text(re.compile(r"^Reminder \w")).filter(visible=True)).to_be_visible()
    return note


def reminder_on_server(base_url: str, user: User, note: str) -> dict[str, Any]:
    notes = server_notes(base_url, user)
    assert note in notes
    stored = notes[note]["reminder"]
    assert stored is not None
    return stored


# Chromium's getNotifications() forgets (deletes from its notification database) every notification the platform
# does not list as displayed when the read starts. A notification whose display is still in flight is not listed
# yet, so a read racing a showNotification() loses that notification for good. Reads must therefore wait until the
# worker's showNotification() has settled: this wraps it, for the next push, to expose that moment.
WATCH_NEXT_NOTIFICATION = """() => {
  const registration = self.registration;
  const show = registration.showNotification.bind(registration);
  self.shownForTest = new Promise((resolve, reject) => {
    registration.showNotification = (...args) => {
      const shown = show(...args);
      shown.then(resolve, reject);
      return shown;
    };
  });
}"""
WAIT_FOR_NOTIFICATION = """() => Promise.race([
  self.shownForTest,
  new Promise((_, reject) => setTimeout(() => reject(new Error('no showNotification() within 15 s')), 15000)),
])"""


def deliver_push(page: Page, payload: dict[str, Any]) -> None:
    """Hands a push message to the page's service worker through DevTools, as a push service would, and returns once
    the worker has shown its notification."""
    origin = page.url.split("#")[0].rstrip("/") + "/"
    worker = page.context.service_workers[0]
    worker.evaluate(WATCH_NEXT_NOTIFICATION)
    cdp = page.context.new_cdp_session(page)
    found: list[str] = []

    def on_update(event: dict[str, Any]) -> None:
        ours = [r for r in event["registrations"] if r["scopeURL"] == origin and not r["isDeleted"]]
        found.extend(r["registrationId"] for r in ours)

    cdp.on("ServiceWorker.workerRegistrationUpdated", on_update)
    cdp.send("ServiceWorker.enable")  # reports the registrations as events
    registration_id = pumping(page, lambda: _first(found))
    cdp.send(
        "ServiceWorker.deliverPushMessage",
        {"origin": origin, "registrationId": registration_id, "data": json.dumps(payload)},
    )
    worker.evaluate(WAIT_FOR_NOTIFICATION)


def test_a_reminder_is_set_in_the_editor_and_reaches_the_server(server: ServerProcess, profile_phone: Page) -> None:
    phone = profile_phone
    phone.context.grant_permissions(["notifications"], origin=server.base_url)
    user = sign_up(phone, server.base_url)

    note = set_reminder_tomorrow(phone, "Call the recruiter back")

    reminder = eventually(lambda: reminder_on_server(server.base_url, user, note))
    assert reminder["done"] is False
    assert reminder["repeat"] == "none"
    assert reminder["at"].endswith("Z")
    assert reminder["tz"] == phone.evaluate("() => Intl.DateTimeFormat().resolvedOptions().timeZone")
    phone.get_by_role("button", name="Close").click()
    item = phone.get_by_role("list", name="Notes").get_by_role("listitem").filter(has_text="Call the recruiter")
    expect(item).to_contain_text("Reminder")


def test_a_pushed_reminder_shows_its_actions_and_done_reaches_the_server(
    server: ServerProcess, profile_phone: Page
) -> None:
    phone = profile_phone
    phone.context.grant_permissions(["notifications"], origin=server.base_url)
    user = sign_up(phone, server.base_url)
    note = set_reminder_tomorrow(phone, "Send the thank-you email")
    reminder = eventually(lambda: reminder_on_server(server.base_url, user, note))
    wait_for_worker(phone)

    payload = {
        "type": "reminder",
        "note_id": note,
        "title": "",
        "body": "Send the thank-you email",
        "at": reminder["at"],
    }
    deliver_push(phone, payload)

    shown = _one(phone.evaluate(NOTIFICATIONS))
    assert shown == {
        "title": "Reminder",
        "body": "Send the thank-you email",
        "tag": note,
        "actions": ["Done", "Snooze 1 hour"],
    }

    # Headless Chromium cannot click a notification; the worker gets the same event a click on "Done" sends.
    worker = phone.context.service_workers[0]
    worker.evaluate(
        """async () => {
          const [notification] = await self.registration.getNotifications();
          self.dispatchEvent(new NotificationEvent('notificationclick', {notification, action: 'done'}));
        }"""
    )

    assert eventually(lambda: _done(reminder_on_server(server.base_url, user, note)))["done"] is True
    assert phone.evaluate(NOTIFICATIONS) == []


def test_the_note_a_reminder_opens_offers_done_and_snooze(server: ServerProcess, profile_phone: Page) -> None:
    phone = profile_phone
    phone.context.grant_permissions(["notifications"], origin=server.base_url)
    user = sign_up(phone, server.base_url)
    note = set_reminder_tomorrow(phone, "Water the plants")
    before = eventually(lambda: reminder_on_server(server.base_url, user, note))

    phone.goto(f"{server.base_url}/#note/{note}")
    phone.get_by_role("button", name="Snooze 1 hour").click()

    after = eventually(lambda: _moved(reminder_on_server(server.base_url, user, note), before))
    assert after["at"] < before["at"]  # tomorrow 9:00 became an hour from now
    phone.get_by_role("button", name="Done").click()
    assert eventually(lambda: _done(reminder_on_server(server.base_url, user, note)))["done"] is True


def _first(items: list[str]) -> str:
    assert items, "DevTools reported no service worker registration for the page"
    return items[0]


def _one(items: list[dict[str, Any]]) -> dict[str, Any]:
    assert len(items) == 1
    return items[0]


def _done(reminder: dict[str, Any]) -> dict[str, Any]:
    assert reminder["done"] is True
    return reminder


def _moved(reminder: dict[str, Any], before: dict[str, Any]) -> dict[str, Any]:
    assert reminder["at"] != before["at"]
    return reminder
