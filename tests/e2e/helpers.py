"""Small waits and reads shared by the browser tests."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from playwright.sync_api import Page

T = TypeVar("T")


def _retry(check: Callable[[], T], timeout: float, pause: Callable[[], object]) -> T:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            pause()


def eventually(check: Callable[[], T], timeout: float = 15) -> T:
    """Retries `check` until it stops raising AssertionError: for state the server reaches asynchronously."""
    return _retry(check, timeout, lambda: time.sleep(0.1))


def pumping(page: Page, check: Callable[[], T], timeout: float = 15) -> T:
    """Like eventually(), for state that Playwright events bring in (CDP events, console messages): the sync API
    dispatches events only while it waits on the browser, so the pause between tries is a wait on the page."""
    return _retry(check, timeout, lambda: page.wait_for_timeout(50))


def wait_for_worker(page: Page) -> None:
    """Waits until the service worker controls the page, i.e. the shell is precached."""
    page.wait_for_function("() => navigator.serviceWorker.controller !== null")


def note_id(page: Page, text: str) -> str:
    item = page.get_by_role("list", name="Notes").get_by_role("listitem").filter(has_text=text)
    value = item.get_attribute("data-id")
    assert value
    return value
