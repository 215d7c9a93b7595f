"""The app is installable: manifest, icons, service worker; checked by Chromium itself in a persistent profile."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Playwright

from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.e2e.helpers import wait_for_worker
from tests.server_process import ServerProcess

pytestmark = pytest.mark.e2e


def test_chromium_reports_no_installability_errors(
    server: ServerProcess, playwright: Playwright, tmp_path: Path
) -> None:
    # Only a persistent (non-incognito) profile can install apps; an ordinary context reports "in-incognito".
    context = playwright.chromium.launch_persistent_context(
        tmp_path / "profile", executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
    )
    try:
        page = context.new_page()
        page.goto(server.base_url)
        wait_for_worker(page)
        cdp = context.new_cdp_session(page)

        errors = cdp.send("Page.getInstallabilityErrors")["installabilityErrors"]
        manifest = cdp.send("Page.getAppManifest")
    finally:
        context.close()

    assert errors == []
    assert manifest["errors"] == []
