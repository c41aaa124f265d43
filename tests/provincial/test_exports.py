"""The GB/T 39046 export's codes, and rectification results pushed to a platform."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import httpx

from app.notify.dispatcher import RetryPolicy
from app.provincial.profile import load
from app.provincial.push import feed, send_due
from tests.fixtures.factories import auth, make_key
from tests.provincial.conftest import T0, doc


async def _post(client, headers, document):
    response = await client.post(
        "/v1/provincial/ratings?profile=zhejiang", json=document, headers=headers
    )
    assert response.status_code == 201, response.text
    return response.json()


async def test_gbt39046_codes_are_the_reverse_of_satisfaction(client, admin, province):
    await _post(client, province, doc("G5", satisfaction=5, assessTime="2026-10-09 00:05:00"))
    await _post(client, province, doc("G1", satisfaction=1, userName=None, userProp=None))
    await _post(client, province, doc("G3", satisfaction=3, pf=6, assessNumber=1))
    response = await client.get("/v1/exports/gbt39046?period=2026-10&format=jsonl", headers=admin)
    assert response.status_code == 200, response.text
    rows = {r["办件编号"]: r for r in map(json.loads, response.text.splitlines())}
    # 非常满意: satisfaction 5 in the interfaces, 满意度代码 1 in GB/T 39046 (table A.8)
    assert rows["G5"]["满意度代码"] == 1 and rows["G1"]["满意度代码"] == 5
    assert rows["G3"]["满意度代码"] == 3
    assert rows["G5"]["评价时间"] == "20261009T000500"  # Beijing time, the standard's form
    assert rows["G5"]["评价人"] != "张三" and rows["G5"]["评价人"].startswith("张")
    assert rows["G1"]["评价人"] is None
    assert (rows["G3"]["评价渠道"], rows["G3"]["评价次数"]) == (7, 1)  # zhejiang 6 短信 = our sms
    csv_response = await client.get(
        "/v1/exports/gbt39046?period=2026Q4&area_code=330106", headers=admin
    )
    assert csv_response.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(csv_response.text.lstrip("\ufeff"))))
    assert list(table[0]) == [
        "办件编号",
        "评价渠道",
        "评价人",
        "评价时间",
        "评价次数",
        "满意度代码",
        "文字评价",
        "行政区划",
    ]
    by_case = {r["办件编号"]: r for r in table}
    assert by_case["G5"]["满意度代码"] == "1" and by_case["G1"]["满意度代码"] == "5"
    assert by_case["G5"]["行政区划"] == "330106"
    bad = await client.get("/v1/exports/gbt39046?period=2026Q5", headers=admin)
    assert bad.status_code == 422
    assert (
        await client.get("/v1/exports/gbt39046?period=2026", headers=province)
    ).status_code == 403


async def test_a_closed_work_orders_result_is_pushed(app, client, admin, province, platform):
    platform.start()
    body = {
        "name": "省平台",
        "url": platform.url,
        "profile": "zhejiang",
        "events": ["rectifications"],
    }
    target = (await client.post("/v1/provincial/targets", json=body, headers=admin)).json()
    await _post(client, province, doc("W1", satisfaction=1, userName=None, userProp=None))
    (ticket,) = (await client.get("/v1/tickets", headers=admin)).json()["items"]
    department = auth(await make_key(app, "department", department_code="SJ"))
    for action, extra in (
        ("contact", {}),
        ("verify", {"substantiated": False, "note": "经核查不属实"}),
        ("close", {}),
    ):
        response = await client.post(
            f"/v1/tickets/{ticket['id']}/actions",
            json={"action": action, **extra},
            headers=department,
        )
        assert response.status_code == 200, response.text
    now = T0 + timedelta(minutes=1)
    async with httpx.AsyncClient(timeout=2) as http:
        for _ in range(2):  # the second round finds nothing new
            await feed(app.state.sessionmaker, now=now, lag=timedelta(seconds=30))
            await send_due(app.state.sessionmaker, http, load(), now=now, retry=RetryPolicy())
    (document,) = platform.platform.received
    assert set(load()["zhejiang"].push.rectification_fields) <= set(document)
    assert (document["projectNo"], document["workOrderNo"]) == ("W1", str(ticket["id"]))
    assert document["rectifyTime"].startswith("2026-10-09 ")
    items = await client.get(f"/v1/provincial/targets/{target['id']}/items", headers=admin)
    assert [i["kind"] for i in items.json()] == ["rectification"]
