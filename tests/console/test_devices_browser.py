"""Tablets and QR codes on the registry pages, in headless Chromium: an enrolment link shown
once with its QR code and expiry (and it works: the tablet's redeem gets a key), a window's
printable QR code (the API's link), replaced from the page (the old code stops working)."""

from __future__ import annotations

from datetime import datetime, timedelta

from app.config import BUSINESS_TZ
from tests.console.browsing import assert_stayed_home, sign_in_page
from tests.fixtures.browser import recorded_page
from tests.fixtures.factories import auth, make_device


async def test_enrol_a_tablet_and_print_and_rotate_a_windows_code(
    browser, intranet_server, centre, client, clock
):
    at = datetime(2026, 11, 24, 9, 0, tzinfo=BUSINESS_TZ)
    clock.set(at)
    admin = auth(centre.keys["admin"])
    device, _ = await make_device(client, admin, "SJ", "A01", serial_no="PJQ-0001")
    async with recorded_page(browser) as (page, record):
        await page.set_viewport_size({"width": 1366, "height": 768})
        await sign_in_page(page, intranet_server, centre.keys["admin"])
        windows = f"{intranet_server}/console/registry/departments/SJ/windows"
        await page.goto(windows)
        assert await page.get_by_test_id("enrolment").count() == 0
        row = page.locator("tr[data-device='PJQ-0001']")
        await row.get_by_role("button", name="生成启用链接").click()
        await page.wait_for_load_state()
        shown = page.get_by_test_id("enrolment")
        assert "PJQ-0001" in await shown.inner_text()
        expires = at + timedelta(minutes=15)
        assert await page.get_by_test_id("enrolment-expires").inner_text() == expires.strftime(
            "%Y-%m-%d %H:%M"
        )
        assert await page.get_by_test_id("enrolment-qr").locator("svg path").count() == 1
        url = await page.get_by_test_id("enrolment-url").inner_text()
        assert url.startswith(f"{intranet_server}/kiosk#enrol=")
        # Shown once: a reload of the page has it no more.
        await page.goto(windows)
        assert await page.get_by_test_id("enrolment").count() == 0
        redeemed = await client.post(
            "/v1/kiosk/enrolment", json={"token": url.split("#enrol=", 1)[1]}
        )
        assert redeemed.status_code == 200, redeemed.text
        assert redeemed.json()["key"]

        # The window's QR code, as the API draws it; replaced from the page.
        await page.locator("tr[data-window='A01']").get_by_role("link", name="二维码").click()
        await page.wait_for_url(f"{windows}/A01/qr")
        image = page.get_by_test_id("qr-image")
        assert await image.evaluate("img => img.complete && img.naturalWidth > 100")
        link = (await client.get("/v1/departments/SJ/windows/A01/qr/link", headers=admin)).json()
        old = (await page.get_by_test_id("qr-url").inner_text()).strip()
        assert old.endswith("/r/" + link["token"])
        await page.get_by_test_id("rotate").click()
        await page.wait_for_url(f"{windows}/A01/qr?rotated=1")
        assert "已更换二维码" in await page.get_by_test_id("rotated").inner_text()
        new = (await page.get_by_test_id("qr-url").inner_text()).strip()
        assert new != old
        stale = await client.post(
            "/v1/qr/ratings",
            json={"token": link["token"], "event_id": "phone-0001", "level": 5},
        )
        assert stale.status_code == 410, stale.text
        await assert_stayed_home(page, record, intranet_server)
    assert device["serial_no"] == "PJQ-0001"
