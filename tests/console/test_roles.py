"""What each role sees in the console: the API's rules, page by page (over ASGI)."""

from __future__ import annotations

import html
import json
import re
from datetime import datetime

import pytest

from app.config import BUSINESS_TZ
from tests.console.conftest import sign_in
from tests.fixtures.factories import auth


@pytest.fixture
async def people(centre, browser_client):
    signed = {}
    for role in ("admin", "reader", "department", "other_department"):
        http = browser_client()
        assert (await sign_in(http, centre.keys[role])).status_code == 303
        signed[role] = http
    return signed


async def test_a_department_sees_its_own_orders_and_figures_only(people, centre):
    mine, other = people["department"], people["other_department"]
    desk = await mine.get("/console/desk")
    assert f'data-order="{centre.order_id}"' in desk.text
    theirs = await other.get("/console/desk")
    assert theirs.status_code == 200 and "data-order=" not in theirs.text
    refused = await other.get(f"/console/orders/{centre.order_id}")
    assert refused.status_code == 404 and "未找到" in refused.text
    assert (await mine.get("/console/departments/SJ")).status_code == 200
    forbidden = await mine.get("/console/departments/GA")
    assert forbidden.status_code == 403 and "当前角色不能查看或办理此项" in forbidden.text
    assert (await mine.get("/console/dashboard")).status_code == 403
    assert (await mine.get("/console/desk?department=GA")).status_code == 200


async def test_a_reader_reads_figures_but_no_orders_or_personal_data(people, centre):
    reader = people["reader"]
    dashboard = await reader.get("/console/dashboard")
    assert dashboard.status_code == 200
    assert "市场监督管理局" in dashboard.text
    assert "13812345678" not in dashboard.text and "138****5678" not in dashboard.text
    assert (await reader.get("/console/desk")).status_code == 403
    assert (await reader.get(f"/console/orders/{centre.order_id}")).status_code == 403
    assert (await reader.get("/console/departments/SJ")).status_code == 200


async def test_an_admin_sees_every_department_and_may_act_for_one(people, centre, client):
    admin = people["admin"]
    desk = await admin.get("/console/desk?department=SJ")
    assert f'data-order="{centre.order_id}"' in desk.text
    assert "data-order=" not in (await admin.get("/console/desk?department=GA")).text
    order = await admin.get(f"/console/orders/{centre.order_id}")
    actions = set(re.findall(r'data-action="(\w+)"', order.text))
    # Every action the API allows this key now, each with its form.
    api = await client.get(f"/v1/tickets/{centre.order_id}", headers=auth(centre.keys["admin"]))
    assert actions == set(api.json()["allowed_actions"])
    assert actions == {"contact", "extend", "appeal", "request_withdrawal", "withdraw", "transfer"}
    assert (await admin.get("/console/dashboard")).status_code == 200


async def test_exports_are_one_click_away_with_the_same_rule(people):
    xlsx = await people["reader"].get("/console/exports/departments.xlsx?kind=year&year=2026")
    assert xlsx.status_code == 200
    assert xlsx.headers["content-disposition"] == 'attachment; filename="departments-2026.xlsx"'
    assert xlsx.content[:2] == b"PK"
    csv = await people["department"].get("/console/exports/departments.csv?kind=year&year=2026")
    assert csv.status_code == 200 and "公安局" not in csv.content.decode("utf-8-sig")
    assert (await people["reader"].get("/console/exports/secrets.csv")).status_code == 404
    # The dashboard's links keep the chosen period and filters.
    page = await people["reader"].get("/console/dashboard?kind=month&month=2026-10&channel=sms")
    assert (
        'href="/console/exports/departments.csv?kind=month&amp;month=2026-10&amp;channel=sms"'
        in page.text
    )
    csv = await people["reader"].get("/console/exports/departments.csv?kind=month&month=2026-10")
    assert csv.headers["content-disposition"] == 'attachment; filename="departments-2026-10.csv"'


async def test_the_department_filter_opens_that_departments_page(people):
    response = await people["reader"].get("/console/dashboard?kind=year&year=2026&department=GA")
    assert response.status_code == 303
    assert response.headers["location"] == "/console/departments/GA?kind=year&year=2026"
    page = await people["reader"].get(response.headers["location"])
    assert page.status_code == 200 and "公安局" in page.text


async def test_the_heatmap_counts_ratings_by_beijing_weekday_and_hour(people, client, centre):
    rating = (
        await client.get(f"/v1/ratings/{centre.rating_id}", headers=auth(centre.keys["admin"]))
    ).json()
    local = datetime.fromisoformat(rating["rated_at"]).astimezone(BUSINESS_TZ)
    period = f"{local.year}-{local.month:02d}"
    page = await people["reader"].get(f"/console/dashboard/heatmap?kind=month&month={period}")
    assert page.status_code == 200
    data = json.loads(html.unescape(re.search(r'data-heatmap="([^"]*)"', page.text).group(1)))
    cell = [local.hour, local.isoweekday() - 1, 1]
    assert data == {"ratings": [cell], "bad": [cell]}
    assert (await people["department"].get("/console/dashboard/heatmap")).status_code == 403


async def test_the_trend_fragment_adds_up_to_the_overview(people, client, centre):
    year = datetime.now(BUSINESS_TZ).year  # the centre's ratings are rated now
    page = await people["reader"].get(f"/console/dashboard?kind=year&year={year}")
    query = re.search(r'hx-get="/console/dashboard/trend\?([^"]+)"', page.text).group(1)
    fragment = await people["reader"].get(f"/console/dashboard/trend?{html.unescape(query)}")
    trend = json.loads(html.unescape(re.search(r'data-trend="([^"]*)"', fragment.text).group(1)))
    assert trend["labels"] == [f"{year}-{m:02d}" for m in range(1, 13)]
    overview = await client.get(
        f"/v1/stats/overview?period={year}", headers=auth(centre.keys["admin"])
    )
    assert sum(trend["counted"]) == overview.json()["ratings"]["counted"] == 1
    assert sum(trend["bad"]) == overview.json()["ratings"]["bad"] == 1
