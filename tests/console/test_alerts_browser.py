"""Early warning in the console, in headless Chromium on the live service: a rule fires on a
burst of 差评, the dashboard shows the alert once (also after a second round), the department
acknowledges it from its desk, and who and when are shown; readers see but cannot acknowledge."""

from __future__ import annotations

from datetime import timedelta

from app.alerts.evaluator import run_round
from tests.console.browsing import assert_stayed_home, sign_in_page
from tests.console.conftest import csrf_of, sign_in
from tests.fixtures.browser import recorded_page
from tests.fixtures.factories import auth, event


async def _burst(app, client, centre) -> None:
    """A rule (3 差评 within 30 minutes at SJ/A01), a burst of three more, two rounds."""
    rule = await client.post(
        "/v1/alert-rules",
        json={
            "name": "A01 差评激增",
            "kind": "window_bad_burst",
            "department_code": "SJ",
            "window_no": "A01",
            "threshold": 3,
            "minutes": 30,
        },
        headers=auth(centre.keys["admin"]),
    )
    assert rule.status_code == 201, rule.text
    now = app.state.clock()
    events = [
        event(level=level, window_no="A01", rated_at=(now - timedelta(minutes=i)).isoformat())
        for i, level in enumerate((1, 2, 1))
    ]
    posted = await client.post(
        "/v1/ratings/batch", json={"events": events}, headers=auth(centre.keys["portal"])
    )
    assert posted.status_code == 200, posted.text
    settings = app.state.settings.alerts
    await run_round(app.state.sessionmaker, now=now, settings=settings)
    await run_round(app.state.sessionmaker, now=now + timedelta(minutes=1), settings=settings)


async def test_a_burst_of_bad_reviews_is_shown_once_and_acknowledged(
    app, browser, intranet_server, centre, client
):
    await _burst(app, client, centre)
    async with recorded_page(browser) as (page, record):
        await page.set_viewport_size({"width": 1366, "height": 768})
        # The reader: the alert once, on the dashboard, with no form to acknowledge it.
        await sign_in_page(page, intranet_server, centre.keys["reader"])
        panel = page.get_by_test_id("alerts-panel")
        assert await panel.get_by_test_id("alerts-count").inner_text() == "1"
        rows = panel.locator("tr[data-alert]")
        assert await rows.count() == 1
        row_text = await rows.first.inner_text()
        assert "A01 差评激增" in row_text and "差评激增" in row_text and "SJ/A01" in row_text
        assert "持续中" in row_text
        assert await panel.locator("form").count() == 0
        await page.get_by_role("button", name="退出登录").click()
        await page.wait_for_url(f"{intranet_server}/console/login")

        # The other department: none of SJ's alerts.
        await sign_in_page(page, intranet_server, centre.keys["other_department"])
        assert await page.get_by_test_id("alerts-count").inner_text() == "0"
        assert await page.locator("tr[data-alert]").count() == 0
        await page.get_by_role("button", name="退出登录").click()
        await page.wait_for_url(f"{intranet_server}/console/login")

        # The department: on its desk, acknowledged with a note; a stale tab is refused.
        await sign_in_page(page, intranet_server, centre.keys["department"])
        assert page.url == f"{intranet_server}/console/desk"
        stale = await page.context.new_page()
        await stale.goto(page.url)
        row = page.locator("tr[data-alert]")
        assert await row.count() == 1
        await row.get_by_label("说明").fill("已联系窗口负责人")
        await row.get_by_role("button", name="确认").click()
        await page.wait_for_load_state()
        assert page.url.startswith(f"{intranet_server}/console/desk")
        assert "已确认预警" in await page.get_by_test_id("alert-acked").inner_text()
        assert await page.get_by_test_id("alerts-count").inner_text() == "0"
        recent = page.get_by_test_id("alerts-recent")
        await recent.locator("summary").click()
        recent_text = await recent.inner_text()
        assert "市场局办事员于" in recent_text and "已联系窗口负责人" in recent_text

        await stale.locator("tr[data-alert]").get_by_role("button", name="确认").click()
        await stale.wait_for_load_state()
        assert "该预警已由市场局办事员于" in await stale.get_by_test_id("problem").inner_text()
        await assert_stayed_home(page, record, intranet_server, refused={409})

    listed = await client.get("/v1/alerts?state=all", headers=auth(centre.keys["admin"]))
    (alert,) = listed.json()["items"]
    assert alert["acknowledged"]["name"] == "市场局办事员"
    assert alert["acknowledged"]["note"] == "已联系窗口负责人"


async def test_a_reader_cannot_acknowledge_and_a_department_not_anothers(
    app, centre, client, browser_client
):
    await _burst(app, client, centre)
    (alert,) = (await client.get("/v1/alerts", headers=auth(centre.keys["admin"]))).json()["items"]
    for role, status in (("reader", 403), ("other_department", 404)):
        http = browser_client()
        assert (await sign_in(http, centre.keys[role])).status_code == 303
        home = await http.get("/console/desk" if role != "reader" else "/console/dashboard")
        refused = await http.post(
            f"/console/alerts/{alert['id']}/ack",
            data={"csrf_token": csrf_of(home.text), "note": "x", "next": "/console/desk"},
        )
        assert refused.status_code == status, refused.text
    # Without the form's token: refused, nothing recorded.
    http = browser_client()
    await sign_in(http, centre.keys["department"])
    forged = await http.post(f"/console/alerts/{alert['id']}/ack", data={"note": "x"})
    assert forged.status_code == 403
    (still,) = (await client.get("/v1/alerts", headers=auth(centre.keys["admin"]))).json()["items"]
    assert still["state"] == "open"
