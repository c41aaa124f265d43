"""The tablet page and the QR page in headless Chromium, on the live service and database:
enrol, rate, rate offline and reload, replay a flush, rate from a phone. Screenshots go to
$HAOCHAPING_SCREENSHOTS when set (scripts/kiosk-screenshots.sh: docs/screenshots/)."""

from __future__ import annotations

import hmac
import os
import tempfile
from pathlib import Path

import httpx
import pytest

from app.auth import signing
from tests.fixtures.browser import wait_until
from tests.fixtures.factories import make_device
from tests.fixtures.images import portrait

SHOTS = Path(os.environ.get("HAOCHAPING_SCREENSHOTS") or tempfile.mkdtemp(prefix="kiosk-shots-"))
LANDSCAPE = {"width": 1280, "height": 800}
PORTRAIT = {"width": 800, "height": 1280}
PHONE = {"width": 390, "height": 844}
# Quick thank-you screen and input lock for the test (the page's defaults: 4 s and 1.5 s).
FAST = "localStorage.setItem('hcp.thanksMs', '300'); localStorage.setItem('hcp.lockMs', '50');"


# The lowest WCAG contrast ratio of the visible text on the page (text colour against the first
# opaque background behind it).
CONTRAST = """() => {
  const luminance = (colour) => {
    const [r, g, b] = colour.match(/[\\d.]+/g).slice(0, 3).map((v) => {
      v = Number(v) / 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const background = (el) => {
    for (; el; el = el.parentElement) {
      const colour = getComputedStyle(el).backgroundColor;
      if (colour !== "transparent" && !/, 0\\)$/.test(colour)) return colour;
    }
    return "rgb(255, 255, 255)";
  };
  let worst = [21, ""];
  for (const el of document.querySelectorAll("body *")) {
    if (!el.getClientRects().length) continue;
    if (!Array.from(el.childNodes).some((n) => n.nodeType === 3 && n.textContent.trim())) continue;
    const a = luminance(getComputedStyle(el).color), b = luminance(background(el));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    if (ratio < worst[0]) worst = [ratio, el.textContent.trim().slice(0, 30)];
  }
  return worst;
}"""


async def _contrast(page) -> float:
    ratio, text = await page.evaluate(CONTRAST)
    assert ratio >= 4.5, f"{text!r}: contrast {ratio:.2f}:1 is below WCAG AA"
    return ratio


async def _ratings(client, admin) -> list[dict]:
    return (await client.get("/v1/ratings", headers=admin, params={"limit": 100})).json()["items"]


async def _enrolled_page(
    browser, client, admin, live_server, device, viewport=LANDSCAPE, script=""
):
    issued = (await client.post(f"/v1/devices/{device['id']}/enrolment", headers=admin)).json()
    context = await browser.new_context(locale="zh-CN", viewport=viewport)
    await context.add_init_script(FAST + script)
    page = await context.new_page()
    page.set_default_timeout(10_000)
    requests: list[str] = []
    errors: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    await page.goto(f"{live_server}/kiosk#enrol={issued['token']}")
    await page.wait_for_selector("body[data-ready=true]")
    return context, page, requests, errors


async def _rate(page, level: int, tags=(), comment=None):
    await page.click(f"#screen-idle .face-{level}")
    if level <= 2:
        for tag in tags:
            await page.click(f"#screen-reasons .tag[data-tag={tag}]")
        if comment:
            await page.fill("#comment", comment)
        await page.click("#reasons-submit")
    await page.wait_for_selector("#screen-thanks:not([hidden])")
    await page.wait_for_selector("#screen-idle:not([hidden])")
    await page.wait_for_selector("body:not(.locked)")  # the input lock after each rating


async def _synced(page):
    await wait_until(page, "document.getElementById('sync').dataset.pending === '0'")


@pytest.fixture
async def device(client, admin):
    created, _ = await make_device(client, admin, "SJ", "A01", signed=True)
    return created


async def test_the_tablet_enrols_and_rates_with_window_staff_and_case(
    browser, client, admin, live_server, device
):
    # The register names SJ007 and holds a photo: the tablet shows both (issue 13).
    await client.put(
        "/v1/staff/SJ007", json={"name": "张三", "department_code": "SJ"}, headers=admin
    )
    photo = await client.put(
        "/v1/staff/SJ007/photo", content=portrait(), headers={**admin, "Content-Type": "image/png"}
    )
    assert photo.status_code == 204, photo.text
    await client.put(
        f"/v1/devices/{device['id']}/session",
        json={"staff_id": "SJ007", "case_no": "BJ-2026-0042"},
        headers=admin,
    )
    async with httpx.AsyncClient() as http:  # the server's first page (templates, asset digest)
        assert (await http.get(f"{live_server}/kiosk")).status_code == 200
    context, page, requests, errors = await _enrolled_page(
        browser, client, admin, live_server, device
    )
    try:
        assert "enrol" not in page.url  # the token left the address bar
        await page.wait_for_selector("#staff:has-text('张三')")
        assert await page.text_content("#staff-no") == "工号 SJ007"
        await wait_until(
            page,
            "(() => { const img = document.getElementById('staff-photo');"
            " return !img.hidden && img.complete && img.naturalWidth === 96; })()",
        )
        assert await page.is_hidden("#avatar")
        assert await page.text_content("#case") == "办件编号 BJ-2026-0042"
        assert await page.text_content("#window-no") == "A01"
        load = await page.evaluate("performance.getEntriesByType('navigation')[0].loadEventEnd")
        # The 1 s target is measured by bench/kiosk.py; here only that the page did load, with
        # room for a loaded CI machine.
        assert 0 < load < 10_000, load
        await _contrast(page)
        await page.screenshot(path=SHOTS / "kiosk-idle-landscape.png")

        await _rate(page, 5)
        await _synced(page)
        (stored,) = await _ratings(client, admin)
        assert (stored["level"], stored["channel"], stored["window_no"]) == (
            5,
            "window_device",
            "A01",
        )
        assert (stored["staff_id"], stored["case_no"]) == ("SJ007", "BJ-2026-0042")
        assert await page.is_hidden("#case")  # the case is rated: not carried again

        await page.click("#screen-idle .face-1")
        await page.click("#screen-reasons .tag[data-tag=attitude]")
        await page.click("#screen-reasons .tag[data-tag=waiting]")
        await _contrast(page)
        await page.screenshot(path=SHOTS / "kiosk-reasons-landscape.png")
        await page.click("#reasons-submit")
        await page.wait_for_selector("#screen-thanks:not([hidden])")
        await page.screenshot(path=SHOTS / "kiosk-thanks-landscape.png")
        await page.wait_for_selector("#screen-idle:not([hidden])")
        await _synced(page)
        bad = (await _ratings(client, admin))[0]
        assert (bad["level"], sorted(bad["tags"]), bad["case_no"]) == (
            1,
            ["attitude", "waiting"],
            None,
        )
        tickets = (await client.get("/v1/tickets", headers=admin)).json()["items"]
        assert [t["rating_id"] for t in tickets] == [bad["id"]]

        # The staff member signs on from the tablet (their 工号).
        await page.click("#staff-button")
        await page.fill("#staff-input", "SJ010")
        await page.click("#staff-save")
        await page.wait_for_selector("#staff:has-text('SJ010')")
        assert await page.is_hidden("#staff-photo")  # unregistered: the 工号 alone
        session = await client.get(f"/v1/devices/{device['id']}/session", headers=admin)
        assert (session.json()["staff_id"], session.json()["set_by"]) == ("SJ010", "device")

        await page.set_viewport_size(PORTRAIT)
        await page.screenshot(path=SHOTS / "kiosk-idle-portrait.png")
        await page.click("#screen-idle .face-2")
        await page.click("#screen-reasons .tag[data-tag=materials]")
        await page.screenshot(path=SHOTS / "kiosk-reasons-portrait.png")
        await page.click("#reasons-submit")
        await page.wait_for_selector("#screen-thanks:not([hidden])")
        await page.screenshot(path=SHOTS / "kiosk-thanks-portrait.png")
        await page.wait_for_selector("#screen-idle:not([hidden])")
        await _synced(page)
        assert (await _ratings(client, admin))[0]["staff_id"] == "SJ010"

        # Touch targets of at least 48 px, in both orientations.
        sizes = await page.evaluate(
            "Array.from(document.querySelectorAll('button'), b => b.getBoundingClientRect())"
            ".filter(r => r.width > 0).map(r => Math.min(r.width, r.height))"
        )
        assert sizes and min(sizes) >= 48, sizes
        assert errors == []
        assert all(url.startswith(live_server) for url in requests), requests
    finally:
        await context.close()


async def test_offline_ratings_survive_a_reload_and_are_stored_once(
    browser, client, admin, live_server, device
):
    context, page, requests, errors = await _enrolled_page(
        browser, client, admin, live_server, device
    )
    try:
        await page.evaluate("navigator.serviceWorker.ready")
        await wait_until(page, "navigator.serviceWorker.controller !== null")
        await context.set_offline(True)
        for level in (5, 4, 3, 5, 4):
            await _rate(page, level)
        assert await page.text_content("#sync") == "待上传 5"
        await page.reload()  # offline: the service worker serves the page
        await page.wait_for_selector("body[data-ready=true]")
        assert await page.text_content("#sync") == "待上传 5"
        queued = await page.evaluate("HcpDevice.queue.all()")
        assert await _ratings(client, admin) == []

        await context.set_offline(False)
        await page.evaluate("HcpTablet.sync()")
        await _synced(page)
        stored = await _ratings(client, admin)
        assert sorted(r["event_id"] for r in stored) == sorted(e["event_id"] for e in queued)
        assert sorted(r["level"] for r in stored) == [3, 4, 4, 5, 5]
        # Made within seconds of each other: what got through the input lock is flagged.
        assert sum("rapid_device" in r["flags"] for r in stored) == 4

        # A flush retried (its answer lost): the same events, signed anew, stored once.
        await page.evaluate(
            "async (events) => { for (const e of events) await HcpDevice.queue.add(e); }", queued
        )
        await page.evaluate("HcpTablet.sync()")
        await _synced(page)
        assert len(await _ratings(client, admin)) == 5
        assert all(url.startswith(live_server) for url in requests), requests
        assert not [e for e in errors if "ERR_INTERNET_DISCONNECTED" not in e], errors
    finally:
        await context.close()


async def test_a_used_enrolment_link_says_so_in_chinese(
    browser, client, admin, live_server, device
):
    issued = (await client.post(f"/v1/devices/{device['id']}/enrolment", headers=admin)).json()
    assert (await client.post("/v1/kiosk/enrolment", json={"token": issued["token"]})).is_success
    context = await browser.new_context(locale="zh-CN", viewport=LANDSCAPE)
    page = await context.new_page()
    try:
        await page.goto(f"{live_server}/kiosk#enrol={issued['token']}")
        await page.wait_for_selector("#screen-enrol:not([hidden])")
        assert (
            await page.text_content("#enrol-error")
            == "此启用链接已使用过，请向管理员申请新的启用链接"
        )
        assert page.url == f"{live_server}/kiosk"
    finally:
        await context.close()


async def test_without_webcrypto_the_page_signs_with_its_own_sha256(
    browser, client, admin, live_server, device
):
    """Over plain http on an intranet address browsers withhold crypto.subtle."""
    no_subtle = "Object.defineProperty(window.crypto, 'subtle', {value: undefined});"
    context, page, _, errors = await _enrolled_page(
        browser, client, admin, live_server, device, script=no_subtle
    )
    try:
        assert await page.evaluate("window.crypto.subtle === undefined")
        key, message = "hcp_" + "k" * 43, "HCP1-HMAC-SHA256\nPOST\n/v1/ratings/batch\n1\nn\nb" * 3
        ours = await page.evaluate(
            "([k, m]) => Array.from(HcpSha256.hmac(HcpSha256.sha256(new TextEncoder().encode(k)),"
            " new TextEncoder().encode(m)), (b) => b.toString(16).padStart(2, '0')).join('')",
            [key, message],
        )
        assert ours == hmac.new(signing.signing_key(key), message.encode(), "sha256").hexdigest()
        await _rate(page, 4)
        await _synced(page)
        assert [r["level"] for r in await _ratings(client, admin)] == [4]
        assert errors == []
    finally:
        await context.close()


async def test_the_qr_page_rates_a_case_once_and_follows_it_up_once(
    browser, client, admin, live_server, device
):
    link = await client.post(
        "/v1/rating-links",
        json={"department_code": "SJ", "window_no": "A01", "case_no": "BJ-9", "staff_id": "S1"},
        headers=admin,
    )
    url = f"{live_server}/r/{link.json()['token']}"
    context = await browser.new_context(
        locale="zh-CN", viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=2
    )
    page = await context.new_page()
    page.set_default_timeout(10_000)
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    try:
        await page.goto(url)
        await page.tap(".face-1")
        await page.tap(".tag[data-tag=efficiency]")
        await page.tap(".tag[data-tag=multiple_trips]")
        await page.fill("#name", "李四")
        await page.fill("#phone", "13912345678")
        await page.tap("#submit")
        assert "勾选同意" in await page.text_content("#error")
        await page.tap("#consent")
        await _contrast(page)
        await page.screenshot(path=SHOTS / "kiosk-qr-phone.png", full_page=True)
        await page.tap("#submit")
        await page.wait_for_selector("#thanks:not([hidden])")
        (first,) = await _ratings(client, admin)
        assert (first["channel"], first["case_no"]) == ("qr_code", "BJ-9")
        assert first["assess_number"] == 1
        assert first["rater"]["phone"] == "139****5678" and "李四" not in str(first)
        assert sorted(first["tags"]) == ["efficiency", "multiple_trips"]

        await page.goto(url)
        await page.tap(".face-4")
        await page.tap("#submit")
        await page.wait_for_selector("#thanks:not([hidden])")
        assert "追评" in await page.text_content("#thanks-detail")

        await page.goto(url)
        await page.tap(".face-5")
        await page.tap("#submit")
        await page.wait_for_selector("#error:has-text('不能再次评价')")
        assert len(await _ratings(client, admin)) == 2
        assert all(u.startswith(live_server) for u in requests), requests
    finally:
        await context.close()
