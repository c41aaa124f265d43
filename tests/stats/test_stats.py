"""Statistics through the API on real PostgreSQL: the seeds' figures, the Asia/Shanghai
quarter boundary, the roll-up (exact before, during and after), roles and exports."""

from __future__ import annotations

import csv
import io
import itertools
from datetime import UTC, datetime, timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy import text

from app.stats import exports
from app.stats.schemas import (
    DepartmentDetail,
    DepartmentTable,
    OrderFigures,
    Overview,
    RatingsBlock,
    Reasons,
)
from tests.fixtures.factories import auth, make_key
from tests.fixtures.stats import (
    check_shape,
    contract,
    event,
    import_departments,
    post_all,
    roll_up,
    set_status,
    sheet_rows,
)

pytestmark = pytest.mark.usefixtures("no_background_rollup")

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
    assert before["ratings"]["invalidated_on_appeal"] == 94 and before["ratings"]["withdrawn"] == 2
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
    assert rows["GAJ"]["ratings"]["invalidated_on_appeal"] == 94
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
    assert by_code["GAJ"]["申诉核销评价数"] == "94" and by_code["SJJ"]["撤回评价数"] == "2"
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
    assert values[0][0] == "政务服务中心 部门满意度 2023Q1"  # the title row
    assert values[1][:4] == ("排名", "部门编码", "部门名称", "有效评价数")
    headings = values[1]
    xlsx_rows = {row[1]: dict(zip(headings, row, strict=True)) for row in values[2:-1]}
    assert xlsx_rows["SJJ"]["有效评价数"] == 60 and xlsx_rows["SJJ"]["不满意"] == 9
    assert xlsx_rows["SJJ"]["好评率(%)"] == 85.0 and xlsx_rows["SJJ"]["撤回评价数"] == 2
    assert len(xlsx_rows) == 35
    # the totals row: counts summed, each rate taken again on the sums
    total = dict(zip(headings, values[-1], strict=True))
    assert total["排名"] == "合计" and total["有效评价数"] == 500 and total["好评率(%)"] == 89.8
    assert total["申诉核销评价数"] == 94 and total["差评工单数"] == sum(
        row["差评工单数"] for row in xlsx_rows.values()
    )
    assert "差评回访满意率(%)" in headings and "投诉回访满意率(%)" in headings


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

    assert all(b["flagged"] == 0 for b in r.json()["by_channel"].values())
    for kind in ("rating", "complaint", "inspection"):
        orders = r.json()["workorders"][kind]
        assert orders["counted"] == 0 and orders["rectification_rate"] is None
        assert orders["on_time_rate"] is None and orders["real_name_callback_rate"] is None


# --- one shape for the figures ---------------------------------------------------------------


def test_headings_name_each_figure_once():
    rating_fields = [name for name, _ in exports.RATING_HEADINGS]
    assert [f.replace("by_level.", "") for f in rating_fields if f.startswith("by_level.")] == [
        "5", "4", "3", "2", "1"
    ]  # fmt: skip
    assert [f for f in rating_fields if not f.startswith("by_level.")] == [
        f for f in RatingsBlock.model_fields if f != "by_level"
    ]
    assert [name for name, _ in exports.order_headings("rating")] == list(OrderFigures.model_fields)
    headings = [h for _, h in exports.RATING_HEADINGS] + [
        h for kind in exports.ORDER_KINDS for _, h in exports.order_headings(kind)
    ]
    assert len(headings) == len(set(headings))
    named = dict(exports.order_headings("rating"))
    assert named["counted"] == "差评工单数" and named["rectification_rate"] == "差评整改率(%)"
    assert named["real_name_callback_rate"] == "实名差评回访率(%)"
    assert dict(exports.order_headings("complaint"))["counted"] == "投诉工单数"


T = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)  # a Tuesday, 10:00 in Beijing


async def test_work_orders_counted_apart_each_rate_beside_its_counts(app, client, admin, clock):
    """差评, 12345 投诉 and 督查 orders apart in JSON, CSV and XLSX; 差评整改率 and 按期整改率
    on the set counted beside them; no fraction duplicates; flagged a number everywhere."""
    clock.set(T)
    await import_departments(client, admin, [("RSJ", "人社局"), ("SJJ", "市监局")])
    before = (T - timedelta(hours=1)).isoformat()
    real_name = {"rater": {"type": "individual", "name": "张三", "phone": "13812345678"}}
    await post_all(
        client,
        admin,
        [
            event("RSJ", 1, before, tags=["attitude"]),
            event("RSJ", 2, before),
            event("RSJ", 1, before, **real_name),
            event("RSJ", 2, before, **real_name),
            # the third identical rating at a window within two minutes is flagged
            *[
                event("SJJ", 5, before, channel="onsite_survey", window_no="A01",
                      rater={"type": "enterprise"})
                for _ in range(3)
            ],
        ],
    )  # fmt: skip
    hotline = auth(await make_key(app, "hotline", "12345"))
    r = await client.post(
        "/v1/complaints",
        json={"order_no": "12345-S1", "department_code": "RSJ", "content": "窗口推诿",
              "received_at": before},
        headers=hotline,
    )  # fmt: skip
    assert r.status_code == 201, r.text
    r = await client.post(
        "/v1/tickets", json={"department_code": "SJJ", "summary": "暗访: 窗口无人"}, headers=admin
    )
    assert r.status_code == 201, r.text
    tickets = (
        await client.get(
            "/v1/tickets", params={"source": "rating", "sort": "newest"}, headers=admin
        )
    ).json()["items"]
    anonymous = sorted(t["id"] for t in tickets if not t["real_name"])
    assert len(tickets) == 4 and len(anonymous) == 2
    for action, body in (
        ("contact", {}),
        ("verify", {"substantiated": True}),
        ("rectify", {"note": "已整改"}),
        ("close", {}),
    ):
        r = await client.post(
            f"/v1/tickets/{anonymous[0]}/actions", json={"action": action, **body}, headers=admin
        )
        assert r.status_code == 200, r.text
    evidence = {"kind": "rater_request", "requested_at": T.isoformat(), "note": "书面申请撤回"}
    r = await client.post(
        f"/v1/tickets/{anonymous[1]}/actions",
        json={"action": "withdraw", "note": "评价人撤回", "evidence": evidence},
        headers=admin,
    )
    assert r.status_code == 200, r.text
    # the real-name ones: a withdrawal asked for and refused, an appeal rejected (both open)
    rsj = auth(await make_key(app, "department", department_code="RSJ"))
    named = sorted(t["id"] for t in tickets if t["real_name"])
    callback = {"kind": "callback", "called_at": T.isoformat(), "note": "评价人说同意撤回"}
    for tid, key, body in (
        (named[0], rsj, {"action": "request_withdrawal", "evidence": callback}),
        (named[0], admin, {"action": "refuse_withdrawal", "note": "录音中未表示撤回"}),
        (named[1], rsj, {"action": "appeal", "note": "误评"}),
        (named[1], admin, {"action": "reject", "note": "证据不足"}),
    ):
        r = await client.post(f"/v1/tickets/{tid}/actions", json=body, headers=key)
        assert r.status_code == 200, r.text

    q = {"period": "2026-03"}
    overview = contract(Overview, await client.get("/v1/stats/overview", params=q, headers=admin))
    assert check_shape(overview) == 1 + 3 + 9 + 3
    assert "complaints" not in overview and "rates" not in overview["workorders"]["rating"]
    rating = overview["workorders"]["rating"]
    assert (rating["opened"], rating["withdrawn"], rating["counted"], rating["closed"]) == (
        4,
        1,
        3,
        1,
    )
    assert rating["rectification_rate"] == 33.33  # 1 / 3, not 1 / 4 nor a fraction 0.333
    assert (rating["deadline_due"], rating["on_time"], rating["on_time_rate"]) == (1, 1, 100.0)
    assert (rating["real_name"], rating["real_name_called_back"]) == (2, 0)
    assert rating["real_name_callback_rate"] == 0.0
    # who asked for what: a supervisor sees the department's requests and their fate
    assert (rating["withdrawal_requested"], rating["withdrawal_refused"]) == (1, 1)
    assert (rating["appealed"], rating["appeal_upheld"], rating["appeal_rejected"]) == (1, 0, 1)
    complaint, inspection = (
        overview["workorders"]["complaint"],
        overview["workorders"]["inspection"],
    )
    assert (complaint["opened"], complaint["counted"], complaint["closed"]) == (1, 1, 0)
    assert (inspection["opened"], inspection["counted"]) == (1, 1)
    assert overview["ratings"]["bad"] == 3 and overview["ratings"]["withdrawn"] == 1
    # flagged: a number in every block, the flagged rating counted in its own sub-blocks
    assert overview["ratings"]["flagged"] == 1
    assert overview["by_channel"]["onsite_survey"]["flagged"] == 1
    assert overview["by_channel"]["window_device"]["flagged"] == 0
    assert overview["by_rater_type"]["enterprise"]["flagged"] == 1
    assert overview["by_rater_type"]["anonymous"]["flagged"] == 0

    r = await client.get("/v1/stats/departments", params=q, headers=admin)
    table = contract(DepartmentTable, r)
    assert check_shape(table) == 2 * 4
    rows = {d["code"]: d for d in table["departments"]}
    assert rows["RSJ"]["workorders"]["rating"] == rating
    assert rows["RSJ"]["workorders"]["complaint"]["counted"] == 1
    assert rows["SJJ"]["workorders"]["inspection"]["counted"] == 1
    assert rows["SJJ"]["ratings"]["flagged"] == 1 and rows["RSJ"]["ratings"]["flagged"] == 0
    detail = contract(
        DepartmentDetail,
        await client.get("/v1/stats/departments/SJJ", params=q, headers=admin),
    )
    assert check_shape(detail) == 1 + 3 + 9 + 1 + 1 + 1 + 3  # trend 1, window 1, staff 1
    assert detail["windows"][0]["ratings"]["flagged"] == 1
    assert detail["trend"][0]["ratings"]["flagged"] == 1
    assert detail["by_channel"]["onsite_survey"]["flagged"] == 1

    # the sheets: the same names and the same sets (the 12345 complaint is not a 差评 order)
    for kind in ("csv", "xlsx"):
        r = await client.get("/v1/stats/departments", params={**q, "format": kind}, headers=admin)
        assert r.status_code == 200
        sheet = {row["部门编码"]: row for row in sheet_rows(r.content, kind)}
        rsj, sjj = sheet["RSJ"], sheet["SJJ"]
        cast = str if kind == "csv" else (lambda v: v)
        assert rsj["差评工单数"] == cast(3) and rsj["差评工单办结数"] == cast(1)
        assert rsj["差评工单撤回数"] == cast(1) and rsj["投诉工单数"] == cast(1)
        assert rsj["差评整改率(%)"] == ("33.33" if kind == "csv" else 33.33)
        assert rsj["差评按期整改率(%)"] == ("100.00" if kind == "csv" else 100.0)
        assert sjj["督查工单数"] == cast(1) and sjj["差评工单数"] == cast(0)
        assert sjj["差评整改率(%)"] in ("", None) and sjj["疑似异常评价数"] == cast(1)
        assert "rates" not in " ".join(sheet["RSJ"]) and "督查工单撤回数" not in rsj
        assert rsj["差评工单撤回申请数"] == cast(1) and rsj["差评工单撤回驳回数"] == cast(1)
        assert rsj["差评工单申诉数"] == cast(1) and rsj["差评工单申诉驳回数"] == cast(1)
        assert rsj["差评工单申诉核销数"] == cast(0) and "投诉工单申诉数" not in rsj

    # a month on, at the clock: the open orders' deadlines have passed
    clock.advance(timedelta(days=30))
    later = (await client.get("/v1/stats/overview", params=q, headers=admin)).json()
    check_shape(later)
    rating = later["workorders"]["rating"]
    assert (rating["deadline_due"], rating["on_time"], rating["overdue_now"]) == (3, 1, 2)
    assert rating["on_time_rate"] == 33.33
    assert later["workorders"]["complaint"]["overdue_now"] == 1


# --- formats ---------------------------------------------------------------------------------

STATS_PATHS = (
    "/v1/stats/overview",
    "/v1/stats/departments",
    "/v1/stats/departments/RSJ",
    "/v1/stats/reasons",
)


async def test_every_stats_endpoint_gives_json_csv_xlsx_or_refuses(client, admin):
    await import_departments(client, admin, [("RSJ", "人社局"), ("SJJ", "市监局")])
    await post_all(
        client,
        admin,
        [
            event("RSJ", 5, "2023-10-02T09:00:00+08:00", channel="pc"),
            event("RSJ", 1, "2023-10-02T09:00:00+08:00", tags=["attitude", "waiting"]),
            event("SJJ", 2, "2023-11-02T09:00:00+08:00"),
        ],
    )
    q = {"period": "2023Q4"}
    xlsx = exports.XLSX_MEDIA_TYPE
    for path in STATS_PATHS:
        as_json = await client.get(path, params=q, headers=admin)
        assert as_json.status_code == 200 and as_json.headers["content-type"] == "application/json"
        for kind, media in (("csv", "text/csv"), ("xlsx", xlsx)):
            by_format = await client.get(path, params={**q, "format": kind}, headers=admin)
            by_accept = await client.get(path, params=q, headers={**admin, "Accept": media})
            for r in (by_format, by_accept):
                assert r.status_code == 200, (path, kind, r.text)
                assert r.headers["content-type"].startswith(media), (path, kind)
                assert f".{kind}" in r.headers["content-disposition"]
                assert sheet_rows(r.content, kind), (path, kind)
        # Accept: the best offered, by q; */* and no Accept at all are JSON
        for accept, media in (
            ("*/*", "application/json"),
            ("text/*", "text/csv"),
            ("application/json;q=0.4, text/csv;q=0.8", "text/csv"),
            (f"application/xml, {xlsx};q=0.2", xlsx),
        ):
            r = await client.get(path, params=q, headers={**admin, "Accept": accept})
            assert r.status_code == 200 and r.headers["content-type"].startswith(media), accept
        # never silent JSON: an unknown format is 422 naming it, an unmet Accept 406
        r = await client.get(path, params={**q, "format": "pdf"}, headers=admin)
        assert r.status_code == 422, (path, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert [e["field"] for e in r.json()["errors"]] == ["query.format"]
        for accept in ("application/pdf", "text/html, application/json;q=0"):
            r = await client.get(path, params=q, headers={**admin, "Accept": accept})
            assert r.status_code == 406, (path, accept, r.text)
            assert r.headers["content-type"].startswith("application/problem+json")
            assert r.json()["errors"][0]["field"] == "header.accept"
            assert "text/csv" in r.json()["offered"]

    # the sheets carry the JSON's figures
    overview = (await client.get(STATS_PATHS[0], params=q, headers=admin)).json()
    rows = sheet_rows(
        (await client.get(STATS_PATHS[0], params={**q, "format": "csv"}, headers=admin)).content,
        "csv",
    )
    assert (
        rows[0]["分组"] == "合计" and rows[0]["有效评价数"] == "3" and rows[0]["参评部门数"] == "2"
    )
    assert rows[0]["差评率(%)"] == f"{overview['ratings']['bad_rate']:.2f}" == "66.67"
    pc = [row for row in rows if row["编码"] == "pc"]
    assert pc[0]["名称"] == "PC端" and pc[0]["好评数"] == "1" and pc[0]["差评工单数"] == ""
    detail = sheet_rows(
        (await client.get(STATS_PATHS[2], params={**q, "format": "xlsx"}, headers=admin)).content,
        "xlsx",
    )
    assert detail[0]["分组"] == "部门合计" and detail[0]["排名"] == 1  # 50% before 0%
    assert detail[0]["差评工单数"] == 1
    assert [r["编码"] for r in detail if r["分组"] == "月份"] == ["2023-10", "2023-11", "2023-12"]
    reasons = sheet_rows(
        (await client.get(STATS_PATHS[3], params={**q, "format": "csv"}, headers=admin)).content,
        "csv",
    )
    overall = {r["原因编码"]: r for r in reasons if r["部门名称"] == "全部部门"}
    assert set(overall) == {"attitude", "waiting"} and overall["attitude"]["差评数"] == "2"
    sjj = [r for r in reasons if r["部门编码"] == "SJJ"]
    assert sjj == [{"部门编码": "SJJ", "部门名称": "市监局", "差评数": "1",
                    "已剔除疑似异常差评数": "0", "原因编码": "", "原因": "",
                    "含此原因的差评数": ""}]  # fmt: skip
