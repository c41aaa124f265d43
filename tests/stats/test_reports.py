"""The report tables (issue 12): windows and staff across the centre, regions, the department
tree, complaints by source and the reason analysis over ratings, complaints and inspections.

Seed-shaped data in 2023Q4 (seed 002: Shihe's windows and staff), half rolled up and half in
the tail, every count compared with a raw query on the ratings."""

from __future__ import annotations

import io

import pytest
from openpyxl import load_workbook
from sqlalchemy import text

from app.stats.schemas import DepartmentTable, Reasons
from app.stats.table_schemas import RegionTable, StaffTable, WindowTable
from tests.fixtures.factories import (
    assert_problem,
    auth,
    make_department,
    make_key,
    make_window,
)
from tests.fixtures.stats import contract, event, post_all, roll_up, set_status, sheet_rows

pytestmark = pytest.mark.usefixtures("no_background_rollup")

Q = {"period": "2023Q4"}
# A tree three levels deep: the centre's 市政务服务中心 ZX, the 市场监管 SJ below it, and its
# 登记科 SJDJ below that; RS elsewhere. Counties of 黄冈市 (421100): 黄州区 421102, 团风县 421121.
TREE = [
    ("ZX", "市政务服务中心", None, "421100"),
    ("SJ", "市场监督管理局", "ZX", "421102"),
    ("SJDJ", "市场监管登记科", "SJ", "421102"),
    ("RS", "人社局", None, "421121"),
    ("GA", "公安局", None, None),
]


async def _tree(client, admin):
    for code, name, parent, region in TREE:
        extra = {"parent_code": parent} if parent else {}
        await make_department(client, admin, code, name, **extra, region_code=region)
    for code, window_no in [("SJ", "A01"), ("SJ", "A02"), ("SJDJ", "B01"), ("RS", "C01"),
                            ("RS", "C02")]:  # fmt: skip
        await make_window(client, admin, code, window_no, f"{code}-{window_no}窗口")


def _ratings():
    """A01: 6 (four 5s, one 4, one 2) with two 服务热情; A02: 6 (tie on volume with A01);
    B01: 3; C01: 2 (one channel apart); quarter edges in Beijing time on both sides."""
    at = "2023-11-0{}T10:00:00+08:00"
    out = []
    for i, level in enumerate([5, 5, 5, 5, 4, 2]):
        tags = ["praise_attitude"] if i < 2 else (["waiting"] if level == 2 else [])
        out.append(event("SJ", level, at.format(i + 1), window_no="A01", staff_id="0001",
                         tags=tags))  # fmt: skip
    for i, level in enumerate([5, 5, 3, 3, 1, 1]):
        out.append(event("SJ", level, at.format(i + 1), window_no="A02", staff_id="0002",
                         tags=["attitude"] if level == 1 else []))  # fmt: skip
    out += [event("SJDJ", 5, at.format(i + 1), window_no="B01", staff_id="9999") for i in range(3)]
    out.append(event("RS", 5, "2023-10-01T00:00:00+08:00", window_no="C01", staff_id="0003"))
    out.append(event("RS", 2, "2023-12-31T23:59:59+08:00", window_no="C01", staff_id="0003",
                     channel="pc"))  # fmt: skip
    # outside 2023Q4 in Beijing (the second is still 2023-12-31 in UTC)
    out.append(event("RS", 1, "2023-09-30T23:59:59+08:00", window_no="C01", staff_id="0003"))
    out.append(event("RS", 1, "2024-01-01T00:00:00+08:00", window_no="C01", staff_id="0003"))
    return out


async def _seed(app, client, admin):
    await _tree(client, admin)
    r = await client.put("/v1/staff/0001", json={"name": "张三", "department_code": "SJ",
                                                 "window_no": "A01"}, headers=admin)  # fmt: skip
    assert r.status_code == 201, r.text
    r = await client.post(
        "/v1/staff/import",
        json={"staff": [{"staff_id": "0002", "name": "李四", "department_code": "SJ"},
                        {"staff_id": "0003", "name": "王五", "department_code": "RS"},
                        {"staff_id": "0404", "name": "赵六", "department_code": "RS"}]},
        headers=admin,
    )  # fmt: skip
    assert r.status_code == 200 and r.json()["created"] == 3, r.text
    events = _ratings()
    await post_all(client, admin, events[:8])
    await roll_up(app)
    await post_all(client, admin, events[8:])  # the tail, above the watermark
    complaints = [
        ("C-1", "SJ", "A01", "0001", "gov_platform", "long_wait"),
        ("C-2", "SJ", "A01", None, None, "service_attitude"),  # source left out: 12345
        ("C-3", "RS", "C01", "0003", "cannot_do_window", None),
    ]
    for order_no, dep, window_no, staff_id, source, category in complaints:
        body = {"order_no": order_no, "department_code": dep, "window_no": window_no,
                "content": "排队太久", "received_at": "2023-11-15T10:00:00+08:00",
                **({"staff_id": staff_id} if staff_id else {}),
                **({"source": source} if source else {}),
                **({"category_code": category} if category else {})}  # fmt: skip
        r = await client.post("/v1/complaints", json=body, headers=admin)
        assert r.status_code == 201, r.text
    r = await client.post(
        "/v1/tickets",
        json={"department_code": "SJ", "summary": "暗访: 窗口无人", "window_no": "A02",
              "staff_id": "0002", "tags": ["discipline", "waiting"],
              "found_at": "2023-12-01T10:00:00+08:00"},
        headers=admin,
    )  # fmt: skip
    assert r.status_code == 201, r.text


async def _raw(app, sql, **params):
    async with app.state.engine.connect() as conn:
        return (await conn.execute(text(sql), params)).all()


async def test_window_and_staff_tables(app, client, admin):
    await _seed(app, client, admin)
    r = await client.get("/v1/stats/windows", params=Q, headers=admin)
    table = contract(WindowTable, r)
    rows = {(w["department_code"], w["window_no"]): w for w in table["windows"]}
    raw = await _raw(
        app,
        "SELECT department_code, window_no, count(*) FILTER (WHERE level = 5), count(*) "
        "FROM rating WHERE status = 'valid' AND rated_at >= '2023-10-01T00:00+08:00' "
        "AND rated_at < '2024-01-01T00:00+08:00' GROUP BY 1, 2",
    )
    assert {(d, w): (rows[(d, w)]["ratings"]["by_level"]["5"], rows[(d, w)]["ratings"]["counted"])
            for d, w, *_ in raw} == {(d, w): (v5, n) for d, w, v5, n in raw}  # fmt: skip
    # every registered window is listed, C02 with nothing
    assert set(rows) == {("SJ", "A01"), ("SJ", "A02"), ("SJDJ", "B01"), ("RS", "C01"),
                         ("RS", "C02")}  # fmt: skip
    a01 = rows[("SJ", "A01")]
    assert a01["name"] == "SJ-A01窗口" and a01["department_name"] == "市场监督管理局"
    assert a01["ratings"]["good_rate"] == 83.33 and a01["ratings"]["bad"] == 1
    assert a01["praise"] == {"praise_attitude": 2, "praise_efficiency": 0,
                             "praise_professional": 0}  # fmt: skip
    assert a01["complaints"] == {
        "counted": 2,
        "by_source": {"hotline_12345": 1, "gov_platform": 1, "cannot_do_window": 0,
                      "onsite": 0, "other": 0},
    }  # fmt: skip
    assert rows[("SJ", "A02")]["inspections"] == 1
    assert rows[("RS", "C01")]["ratings"]["counted"] == 2  # both quarter edges inside, not out
    # ties: A01 and A02 both 6 → 1, 1, then B01 3, C01 2, C02 0; A01 before A02 by code
    order = [(w["window_no"], w["rank"]) for w in table["windows"]]
    assert order == [("A01", 1), ("A02", 1), ("B01", 3), ("C01", 4), ("C02", 5)]
    assert rows[("SJ", "A01")]["sample_group"] == "under_10"
    # by 非常满意, top 2: A01 (4) then A02 and B01 tie at 2 and 3? A02 has 2, B01 has 3
    top = contract(
        WindowTable,
        await client.get(
            "/v1/stats/windows", params={**Q, "sort": "level_5", "limit": 2}, headers=admin
        ),
    )
    assert [(w["window_no"], w["rank"]) for w in top["windows"]] == [("A01", 1), ("B01", 2)]
    assert top["total"] == 5
    by_complaints = contract(
        WindowTable,
        await client.get("/v1/stats/windows", params={**Q, "sort": "complaints"}, headers=admin),
    )
    assert [(w["window_no"], w["rank"]) for w in by_complaints["windows"][:2]] == [
        ("A01", 1),
        ("C01", 2),
    ]
    # sample-size groups: every window has fewer than 10 counted ratings here
    for group, expected in (("under_10", 5), ("10_to_30", 0)):
        grouped = contract(
            WindowTable,
            await client.get(
                "/v1/stats/windows", params={**Q, "sample_group": group}, headers=admin
            ),
        )
        assert (grouped["total"], len(grouped["windows"])) == (expected, expected)
    # a department with its children: SJ and SJDJ (and not RS)
    sub = contract(
        WindowTable,
        await client.get(
            "/v1/stats/windows",
            params={**Q, "department": "SJ", "include_children": "true"},
            headers=admin,
        ),
    )
    assert {w["window_no"] for w in sub["windows"]} == {"A01", "A02", "B01"}
    # a channel filter counts the raw ratings: only C01's pc 差评
    pc = contract(
        WindowTable,
        await client.get("/v1/stats/windows", params={**Q, "channel": "pc"}, headers=admin),
    )
    assert [(w["window_no"], w["ratings"]["counted"]) for w in pc["windows"]
            if w["ratings"]["counted"]] == [("C01", 1)]  # fmt: skip

    staff = contract(StaffTable, await client.get("/v1/stats/staff", params=Q, headers=admin))
    people = {s["staff_id"]: s for s in staff["staff"]}
    assert people["0001"]["name"] == "张三" and people["0001"]["registered"]
    assert people["9999"]["name"] == "9999" and not people["9999"]["registered"]
    assert people["9999"]["department_code"] == "SJDJ"  # where its ratings are
    assert people["0404"]["ratings"]["counted"] == 0  # registered, active, not rated
    assert people["0002"]["inspections"] == 1 and people["0003"]["complaints"]["by_source"][
        "cannot_do_window"] == 1  # fmt: skip
    raw_staff = await _raw(
        app,
        "SELECT staff_id, count(*) FROM rating WHERE status = 'valid' "
        "AND rated_at >= '2023-10-01T00:00+08:00' AND rated_at < '2024-01-01T00:00+08:00' "
        "GROUP BY 1",
    )
    assert {s: people[s]["ratings"]["counted"] for s, _ in raw_staff} == dict(raw_staff)
    best = contract(
        StaffTable,
        await client.get(
            "/v1/stats/staff", params={**Q, "sort": "good_rate", "limit": 1}, headers=admin
        ),
    )
    assert [s["staff_id"] for s in best["staff"]] == ["9999"]  # 100% on 3

    # an empty period: every registered window, nothing counted, all tied
    empty = contract(
        WindowTable,
        await client.get(
            "/v1/stats/windows", params={"period": "2022Q4", "sort": "good_rate"}, headers=admin
        ),
    )
    assert len(empty["windows"]) == 5
    assert all(w["rank"] is None and w["ratings"]["counted"] == 0 for w in empty["windows"])

    # the sheets
    r = await client.get("/v1/stats/windows", params={**Q, "format": "csv"}, headers=admin)
    csv_rows = sheet_rows(r.content, "csv")
    assert csv_rows[0]["窗口号"] == "A01" and csv_rows[0]["表扬-服务热情"] == "2"
    assert csv_rows[0]["投诉数-政务服务平台/国家平台投诉"] == "1"
    r = await client.get("/v1/stats/staff", params={**Q, "format": "xlsx"}, headers=admin)
    assert r.status_code == 200
    values = list(load_workbook(io.BytesIO(r.content)).active.values)
    assert values[0][0] == "政务服务中心 工作人员满意度 2023Q4"
    assert "姓名" in values[1] and "张三" in [row[2] for row in values[2:]]
    total = dict(zip(values[1], values[-1], strict=True))
    # C-2 names no staff member: in no staff row
    assert total["排名"] == "合计" and total["有效评价数"] == 17 and total["投诉数"] == 2
    assert total["好评率(%)"] == 76.47  # 13 of 17, not an average of rates

    # a rolled-up rating withdrawn: its level and its praise tag leave the window's figures
    (rating_id,) = (
        await _raw(app, "SELECT min(id) FROM rating WHERE 'praise_attitude' = ANY(tags)")
    )[0]
    assert rating_id <= (await _raw(app, "SELECT rolled_to FROM rating_rollup_watermark"))[0][0]
    await set_status(app, rating_id, "withdrawn")
    after = contract(
        WindowTable,
        await client.get("/v1/stats/windows", params={**Q, "department": "SJ"}, headers=admin),
    )
    a01 = {w["window_no"]: w for w in after["windows"]}["A01"]
    assert (a01["ratings"]["counted"], a01["ratings"]["withdrawn"]) == (5, 1)
    assert a01["praise"]["praise_attitude"] == 1


async def test_department_tree_regions_and_reasons(app, client, admin):
    await _seed(app, client, admin)
    flat = contract(
        DepartmentTable, await client.get("/v1/stats/departments", params=Q, headers=admin)
    )
    rows = {d["code"]: d for d in flat["departments"]}
    # every department is listed, with the same keys, ZX and GA with nothing
    assert set(rows) == {"ZX", "SJ", "SJDJ", "RS", "GA"}
    assert len({tuple(d) for d in flat["departments"]}) == 1
    assert rows["ZX"]["ratings"]["counted"] == 0 and rows["ZX"]["sample_group"] == "under_10"
    assert rows["SJ"]["complaints_by_source"]["gov_platform"] == 1
    tree = contract(
        DepartmentTable,
        await client.get(
            "/v1/stats/departments", params={**Q, "include_children": "true"}, headers=admin
        ),
    )
    rolled = {d["code"]: d for d in tree["departments"]}
    assert rolled["ZX"]["ratings"]["counted"] == 15 == rolled["SJ"]["ratings"]["counted"]
    assert rolled["SJDJ"]["ratings"]["counted"] == 3
    assert rolled["ZX"]["complaints_by_source"]["hotline_12345"] == 1
    assert rolled["ZX"]["workorders"]["inspection"]["opened"] == 1

    regions = contract(RegionTable, await client.get("/v1/stats/regions", params=Q, headers=admin))
    by = {r["region_code"]: r for r in regions["regions"]}
    # 421100 is ZX's own code: a city-level code counts as its own county row
    assert by["421102"]["ratings"]["counted"] == 15 and by["421102"]["departments"] == 2
    assert by["421121"]["ratings"]["good_rate"] == 50.0
    assert [r["region_code"] for r in regions["regions"]][:2] == ["421102", "421121"]
    assert regions["unassigned_departments"] == 1  # GA
    cities = contract(
        RegionTable,
        await client.get("/v1/stats/regions", params={**Q, "level": "city"}, headers=admin),
    )
    assert [(r["region_code"], r["ratings"]["counted"]) for r in cities["regions"]] == [
        ("421100", 17)
    ]

    # the department table within one county, ranked there
    county = contract(
        DepartmentTable,
        await client.get("/v1/stats/departments", params={**Q, "region": "421102"}, headers=admin),
    )
    assert [(d["code"], d["rank"]) for d in county["departments"]] == [("SJDJ", 1), ("SJ", 2)]

    # a department key: its own windows only, another department's a 403
    own = auth(await make_key(app, "department", department_code="RS"))
    mine = contract(WindowTable, await client.get("/v1/stats/windows", params=Q, headers=own))
    assert {w["department_code"] for w in mine["windows"]} == {"RS"}
    for path in ("/v1/stats/staff", "/v1/stats/reasons"):
        r = await client.get(path, params={**Q, "department": "SJ"}, headers=own)
        assert_problem(r, 403)

    everything = contract(
        Reasons, await client.get("/v1/stats/reasons", params={**Q, "source": "all"}, headers=admin)
    )
    reasons = {r["tag"]: r for r in everything["reasons"]}
    assert reasons["waiting"]["ratings"] == 1 and reasons["waiting"]["complaints"] == 1
    assert reasons["waiting"]["inspections"] == 1 and reasons["waiting"]["count"] == 3
    assert reasons["attitude"]["complaints"] == 1 and reasons["discipline"]["inspections"] == 1
    assert everything["complaints"] == 3 and everything["uncategorised_complaints"] == 1
    assert everything["inspections"] == 1
    only = contract(
        Reasons,
        await client.get("/v1/stats/reasons", params={**Q, "source": "complaints"}, headers=admin),
    )
    assert only["bad"] == 0 and {r["tag"] for r in only["reasons"]} == {"waiting", "attitude"}
    # one department with its children: the totals are theirs, their rows alone listed
    tree = contract(Reasons, await client.get(
        "/v1/stats/reasons", params={**Q, "source": "all", "department": "ZX",
                                     "include_children": "true"}, headers=admin))  # fmt: skip
    assert [d["code"] for d in tree["departments"]] == ["SJ"]
    assert (tree["bad"], tree["complaints"], tree["inspections"]) == (3, 2, 1)
    assert {r["tag"]: r["count"] for r in tree["reasons"]} == {
        "waiting": 3,
        "attitude": 3,
        "discipline": 1,
    }
    alone = contract(
        Reasons,
        await client.get("/v1/stats/reasons", params={**Q, "department": "ZX"}, headers=admin),
    )
    assert (alone["bad"], alone["departments"]) == (0, [])


async def test_staff_register_and_region_codes_refuse_bad_input(client, admin):
    await make_department(client, admin, "SJ", "市场监督管理局")
    r = await client.put("/v1/staff/0001", json={"name": "张三", "department_code": "NOPE"},
                         headers=admin)  # fmt: skip
    assert_problem(r, 422, "department_code")
    r = await client.post(
        "/v1/staff/import",
        json={"staff": [{"staff_id": "1", "name": "a"}, {"staff_id": "1", "name": "b"}]},
        headers=admin,
    )
    assert_problem(r, 422, "staff.1.staff_id")
    assert (await client.get("/v1/staff", headers=admin)).json() == []
    r = await client.put("/v1/staff/0001", json={"name": "张三"}, headers=admin)
    assert r.status_code == 201
    r = await client.put("/v1/staff/0001", json={"name": "张三丰", "active": False},
                         headers=admin)  # fmt: skip
    assert r.status_code == 200 and r.json()["name"] == "张三丰" and not r.json()["active"]
    assert_problem(await client.get("/v1/staff/0404", headers=admin), 404)
    for bad in ("4211", "42110a", "4211021234567"):
        r = await client.patch("/v1/departments/SJ", json={"region_code": bad}, headers=admin)
        assert_problem(r, 422, "region_code")
    r = await client.patch("/v1/departments/SJ", json={"region_code": "421102001"},
                           headers=admin)  # fmt: skip
    assert r.status_code == 200 and r.json()["region_code"] == "421102001"
    r = await client.get("/v1/stats/windows", params={**Q, "department": "NOPE"}, headers=admin)
    assert_problem(r, 422, "query.department")
    r = await client.get("/v1/stats/regions", params={**Q, "region": "42"}, headers=admin)
    assert_problem(r, 422)
    complaint = {"order_no": "X", "department_code": "SJ", "content": "x", "source": "fax",
                 "received_at": "2023-11-15T10:00:00+08:00"}  # fmt: skip
    r = await client.post("/v1/complaints", json=complaint, headers=admin)
    assert_problem(r, 422, "source")
    r = await client.post("/v1/complaints", json={**complaint, "category_code": "rude"},
                          headers=admin)  # fmt: skip
    assert_problem(r, 422, "category_code")
    # a retry is the same complaint only with the same source and category code
    complaint = {**complaint, "source": "onsite", "category_code": "long_wait"}
    first = await client.post("/v1/complaints", json=complaint, headers=admin)
    assert first.status_code == 201, first.text
    stored = first.json()["complaint"]
    assert (stored["source"], stored["category_code"]) == ("onsite", "long_wait")
    again = await client.post("/v1/complaints", json=complaint, headers=admin)
    assert again.status_code == 200
    for changed in ({"source": "other"}, {"category_code": "other"}):
        r = await client.post("/v1/complaints", json={**complaint, **changed}, headers=admin)
        assert_problem(r, 422, "order_no")
