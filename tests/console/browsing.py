"""Helpers of the console's browser tests: sign in through the form, take an action, check
that nothing left the service."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

from tests.fixtures.browser import csp_violations
from tests.fixtures.paths import ROOT

SCREENSHOTS = ROOT / "docs" / "screenshots"


async def sign_in_page(page, base: str, key: str) -> None:
    await page.goto(f"{base}/console/login")
    await page.get_by_label("密钥").fill(key)
    await page.get_by_role("button", name="登录").click()
    await page.wait_for_load_state()


async def act(page, action: str, *, note: str | None = None, choice: str | None = None) -> None:
    """Fill and submit the form of one action on the order page."""
    form = page.locator(f"form[data-action='{action}']")
    if choice is not None:
        await form.get_by_label(choice, exact=True).check()
    if note is not None:
        await form.get_by_label("说明").fill(note)
    await form.get_by_role("button").click()
    await page.wait_for_load_state()


async def state_of(page) -> str:
    return (await page.get_by_test_id("state").inner_text()).strip()


async def assert_stayed_home(page, record, base: str, refused: set[int] = frozenset()) -> None:
    """Every request went to the service on 127.0.0.1; nothing failed or broke the CSP; an
    error status only where the test provoked one (`refused`)."""
    origin = urlsplit(base)
    assert record.requests
    # The browser's own favicon request may still be on its way: let the page go quiet first.
    await page.wait_for_load_state("networkidle")
    for request in record.requests:
        url = urlsplit(request.url)
        assert (url.scheme, url.netloc) == (origin.scheme, origin.netloc), request.url
        response = await request.response()
        if response is None and request.failure == "net::ERR_ABORTED":
            # Cancelled when the test moved on (a fragment still loading, the favicon): it went
            # nowhere else all the same (its address is checked above).
            continue
        assert response is not None, (request.url, request.failure)
        assert (await response.server_addr())["ipAddress"] == "127.0.0.1", request.url
        assert response.status < 400 or response.status in refused, (request.url, response.status)
    errors = [
        e
        for e in record.problems()
        if "Failed to load resource" not in e and not _aborted_here(e, origin.netloc)
    ]
    assert errors == [], errors
    assert await csp_violations(page) == []


def _aborted_here(problem: str, netloc: str) -> bool:
    """A request of ours cancelled by a navigation ("<url>: net::ERR_ABORTED")."""
    url, _, failure = problem.rpartition(": ")
    return failure == "net::ERR_ABORTED" and urlsplit(url).netloc == netloc


async def screenshot(page, name: str) -> None:
    """docs/screenshots/console-<name>.png when HAOCHAPING_SCREENSHOTS=1 (the README's)."""
    if os.environ.get("HAOCHAPING_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(Path(SCREENSHOTS) / f"console-{name}.png"), full_page=True)
