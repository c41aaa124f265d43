"""Statistics through the API on real PostgreSQL: the seeds' figures, the Asia/Shanghai
quarter boundary, the roll-up (exact before, during and after), roles and exports."""

from __future__ import annotations

import csv
import io
import itertools

import pytest
from openpyxl import load_workbook
from sqlalchemy import text

from app.ratings import service as ratings_service
from app.stats import rollup
from app.stats.schemas import DepartmentDetail, DepartmentTable, Overview, Reasons
from app.stats.service import stop_rollup_loop
from tests.conftest import auth, make_key

_ids = itertools.count(1)


@pytest.fixture(autouse=True)
async def no_background_rollup(app):
    """The tests drive the roll-up themselves."""
    await stop_rollup_loop(app)


def event(department, level, rated_at, **extra):
    return {
        "event_id": f"ev-{next(_ids)}",
        "channel": extra.pop("channel", "window_device"),
        "department_code": department,
        "level": level,
        "rated_at": rated_at,
        **extra,
    }


async def post_all(client, headers, events):
    for start in range(0, len(events), 1000):
        r = await client.post(
            "/v1/ratings/batch", json={"events": events[start : start + 1000]}, headers=headers
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["created"] == len(events[start : start + 1000]), body["results"][:3]
    return body


async def import_departments(client, admin, departments):
    r = await client.post(
        "/v1/departments/import",
        json={"departments": [{"code": c, "name": n} for c, n in departments]},
        headers=admin,
    )
    assert r.status_code == 200, r.text


async def roll_up(app):
    return await rollup.roll_up(app.state.engine, wait_seconds=10)


async def set_status(app, rating_id, status):
    async with app.state.sessionmaker() as session:
        await ratings_service.set_status(session, rating_id, status)
        await session.commit()


def contract(model, response) -> dict:
    """The body, checked to be what the route's response model would have produced: the
    figures are serialised directly, without validation on each call."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert model.model_validate(body).model_dump(mode="json", by_alias=True) == body
    return body


# --- seed 000: Yueyang 2023Q1, 500 valid samples ---------------------------------------------

# (code, name, counted, 差评) → 20 at 100%, 5 in 90-100, 8 in 80-90, 2 below 80; 51 差评.
YUEYANG = [
    ("RSJ", "人社局", 52, 11),
    ("YJJ", "应急局", 5, 2),
    ("SJJ", "市监局", 60, 9),
    ("GAJ", "公安局", 55, 7),
    ("CGJ", "城管局", 35, 5),
    ("KJJ", "科技局", 12, 2),
    ("FGW", "发改委", 11, 2),
    ("XFZD", "消防支队", 12, 2),
    ("SWJT", "水务集团", 13, 2),
    ("YBJ", "医保局", 20, 3),
    ("BDC", "不动产", 40, 2),
    ("ZJJ", "住建局", 38, 1),
    ("SWJ", "税务局", 32, 1),
    ("GJJ", "公积金", 20, 1),
    ("ZGJ", "资规局", 15, 1),
    *[
        (f"D{i:02d}", name, 5, 0)
        for i, name in enumerate(
            ["交通局", "卫健委", "生态环境局", "水利局", "有线电视网络公司", "财政局"]
            + ["国网电力公司", "华润燃气", "国动办"]
        )
    ],
    *[
        (f"E{i:02d}", name, 5 if i == 0 else 3, 0)
        for i, name in enumerate(
            ["商务局", "烟草专卖局", "农业农村局", "气象局", "民政局", "教体局", "司法局"]
            + ["林业局", "工信局", "文旅广电局", "中铁公司"]
        )
    ],
]


def yueyang_events():
    """500 valid samples: enterprises 223 (20 不满意), individuals 277 (31 不满意)."""
    assert sum(n for *_, n, _ in YUEYANG) == 500 and sum(b for *_, b in YUEYANG) == 51
    bad_types = iter(["enterprise"] * 20 + ["individual"] * 31)
    good_types = iter(["enterprise"] * 203 + ["individual"] * 246)
    levels = itertools.cycle([5, 5, 5, 4, 4, 3])
    days = itertools.cycle(
        ["2023-01-01T00:10:00+08:00", "2023-02-14T10:00:00+08:00", "2023-03-31T23:59:00+08:00"]
    )
    events = []
    for code, _, counted, bad in YUEYANG:
        for i in range(counted):
            is_bad = i < bad
            rater = {"type": next(bad_types if is_bad else good_types)}
            events.append(
                event(
                    code,
                    2 if is_bad else next(levels),
                    next(days),
                    channel="phone_callback" if i % 2 else "onsite_survey",
                    rater=rater,
                    tags=["attitude", "notification"] if is_bad and i % 2 else [],
                    window_no="A01",
                    staff_id=f"{code}-{i % 3}",
                )
            )
    return events


def check_yueyang(overview):
    ratings = overview["ratings"]
    assert ratings["counted"] == 500
    assert ratings["bad"] == 51 and ratings["good"] == 449
    assert ratings["good_rate"] == 89.8 and ratings["bad_rate"] == 10.2
    assert ratings["by_level"]["2"] == 51 and ratings["by_level"]["1"] == 0
    assert overview["by_rater_type"]["enterprise"]["counted"] == 223
    assert overview["by_rater_type"]["enterprise"]["good_rate"] == 91.03
    assert overview["by_rater_type"]["individual"]["counted"] == 277
    assert overview["by_rater_type"]["individual"]["good_rate"] == 88.81
    assert overview["by_rater_type"]["anonymous"]["good_rate"] is None
    assert overview["departments_rated"] == 35


async def test_seed_000_yueyang_2023q1(app, client, admin):
    await import_departments(client, admin, [(c, n) for c, n, *_ in YUEYANG])
    events = yueyang_events()
    # Outside the quarter on both sides, in Beijing time (the first is 2022 in UTC too;
    # the second is 2023-03-31 in UTC but 2023Q2 in Beijing).
    outside = [
        event("RSJ", 1, "2022-12-31T23:59:00+08:00"),
        event("RSJ", 1, "2023-04-01T00:00:00+08:00"),
    ]
    # 94 phone-callback samples that reached nobody: recorded, then invalidated.
    invalid = [event("GAJ", 1, "2023-03-01T09:00:00+08:00") for _ in range(94)]
    # Two 差评 that their raters withdrew after an explanation.
    withdrawn = [event("SJJ", 1, "2023-01-05T09:00:00+08:00", tags=["waiting"]) for _ in range(2)]
    await post_all(client, admin, events[:250] + invalid[:50] + withdrawn[:1])
    assert await roll_up(app) == 301
    await post_all(client, admin, events[250:] + outside + invalid[50:] + withdrawn[1:])
    async with app.state.engine.connect() as conn:
        rows = (
            await conn.execute(text("SELECT id, department_code, level FROM rating ORDER BY id"))
        ).all()
    gaj_bad = [r.id for r in rows if r.department_code == "GAJ" and r.level == 1]
    sjj_bad = [r.id for r in rows if r.department_code == "SJJ" and r.level == 1]
    assert len(gaj_bad) == 94 and len(sjj_bad) == 2
    # Half of the changes hit rolled-up ratings, half the raw tail.
    for rating_id in gaj_bad:
        await set_status(app, rating_id, "invalidated")
    await set_status(app, sjj_bad[0], "withdrawn")
    await set_status(app, sjj_bad[1], "withdrawn")

    r = await client.get("/v1/stats/overview", params={"period": "2023Q1"}, headers=admin)
    before = contract(Overview, r)
    check_yueyang(before)
    assert before["ratings"]["invalidated"] == 94 and before["ratings"]["withdrawn"] == 2
    assert before["period"] == {
        "label": "2023Q1",
        "from": "2023-01-01T00:00:00+08:00",
        "to": "2023-04-01T00:00:00+08:00",
    }
    assert await roll_up(app) > 0
    r = await client.get("/v1/stats/overview", params={"period": "2023Q1"}, headers=admin)
    assert r.json() == before
    # by month and by from/to give the same sums
    monthly = [
        (await client.get("/v1/stats/overview", params={"period": m}, headers=admin)).json()
        for m in ("2023-01", "2023-02", "2023-03")
    ]
    assert sum(m["ratings"]["counted"] for m in monthly) == 500
    r = await client.get(
        "/v1/stats/overview", params={"from": "2023-01-01", "to": "2023-03-31"}, headers=admin
    )
    assert r.json()["ratings"] == before["ratings"]
    # the rating at 2023-04-01T00:00+08:00 is Q2's, the one at 2022-12-31T23:59+08:00 is 2022's
    q2 = (await client.get("/v1/stats/overview", params={"period": "2023Q2"}, headers=admin)).json()
    assert q2["ratings"]["counted"] == 1 and q2["ratings"]["by_level"]["1"] == 1
    y22 = (await client.get("/v1/stats/overview", params={"period": "2022"}, headers=admin)).json()
    assert y22["ratings"]["counted"] == 1

    # the department table: bands and ranks as the report prints them
    r = await client.get("/v1/stats/departments", params={"period": "2023Q1"}, headers=admin)
    table = contract(DepartmentTable, r)
    assert table["bands"] == {"100": 20, "90-100": 5, "80-90": 8, "below-80": 2}
    rows = {d["code"]: d for d in table["departments"]}
    assert rows["RSJ"]["band"] == "below-80" and rows["RSJ"]["ratings"]["bad"] == 11
    assert rows["RSJ"]["ratings"]["good_rate"] == 78.85
    assert rows["SJJ"]["ratings"]["withdrawn"] == 2 and rows["SJJ"]["ratings"]["bad"] == 9
    assert rows["GAJ"]["ratings"]["invalidated"] == 94
    assert [d["rank"] for d in table["departments"]][:11] == [1] * 10 + [11]
    # at 100%, the larger volume ranks first; equal rate and volume share a rank
    assert rows["D00"]["rank"] == rows["E00"]["rank"] == 1
    assert rows["E01"]["rank"] == 11  # ten departments at 100% with 5 ratings, then 3s
    assert table["departments"][-1]["code"] == "YJJ"
    assert rows["YJJ"]["rank"] == 35
    r = await client.get(
        "/v1/stats/departments",
        params={"period": "2023Q1", "min_sample": 30, "sort": "bad"},
        headers=admin,
    )
    codes = [d["code"] for d in r.json()["departments"]]
    assert codes[:3] == ["RSJ", "SJJ", "GAJ"] and len(codes) == 7
    r = await client.get(
        "/v1/stats/departments",
        params={"period": "2023Q1", "rater_type": "enterprise", "channel": "onsite_survey"},
        headers=admin,
    )
    filtered = contract(DepartmentTable, r)["departments"]
    assert sum(d["ratings"]["counted"] for d in filtered) < 223

    # one department: trend, windows, staff, reasons
    r = await client.get("/v1/stats/departments/RSJ", params={"period": "2023Q1"}, headers=admin)
    detail = contract(DepartmentDetail, r)
    assert detail["ratings"] == rows["RSJ"]["ratings"] and detail["band"] == "below-80"
    assert [m["month"] for m in detail["trend"]] == ["2023-01", "2023-02", "2023-03"]
    assert sum(m["ratings"]["counted"] for m in detail["trend"]) == 52
    assert detail["windows"][0]["window_no"] == "A01"
    assert detail["windows"][0]["ratings"]["counted"] == 52
    assert sum(s["ratings"]["counted"] for s in detail["staff"]) == 52
    assert {s["staff_id"] for s in detail["staff"]} == {"RSJ-0", "RSJ-1", "RSJ-2"}
    assert detail["reasons"][0]["count"] == 5 and detail["reasons"][0]["name"] in (
        "服务态度差",
        "一次性告知不到位",
    )
    # reasons: counted 差评 only (the withdrawn SJJ waits are not counted)
    r = await client.get("/v1/stats/reasons", params={"period": "2023Q1"}, headers=admin)
    reasons = contract(Reasons, r)
    assert reasons["bad"] == 51
    assert {x["tag"]: x["count"] for x in reasons["reasons"]} == {
        "attitude": 21,
        "notification": 21,
    }
    assert reasons["departments"][0]["code"] == "RSJ"

    # exports, CSV and XLSX, by format= and by Accept
    r = await client.get(
        "/v1/stats/departments", params={"period": "2023Q1", "format": "csv"}, headers=admin
    )
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    parsed = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert len(parsed) == 35
    by_code = {p["部门编码"]: p for p in parsed}
    assert by_code["RSJ"]["部门名称"] == "人社局"
    assert by_code["RSJ"]["有效评价数"] == "52" and by_code["RSJ"]["差评数"] == "11"
    assert by_code["RSJ"]["好评率(%)"] == "78.85" and by_code["D00"]["好评率(%)"] == "100.00"
    assert by_code["RSJ"]["满意度档次"] == "低于80%"
    r = await client.get(
        "/v1/stats/departments",
        params={"period": "2023Q1"},
        headers={
            **admin,
            "Accept": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        },
    )
    assert r.status_code == 200
    sheet = load_workbook(io.BytesIO(r.content)).active
    values = list(sheet.values)
    assert values[0][:4] == ("排名", "部门编码", "部门名称", "有效评价数")
    headings = values[0]
    xlsx_rows = {row[1]: dict(zip(headings, row, strict=True)) for row in values[1:]}
    assert xlsx_rows["SJJ"]["有效评价数"] == 60 and xlsx_rows["SJJ"]["不满意"] == 9
    assert xlsx_rows["SJJ"]["好评率(%)"] == 85.0 and xlsx_rows["SJJ"]["撤回评价数"] == 2
    assert len(xlsx_rows) == 35


# --- seed 002: Shihe 2023Q4, 94,364 ratings --------------------------------------------------


async def test_seed_002_shihe_2023q4_through_the_batch_endpoint(app, client, admin):
    await import_departments(
        client, admin, [(f"SH{i:02d}", f"浉河区窗口单位{i}") for i in range(32)]
    )
    levels = [5] * 94_349 + [4] * 11 + [3] * 4
    start = 1696089600  # 2023-10-01T00:00+08:00
    span = 92 * 86400
    events = [
        {
            "event_id": f"sh-{i}",
            "channel": "window_device",
            "department_code": f"SH{i % 32:02d}",
            "level": level,
            "rated_at": _iso(start + (i * 7919) % span),
        }
        for i, level in enumerate(levels)
    ]
    await post_all(client, admin, events[:60_000])
    await roll_up(app)
    await post_all(client, admin, events[60_000:])
    r = await client.get("/v1/stats/overview", params={"period": "2023Q4"}, headers=admin)
    assert r.status_code == 200, r.text
    ratings = r.json()["ratings"]
    assert ratings["counted"] == 94_364
    assert ratings["by_level"] == {"5": 94_349, "4": 11, "3": 4, "2": 0, "1": 0}
    assert ratings["good_rate"] == 100 and ratings["bad"] == 0 and ratings["bad_rate"] == 0
    assert r.json()["departments_rated"] == 32
    table = (
        await client.get("/v1/stats/departments", params={"period": "2023Q4"}, headers=admin)
    ).json()
    assert table["bands"]["100"] + table["bands"]["90-100"] == 32


def _iso(epoch: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch, UTC).isoformat()


# --- roles and errors ------------------------------------------------------------------------


async def test_roles_and_bad_periods(app, client, admin):
    await import_departments(client, admin, [("RSJ", "人社局"), ("SJJ", "市监局")])
    await post_all(
        client,
        admin,
        [event("RSJ", 5, "2023-10-02T09:00:00+08:00"), event("SJJ", 1, "2023-10-02T09:00+08:00")],
    )
    own = auth(await make_key(app, "department", department_code="RSJ"))
    reader = auth(await make_key(app, "reader"))
    portal = auth(await make_key(app, "portal"))
    q = {"period": "2023Q4"}
    r = await client.get("/v1/stats/overview", params=q, headers=own)
    assert r.status_code == 200 and r.json()["ratings"]["counted"] == 2  # centre totals
    r = await client.get("/v1/stats/departments", params=q, headers=own)
    assert [d["code"] for d in r.json()["departments"]] == ["RSJ"]
    assert r.json()["departments"][0]["rank"] == 1
    assert (await client.get("/v1/stats/departments/RSJ", params=q, headers=own)).status_code == 200
    r = await client.get("/v1/stats/departments/SJJ", params=q, headers=own)
    assert r.status_code == 403
    r = await client.get("/v1/stats/reasons", params=q, headers=own)
    assert r.status_code == 200 and r.json()["departments"] == []
    r = await client.get("/v1/stats/departments", params=q, headers=reader)
    assert len(r.json()["departments"]) == 2
    assert (await client.get("/v1/stats/overview", params=q, headers=portal)).status_code == 403
    assert (await client.get("/v1/stats/overview", params=q)).status_code == 401
    assert (
        await client.get("/v1/stats/departments/XX", params=q, headers=admin)
    ).status_code == 404
    for params, field in [
        ({"period": "2023Q5"}, "query.period"),
        ({}, "query.period"),
        ({"from": "2023-10-01"}, "query.to"),
        ({"from": "2023-10-01", "to": "2023-09-01"}, "query.to"),
    ]:
        r = await client.get("/v1/stats/overview", params=params, headers=admin)
        assert r.status_code == 422, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["errors"][0]["field"] == field


async def test_empty_period_has_null_rates(client, admin):
    r = await client.get("/v1/stats/overview", params={"period": "2024-02"}, headers=admin)
    assert r.status_code == 200
    ratings = r.json()["ratings"]
    assert ratings["counted"] == 0 and ratings["good_rate"] is None and ratings["bad_rate"] is None
    assert ratings["by_level"] == {"5": 0, "4": 0, "3": 0, "2": 0, "1": 0}


async def test_work_order_figures_beside_the_ratings(app, client, admin):
    """Every 差评 opens a work order; the figures count the orders opened in the period."""
    from datetime import UTC, datetime

    from app.config import BUSINESS_TZ

    await import_departments(client, admin, [("RSJ", "人社局"), ("SJJ", "市监局")])
    now = datetime.now(UTC)
    await post_all(
        client,
        admin,
        [
            event("RSJ", 1, now.isoformat(), tags=["attitude"]),
            event("RSJ", 2, now.isoformat(), rater={"type": "individual", "phone": "13812345678"}),
            event("SJJ", 5, now.isoformat()),
        ],
    )
    month = now.astimezone(BUSINESS_TZ).strftime("%Y-%m")
    overview = contract(
        Overview, await client.get("/v1/stats/overview", params={"period": month}, headers=admin)
    )
    assert overview["ratings"]["bad"] == 2
    workorders, complaints = overview["workorders"], overview["complaints"]
    assert set(complaints) >= {"received", "closed"}
    assert {"opened", "closed", "rectification_rate", "on_time_rate"} <= set(workorders)
    table = contract(
        DepartmentTable,
        await client.get("/v1/stats/departments", params={"period": month}, headers=admin),
    )
    rows = {d["code"]: d for d in table["departments"]}
    from app.workorders import service as workorders_service

    if hasattr(workorders_service, "figures"):
        assert workorders["opened"] == 2 and workorders["closed"] == 0
        assert workorders["rectification_rate"] == 0.0
        assert rows["RSJ"]["workorders"]["opened"] == 2
        assert rows["SJJ"]["workorders"]["opened"] == 0
        assert rows["SJJ"]["workorders"]["rectification_rate"] is None
    else:
        assert workorders["opened"] == 0 and workorders["rectification_rate"] is None
