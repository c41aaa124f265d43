"""The dashboard in headless Chromium: its numbers, read from the page, equal the statistics
API's for the same period; charts draw from our own ECharts; roles see what they may."""

from __future__ import annotations

import httpx

from tests.console.browsing import assert_stayed_home, screenshot, sign_in_page
from tests.fixtures.browser import recorded_page
from tests.fixtures.factories import auth, event


def shown(value, rate: bool) -> str:
    if value is None:
        return "—"
    return f"{value:.2f}" if rate else f"{value:,}"


async def _more_ratings(client: httpx.AsyncClient, portal: str) -> None:
    events = [
        event(level=level, department_code=code)
        for code, level in [
            ("SJ", 5),
            ("SJ", 4),
            ("SJ", 5),
            ("GA", 5),
            ("GA", 2),
            ("GA", 3),
            ("GA", 5),
        ]
    ]
    response = await client.post("/v1/ratings/batch", json={"events": events}, headers=auth(portal))
    assert response.status_code in (200, 201, 207), response.text


async def test_the_dashboard_shows_the_apis_figures(browser, intranet_server, centre, client):
    await _more_ratings(client, centre.keys["portal"])
    async with recorded_page(browser) as (page, record):
        await page.set_viewport_size({"width": 1366, "height": 768})
        await sign_in_page(page, intranet_server, centre.keys["reader"])
        assert page.url == f"{intranet_server}/console/dashboard"
        period = await page.get_by_test_id("period").inner_text()
        api = await client.get(
            f"/v1/stats/overview?period={period}", headers=auth(centre.keys["reader"])
        )
        overview = api.json()
        orders = overview["workorders"]["rating"]
        expected = {
            "counted": shown(overview["ratings"]["counted"], False),
            "good_rate": shown(overview["ratings"]["good_rate"], True),
            "bad": shown(overview["ratings"]["bad"], False),
            "rectification_rate": shown(orders["rectification_rate"], True),
            "on_time_rate": shown(orders["on_time_rate"], True),
            "real_name_callback_rate": shown(orders["real_name_callback_rate"], True),
            "complaints": shown(overview["workorders"]["complaint"]["opened"], False),
        }
        for key, value in expected.items():
            card = page.get_by_test_id(f"card-{key}").locator(".value")
            assert (await card.inner_text()).strip() == value, key
        assert expected["counted"] == "8" and expected["bad"] == "2"
        table = (
            await client.get(
                f"/v1/stats/departments?period={period}", headers=auth(centre.keys["reader"])
            )
        ).json()
        for row in table["departments"]:
            tr = page.locator(f"#departments tr[data-code='{row['code']}']")
            rate = await tr.locator("[data-field=good_rate]").inner_text()
            assert rate == shown(row["ratings"]["good_rate"], True)
            assert await tr.locator("td").first.inner_text() == str(row["rank"])
        # Charts drawn on canvas by the vendored ECharts.
        for chart in ("trend", "channels", "reasons", "heat-ratings", "heat-bad"):
            await page.locator(f"#chart-{chart} canvas").first.wait_for(state="attached")
        # Search narrows the table; sort reorders it.
        await page.get_by_label("搜索部门").fill("公安")
        assert await page.locator("#departments tbody tr:visible").count() == 1
        await page.get_by_label("搜索部门").fill("")
        await screenshot(page, "dashboard")
        await page.get_by_role("link", name="市场监督管理局").click()
        await page.wait_for_load_state()
        assert "/console/departments/SJ" in page.url
        await page.locator("#chart-trend canvas").first.wait_for(state="attached")
        assert "A01" in await page.get_by_test_id("windows").inner_text()
        await screenshot(page, "department")
        # On a tablet: nothing wider than the screen.
        await page.set_viewport_size({"width": 768, "height": 1024})
        for path in ("/console/dashboard", "/console/departments/SJ"):
            await page.goto(f"{intranet_server}{path}")
            overflow = await page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, (path, overflow)
        await assert_stayed_home(page, record, intranet_server)


async def test_a_department_key_is_kept_to_its_own_pages(browser, intranet_server, centre):
    async with recorded_page(browser) as (page, record):
        await sign_in_page(page, intranet_server, centre.keys["other_department"])
        assert page.url == f"{intranet_server}/console/desk"
        assert await page.locator("tr[data-order]").count() == 0
        await page.goto(f"{intranet_server}/console/dashboard")
        assert "当前角色" in await page.get_by_test_id("problem").inner_text()
        await page.goto(f"{intranet_server}/console/orders/{centre.order_id}")
        assert await page.get_by_role("heading", level=1).inner_text() == "未找到"
        await page.get_by_role("button", name="退出登录").count()
        await page.goto(f"{intranet_server}/console/desk")
        await page.get_by_role("button", name="退出登录").click()
        await page.wait_for_url(f"{intranet_server}/console/login")
        await page.goto(f"{intranet_server}/console/desk")
        assert page.url.startswith(f"{intranet_server}/console/login")
        await assert_stayed_home(page, record, intranet_server, refused={403, 404})
