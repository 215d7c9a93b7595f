"""Browser fixtures: Debian's Chromium, a real `keeptabs serve`, phone and laptop devices, and a console watch."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, Playwright, expect

from tests.server_process import ServerProcess

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LAPTOP = {"viewport": {"width": 1280, "height": 800}, "device_scale_factor": 1}
PASSWORD = "correct horse battery"

expect.set_options(timeout=15_000)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium")
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def server() -> Iterator[ServerProcess]:
    """One real server (SQLite in a temporary directory) for the session; every test makes its own accounts."""
    with tempfile.TemporaryDirectory(prefix="keeptabs-e2e-") as data_dir:
        env = {"KEEPTABS_DATA_DIR": data_dir, "KEEPTABS_PUSH_ALLOW_LOOPBACK": "1", "KEEPTABS_DATABASE_URL": ""}
        with ServerProcess(env) as process:
            yield process


@dataclass
class ConsoleWatch:
    """Console errors and uncaught exceptions of every page it watches, and of the service worker behind it."""

    errors: list[str] = field(default_factory=list)
    _contexts: set[int] = field(default_factory=set)

    def watch(self, page: Page) -> Page:
        page.on("console", self._on_console)
        page.on("pageerror", lambda error: self.errors.append(f"uncaught: {error}"))
        if id(page.context) not in self._contexts:
            # Playwright forwards the console calls of the context's service workers to the context.
            self._contexts.add(id(page.context))
            page.context.on("console", self._on_worker_console)
        return page

    def watch_worker_errors(self, page: Page) -> None:
        """Uncaught errors of the context's service workers, which Playwright does not forward: DevTools' ServiceWorker
        domain reports them. Opt-in, as a second DevTools session on a page stops `set_offline()` from reaching it."""
        cdp = page.context.new_cdp_session(page)
        cdp.on("ServiceWorker.workerErrorReported", self._on_worker_error)
        cdp.send("ServiceWorker.enable")

    def _on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(f"{message.text} at {message.location.get('url')}")

    def _on_worker_console(self, message: ConsoleMessage) -> None:
        if message.page is None:  # the pages' own messages arrive through watch()
            self._on_console(message)

    def _on_worker_error(self, event: dict[str, Any]) -> None:
        error = event["errorMessage"]
        self.errors.append(f"service worker: {error['errorMessage']} at {error['sourceURL']}:{error['lineNumber']}")


@pytest.fixture
def console() -> Iterator[ConsoleWatch]:
    watch = ConsoleWatch()
    yield watch
    assert watch.errors == [], "the app logged console errors"


@pytest.fixture
def new_device(browser: Browser, playwright: Playwright, console: ConsoleWatch) -> Iterator[Callable[..., Page]]:
    """Opens a page on a new device (its own storage): `new_device("phone")` or `new_device("laptop")`."""
    contexts: list[BrowserContext] = []

    def make(kind: str = "phone") -> Page:
        options = playwright.devices["Pixel 7"] if kind == "phone" else LAPTOP
        context = browser.new_context(**options)
        contexts.append(context)
        context.on("page", console.watch)
        return console.watch(context.new_page())

    yield make
    for context in contexts:
        context.close()


@dataclass
class User:
    email: str
    password: str = PASSWORD


def sign_up(page: Page, base_url: str) -> User:
    user = User(f"e2e-{uuid.uuid4().hex[:10]}@example.org")
    page.goto(base_url)
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(user.password)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_label("New note")).to_be_focused()
    return user


def sign_in(page: Page, base_url: str, user: User) -> None:
    page.goto(base_url)
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(user.password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_label("New note")).to_be_focused()


def server_notes(base_url: str, user: User) -> dict[str, dict[str, Any]]:
    """What the server holds for a user, read through the public API as one more device would."""
    with httpx.Client(base_url=base_url, timeout=10) as client:
        login = client.post(
            "/api/auth/login", json={"email": user.email, "password": user.password, "device_name": "checker"}
        )
        login.raise_for_status()
        headers = {"Authorization": f"Bearer {login.json()['token']}"}
        notes: dict[str, dict[str, Any]] = {}
        cursor, more = 0, True
        while more:
            response = client.post("/api/sync", json={"cursor": cursor, "mutations": []}, headers=headers)
            response.raise_for_status()
            body = response.json()
            notes.update({note["id"]: note for note in body["changes"]})
            cursor, more = body["cursor"], body["more"]
        client.post("/api/auth/logout", headers=headers)
        return notes


@pytest.fixture
def profile_phone(playwright: Playwright, console: ConsoleWatch, tmp_path: Path) -> Iterator[Page]:
    """A phone with a persistent profile, as an installed app has: Chrome refuses push in incognito contexts."""
    phone = {k: v for k, v in playwright.devices["Pixel 7"].items() if k != "default_browser_type"}
    context = playwright.chromium.launch_persistent_context(
        tmp_path / "profile", executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True, **phone
    )
    context.on("page", console.watch)
    page = console.watch(context.pages[0] if context.pages else context.new_page())
    console.watch_worker_errors(page)
    yield page
    context.close()
