"""The dashboard's window and staff leaderboards and its region filter, in headless Chromium:
the rows read from the page equal GET /v1/stats/windows and /v1/stats/staff for the same period
and region."""

from __future__ import annotations

from tests.console.browsing import assert_stayed_home, sign_in_page
from tests.fixtures.browser import recorded_page
from tests.fixtures.factories import auth, event, make_department, make_window

# (department, window, staff, level): SJ's windows in 421102, GA's in 421181, XF without a code.
RATINGS = [
    ("SJ", "A01", "SJ001", 5),
    ("SJ", "A01", "SJ001", 5),
    ("SJ", "A01", "SJ002", 4),
    ("SJ", "A02", "SJ003", 5),
    ("SJ", "A02", "SJ003", 2),
    ("SJ", "A02", "SJ003", 1),
    ("GA", "B01", "GA001", 5),
    ("GA", "B01", "GA001", 5),
    ("GA", "B01", "GA001", 5),
    ("GA", "B01", "GA001", 3),
    ("XF", "C01", "XF001", 1),
]


async def _centre(client, centre) -> None:
    admin = auth(centre.keys["admin"])
    await make_department(client, admin, "XF", "信访局")
    for code, region in (("SJ", "421102"), ("GA", "421181")):
        r = await client.patch(
            f"/v1/departments/{code}", json={"region_code": region}, headers=admin
        )
        assert r.status_code == 200, r.text
    for code, no in (("SJ", "A02"), ("GA", "B01"), ("XF", "C01")):
        await make_window(client, admin, code, no)
    events = [
        event(department_code=code, window_no=no, staff_id=staff, level=level)
        for code, no, staff, level in RATINGS
    ]
    r = await client.post(
        "/v1/ratings/batch", json={"events": events}, headers=auth(centre.keys["portal"])
    )
    assert r.status_code == 200, r.text


async def _rows(board) -> list[tuple[str, str, str, str, str]]:
    rows = []
    for tr in await board.locator("tbody tr[data-key]").all():
        cells = [
            (await tr.locator(f"[data-field={f}]").inner_text()).strip()
            for f in ("rank", "counted", "level_5", "good_rate")
        ]
        rows.append((await tr.get_attribute("data-key"), *cells))
    return rows


def _expected(rows, key) -> list[tuple[str, str, str, str, str]]:
    def name(r):
        return f"{r['department_code']}/{r['window_no']}" if key == "windows" else r["staff_id"]

    def rate(v):
        return "—" if v is None else f"{v:.2f}"

    return [
        (
            name(r),
            str(r["rank"]) if r["rank"] is not None else "—",
            f"{r['ratings']['counted']:,}",
            f"{r['ratings']['by_level']['5']:,}",
            rate(r["ratings"]["good_rate"]),
        )
        for r in rows
    ]


async def test_the_leaderboards_are_the_apis_tables(browser, intranet_server, centre, client):
    await _centre(client, centre)
    reader = auth(centre.keys["reader"])
    async with recorded_page(browser) as (page, record):
        await page.set_viewport_size({"width": 1366, "height": 768})
        await sign_in_page(page, intranet_server, centre.keys["reader"])
        period = await page.get_by_test_id("period").inner_text()
        for region in (None, "421100"):
            if region:
                # The city 黄冈市 (4211): SJ and GA, not XF (no code).
                await page.get_by_label("行政区划").select_option(region)
                await page.get_by_role("button", name="查看").click()
                await page.wait_for_load_state()
                assert await page.get_by_test_id("region").inner_text() == region
                codes = await page.locator("#departments tbody tr").evaluate_all(
                    "rows => rows.map(r => r.dataset.code)"
                )
                assert sorted(codes) == ["GA", "SJ"]
            await page.get_by_test_id("leaderboards").wait_for()
            query = f"period={period}" + (f"&region={region}" if region else "")
            for key, api in (("windows", "windows"), ("staff", "staff")):
                for sort in ("counted",) if region else ("counted", "level_5"):
                    table = await client.get(
                        f"/v1/stats/{api}?{query}&sort={sort}&limit=10", headers=reader
                    )
                    expected = _expected(table.json()[key], key)
                    shown = await _rows(page.get_by_test_id(f"board-{key}-{sort}"))
                    assert shown == expected, (key, sort, region)
                full = await client.get(f"/v1/stats/{api}?{query}&sort=good_rate", headers=reader)
                ranked = [r for r in full.json()[key] if r["rank"] is not None]
                bottom = _expected(list(reversed(ranked[-10:])), key)
                assert await _rows(page.get_by_test_id(f"board-{key}-good_rate_bottom")) == bottom
            windows = [r[0] for r in await _rows(page.get_by_test_id("board-windows-counted"))]
            if region:
                assert windows == ["GA/B01", "SJ/A01", "SJ/A02"]
            else:
                assert windows[:3] == ["GA/B01", "SJ/A01", "SJ/A02"] and "XF/C01" in windows
            worst = await _rows(page.get_by_test_id("board-staff-good_rate_bottom"))
            assert worst[0][0] == ("SJ003" if region else "XF001")
        # A region that is no code: said in Chinese beside the filter, all regions shown.
        # (read with the page's session, not drawn: the page itself was drawn above).
        status, html = await page.evaluate(
            "u => fetch(u).then(async r => [r.status, await r.text()])",
            "/console/dashboard?region=黄冈",
        )
        assert status == 200 and 'data-testid="region-error"' in html
        assert "6–12 位数字" in html and html.count("<tr data-code=") == 3
        await assert_stayed_home(page, record, intranet_server)
