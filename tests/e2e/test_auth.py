"""The sign-in form says what is wrong where it is wrong: the server's reason for refusing a password appears under
the Password field (as that field's accessible description), other failures under the buttons."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import PASSWORD, ConsoleWatch
from tests.server_process import ServerProcess

pytestmark = pytest.mark.e2e


def expected_refusals(console: ConsoleWatch, status: int) -> None:
    """Chromium logs every 4xx answer as a console error (seen by the page and its context); these tests cause them
    on purpose, and only these."""
    refused = [e for e in console.errors if f"status of {status} " in e and "/api/auth/" in e]
    assert refused, console.errors
    console.errors[:] = [e for e in console.errors if e not in refused]


def test_a_refused_password_is_explained_under_the_password_field(
    server: ServerProcess, new_device: Callable[..., Page], console: ConsoleWatch
) -> None:
    page = new_device("phone")
    page.goto(server.base_url)
    email, password = page.get_by_label("Email"), page.get_by_label("Password")
    email.fill(f"e2e-{uuid.uuid4().hex[:10]}@example.org")
    password.fill("Password1")
    page.get_by_role("button", name="Create account").click()

    expect(password).to_have_accessible_description(re.compile("one of the most common passwords"))
    expect(password).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#auth-error")).to_be_hidden()

    password.fill("        ")
    expect(password).not_to_have_attribute("aria-invalid", "true")  # typing again clears it until the next try
    page.get_by_role("button", name="Create account").click()
    expect(password).to_have_accessible_description(re.compile("only spaces"))

    password.fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_label("New note")).to_be_focused()
    expected_refusals(console, 422)


def test_a_wrong_password_is_said_under_the_buttons(
    server: ServerProcess, new_device: Callable[..., Page], console: ConsoleWatch
) -> None:
    page = new_device("laptop")
    page.goto(server.base_url)
    page.get_by_label("Email").fill(f"nobody-{uuid.uuid4().hex[:10]}@example.org")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#auth-error")).to_have_text("Wrong email or password.")
    expect(page.get_by_label("Password")).to_have_accessible_description("")
    expected_refusals(console, 401)
