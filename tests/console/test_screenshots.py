"""The README's console screenshots, on the demo data: run with HAOCHAPING_SCREENSHOTS=1 to
write docs/screenshots/console-{dashboard,department,desk,order,qr}.png (skipped otherwise)."""

from __future__ import annotations

import os

import httpx
import pytest
from sqlalchemy import text

from app.alerts.evaluator import run_round
from app.demo.loader import load
from app.workorders.timing import current_policy
from tests.console.browsing import screenshot, sign_in_page
from tests.fixtures.browser import recorded_page
from tests.fixtures.db import truncate_all
from tests.fixtures.factories import auth, make_key

pytestmark = pytest.mark.skipif(
    os.environ.get("HAOCHAPING_SCREENSHOTS") != "1", reason="HAOCHAPING_SCREENSHOTS=1 makes them"
)


async def test_screenshots_on_the_demo_data(app, pg_url, settings, browser, intranet_server):
    await truncate_all(app.state.engine, restart_identity=False)
    await load(
        pg_url,
        ratings=40_000,
        departments=24,
        end=app.state.clock(),
        years=1.0,
        policy=current_policy(settings),
    )
    async with app.state.engine.connect() as conn:
        code, order_id = (
            await conn.execute(
                text(
                    "SELECT department_code, min(id) FROM work_order WHERE state = 'contacted' "
                    "GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
                )
            )
        ).one()
    admin = await make_key(app, "admin", "督查室")
    clerk = await make_key(app, "department", "部门办事员", code)
    # An early-warning rule for the panel: a department's 好评率 over its last 50 ratings.
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        rule = await http.post(
            "/v1/alert-rules",
            json={"name": "好评率偏低", "kind": "department_good_rate", "sample_size": 50,
                  "min_rate_percent": 99},
            headers=auth(admin),
        )  # fmt: skip
        assert rule.status_code == 201, rule.text
    await run_round(app.state.sessionmaker, now=app.state.clock(), settings=settings.alerts)
    try:
        async with recorded_page(browser) as (page, _):
            await page.set_viewport_size({"width": 1366, "height": 768})
            await sign_in_page(page, intranet_server, admin)
            await page.locator("#chart-heat-bad canvas").first.wait_for(state="attached")
            await page.locator("#chart-trend canvas").first.wait_for(state="attached")
            await page.get_by_test_id("leaderboards").wait_for()
            await page.wait_for_timeout(800)  # ECharts' entry animation
            await screenshot(page, "dashboard")
            await page.goto(f"{intranet_server}/console/departments/{code}")
            await page.wait_for_timeout(800)
            await screenshot(page, "department")
            await page.goto(f"{intranet_server}/console/registry/departments/{code}/windows")
            window = page.locator("tr[data-window]").first
            await window.get_by_role("link", name="二维码").click()
            await page.get_by_test_id("qr-image").wait_for()
            await screenshot(page, "qr")
        async with recorded_page(browser) as (page, _):
            await page.set_viewport_size({"width": 1366, "height": 768})
            await sign_in_page(page, intranet_server, clerk)
            await screenshot(page, "desk")
            await page.goto(f"{intranet_server}/console/orders/{order_id}")
            await screenshot(page, "order")
    finally:
        await truncate_all(app.state.engine, restart_identity=False)
