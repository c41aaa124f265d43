"""The quarterly bulletin one click from the dashboard: the same document GET
/v1/reports/bulletin gives, with the session (no key in the browser); admin and reader only."""

from __future__ import annotations

import re
from datetime import datetime

from app.config import BUSINESS_TZ
from tests.console.browsing import sign_in_page
from tests.console.conftest import sign_in
from tests.fixtures.browser import csp_violations, recorded_page
from tests.fixtures.factories import auth

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
LINK = re.compile(r'href="(/console/bulletin\.(docx|xlsx|html)\?period=([^"]+))"')


async def test_the_dashboard_links_the_bulletin_of_its_period(
    centre, client, browser_client, clock
):
    clock.set(datetime(2026, 11, 20, 10, 0, tzinfo=BUSINESS_TZ))
    reader = browser_client()
    await sign_in(reader, centre.keys["reader"])
    page = await reader.get("/console/dashboard?kind=month&month=2026-10")
    links = {fmt: (href, period) for href, fmt, period in LINK.findall(page.text)}
    assert set(links) == {"docx", "xlsx", "html"}
    assert {period for _, period in links.values()} == {"2026-10"}

    docx = await reader.get(links["docx"][0])
    assert docx.status_code == 200 and docx.headers["content-type"] == DOCX
    assert docx.content[:2] == b"PK"
    assert 'filename="bulletin-2026-10.docx"' in docx.headers["content-disposition"]
    xlsx = await reader.get(links["xlsx"][0])
    assert xlsx.status_code == 200 and xlsx.headers["content-type"] == XLSX
    html = await reader.get(links["html"][0])
    api = await client.get(
        "/v1/reports/bulletin?period=2026-10&format=html", headers=auth(centre.keys["reader"])
    )
    assert html.status_code == 200 and html.text == api.text
    assert html.headers["content-type"].startswith("text/html")
    policy = html.headers["content-security-policy"]
    assert "'unsafe-inline'" not in policy and "style-src 'sha256-" in policy
    assert "script-src" not in policy and "default-src 'none'" in policy

    # A custom range has no bulletin of its own: this quarter's is offered.
    custom = await reader.get("/console/dashboard?kind=custom&from=2026-10-05&to=2026-10-20")
    assert {p for _, _, p in LINK.findall(custom.text)} == {"2026Q4"}

    # A department key: no link, and the file refused in Chinese; a bad period, in Chinese.
    clerk = browser_client()
    await sign_in(clerk, centre.keys["department"])
    refused = await clerk.get("/console/bulletin.docx?period=2026Q4")
    assert refused.status_code == 403 and "当前角色无权查看此页面" in refused.text
    assert "bulletin" not in (await clerk.get("/console/desk")).text
    bad = await reader.get("/console/bulletin.xlsx?period=2026Q5")
    assert bad.status_code == 422 and bad.headers["content-type"].startswith("text/html")
    assert (await reader.get("/console/bulletin.pdf?period=2026Q4")).status_code == 404


async def test_the_printable_bulletin_keeps_its_style_under_its_policy(
    browser, intranet_server, centre
):
    async with recorded_page(browser) as (page, record):
        await sign_in_page(page, intranet_server, centre.keys["admin"])
        await page.goto(f"{intranet_server}/console/bulletin.html?period=2026Q3")
        h1 = page.get_by_role("heading", level=1)
        assert "2026年第三季度" in await h1.inner_text()
        # Its own style element applies (allowed by hash), and nothing was blocked.
        assert await h1.evaluate("e => getComputedStyle(e).textAlign") == "center"
        assert await csp_violations(page) == []
        assert not [e for e in record.problems() if "Content Security Policy" in e]
