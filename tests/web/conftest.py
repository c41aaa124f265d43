"""The page tests' fixtures: a headless Chromium, and the live server under an intranet name."""

from __future__ import annotations

import os

import pytest

from tests.fixtures.browser import CHROMIUM, CHROMIUM_ARGS, HAVE_CHROMIUM, INTRANET_HOST


@pytest.fixture(scope="session")
def intranet_server(live_server: str) -> str:
    """The live server's base URL under INTRANET_HOST (for the browser fixture only)."""
    return live_server.replace("127.0.0.1", INTRANET_HOST, 1)


@pytest.fixture(scope="session")
async def browser():
    """Headless Chromium driven by Playwright: Debian's /usr/bin/chromium (CI installs it),
    never a downloaded one. Skips the test when it is absent."""
    if not HAVE_CHROMIUM:
        pytest.skip(f"{CHROMIUM} is absent: apt-get install chromium to run the browser tests")
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            # Not under libfaketime (.ci/run's shifted run): Chromium does not start there.
            env={k: v for k, v in os.environ.items() if k != "LD_PRELOAD"},
        )
        try:
            yield chromium
        finally:
            await chromium.close()
