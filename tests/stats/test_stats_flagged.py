"""exclude_flagged: a supervisor's figures without the ratings carrying integrity flags, on real
PostgreSQL. A portal stuffs one department with bare identical 5s (刷好评) and another with
bare identical 1s (恶意差评); with exclude_flagged=true every count, rate, rank and band is that
of the unflagged valid ratings (a raw SQL count), rolled up or not, across status changes, in
JSON, CSV and XLSX alike; the default is unchanged."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from app.ratings.models import CHANNELS, RATER_TYPES
from app.stats.schemas import DepartmentDetail, DepartmentTable, Overview, Reasons
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

T0 = datetime(2026, 11, 10, 1, 0, tzinfo=UTC)  # 09:00 in Beijing
START, END = datetime(2026, 10, 31, 16, 0, tzinfo=UTC), datetime(2026, 11, 30, 16, 0, tzinfo=UTC)
Q = {"period": "2026-11"}
EXCLUDE = {**Q, "exclude_flagged": "true"}
LEVELS = ("5", "4", "3", "2", "1")


def at(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat()


async def get(client, headers, path, params):
    return await client.get(path, params=params, headers=headers)


async def _post_as(client, headers, events):
    r = await client.post("/v1/ratings/batch", json={"events": events}, headers=headers)
    assert r.status_code == 200 and r.json()["created"] == len(events), r.text


@pytest.fixture
async def stuffed(app, client, admin, clock):
    """AA: 9 of 10 good (90%). BB: 4 good, 16 bad of its own, then 300 bare identical 5s from
    a portal within one instant (the first 19 pass, the rest are flagged). CC: 7 of 10 good,
    then 25 bare identical 1s tagged 排队 from the portal (6 flagged). One flagged 5 of BB is
    withdrawn and one of its own 差评 invalidated afterwards; half the stuffing is rolled up."""
    clock.set(T0 + timedelta(days=3))
    await import_departments(client, admin, [("AA", "甲局"), ("BB", "乙局"), ("CC", "丙局")])
    own = []
    plan = [
        ("AA", [5] * 9 + [2]),
        ("BB", [5] * 4 + [1, 2] * 8),
        ("CC", [5, 4, 3] * 2 + [5, 1, 2, 1]),
    ]
    for code, levels in plan:
        for i, level in enumerate(levels):
            extra = {"tags": ["attitude"]} if level <= 2 else {}
            real = {"window_no": "A01", "staff_id": f"S{i % 2}", "rater": {"type": "individual"}}
            own.append(event(code, level, at(300 * len(own)), channel="pc", **real, **extra))
    await post_all(client, admin, own)
    await roll_up(app)
    portal = auth(await make_key(app, "portal", "某政务服务网"))
    day2 = 86400

    def bare(code, level, seconds, n, **extra):
        return [event(code, level, at(seconds), channel="mobile", **extra) for _ in range(n)]

    await _post_as(client, portal, bare("BB", 5, day2, 150))
    await roll_up(app)
    await _post_as(client, portal, bare("BB", 5, day2, 150))
    await _post_as(client, portal, bare("CC", 1, day2 + 600, 25, tags=["waiting"]))
    async with app.state.engine.connect() as conn:
        flagged_five, own_bad = (
            await conn.execute(
                text(
                    "SELECT (SELECT min(id) FROM rating WHERE flags IS NOT NULL AND level = 5),"
                    " (SELECT min(id) FROM rating WHERE department_code = 'BB' AND level = 1)"
                )
            )
        ).one()
    await set_status(app, flagged_five, "withdrawn")
    await set_status(app, own_bad, "invalidated")
    return admin


async def _raw(app, *, unflagged_only: bool) -> dict[str, Counter]:
    """Valid ratings of the period by level, per department, channel, rater type, ('total'),
    (window, staff) of BB, month; and tag counts of 差评 per department: straight SQL."""
    flags = " AND flags IS NULL" if unflagged_only else ""
    sql = f"""SELECT department_code, channel, rater_type, coalesce(window_no, '') AS w,
                     coalesce(staff_id, '') AS s, level, tags
                FROM rating
               WHERE status = 'valid' AND rated_at >= :s AND rated_at < :e{flags}"""
    out: dict[str, Counter] = {}
    async with app.state.engine.connect() as conn:
        for row in await conn.execute(text(sql), {"s": START, "e": END}):
            level = str(row.level)
            keys = [
                ("total",),
                ("department", row.department_code),
                ("channel", row.channel),
                ("rater_type", row.rater_type),
            ]
            if row.department_code == "BB":
                keys += [("window", row.w), ("staff", row.s)]
            for key in keys:
                out.setdefault(key, Counter())[level] += 1
            if row.level <= 2:
                for tag in row.tags:
                    out.setdefault(("tags", row.department_code), Counter())[tag] += 1
                    out.setdefault(("tags", None), Counter())[tag] += 1
    return out


def _levels(block) -> dict[str, int]:
    return {level: block["by_level"][level] for level in LEVELS}


def _expect(block, counts: Counter | None) -> None:
    counts = counts or Counter()
    assert _levels(block) == {level: counts[level] for level in LEVELS}, block
    good = counts["5"] + counts["4"] + counts["3"]
    assert (block["counted"], block["good"]) == (counts.total(), good)


async def _flagged_valid(app) -> dict[str, int]:
    async with app.state.engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT department_code, count(*) FROM rating WHERE flags IS NOT NULL"
                " AND status = 'valid' AND rated_at >= :s AND rated_at < :e GROUP BY 1"
            ),
            {"s": START, "e": END},
        )
        return dict(rows.all())


async def test_a_stuffed_department_ranks_by_its_real_ratings(app, client, stuffed):
    admin = stuffed
    flagged = await _flagged_valid(app)
    assert flagged == {"BB": 280, "CC": 6}  # 300 - 19 stuffed, one withdrawn; 25 - 19
    everything = await _raw(app, unflagged_only=False)
    unflagged = await _raw(app, unflagged_only=True)

    default = contract(DepartmentTable, await get(client, admin, "/v1/stats/departments", Q))
    explicit = (
        await client.get(
            "/v1/stats/departments", params={**Q, "exclude_flagged": "false"}, headers=admin
        )
    ).json()
    assert default == explicit and default["exclude_flagged"] is False
    rows = {r["code"]: r for r in default["departments"]}
    assert [r["code"] for r in default["departments"]] == ["BB", "AA", "CC"]
    assert rows["BB"]["rank"] == 1 and rows["BB"]["band"] == "90-100"
    assert rows["BB"]["ratings"]["good_rate"] == 95.28  # 303 / 318
    for code, row in rows.items():
        _expect(row["ratings"], everything[("department", code)])
        assert row["ratings"]["flagged"] == flagged.get(code, 0)
        assert row["ratings"]["excluded_flagged"] == 0

    table = contract(
        DepartmentTable, await client.get("/v1/stats/departments", params=EXCLUDE, headers=admin)
    )
    assert table["exclude_flagged"] is True and check_shape(table) == 3 * 4
    rows = {r["code"]: r for r in table["departments"]}
    assert [r["code"] for r in table["departments"]] == ["AA", "BB", "CC"]
    assert [rows[c]["rank"] for c in ("AA", "BB", "CC")] == [1, 2, 3]
    assert rows["BB"]["ratings"]["good_rate"] == 60.53  # (4 + 19) / (4 + 15 + 19)
    assert [rows[c]["band"] for c in ("AA", "BB", "CC")] == ["90-100", "below-80", "below-80"]
    assert table["bands"] == {"100": 0, "90-100": 1, "80-90": 0, "below-80": 2}
    for code, row in rows.items():
        _expect(row["ratings"], unflagged[("department", code)])
        assert row["ratings"]["flagged"] == 0  # none of the counted ones carries flags
        assert row["ratings"]["excluded_flagged"] == flagged.get(code, 0)
        # withdrawn and invalidated are what they were; work orders untouched
        before = {r["code"]: r for r in default["departments"]}[code]
        assert row["ratings"]["withdrawn"] == before["ratings"]["withdrawn"]
        assert row["ratings"]["invalidated_on_appeal"] == before["ratings"]["invalidated_on_appeal"]
        assert row["workorders"] == before["workorders"]
    assert rows["BB"]["ratings"]["withdrawn"] == 1
    assert rows["BB"]["ratings"]["invalidated_on_appeal"] == 1
    assert rows["CC"]["workorders"]["rating"]["opened"] == 3 + 25  # 差评 orders whatever flags

    # min_sample after the exclusion: BB keeps 38 counted, CC 29 (35 before)
    for params, ranked in (
        ({**Q, "min_sample": 30}, [("BB", 1), ("CC", 2)]),
        ({**EXCLUDE, "min_sample": 30}, [("BB", 1)]),
    ):
        r = await client.get("/v1/stats/departments", params=params, headers=admin)
        assert [(d["code"], d["rank"]) for d in r.json()["departments"]] == ranked

    # a department key: its own row, ranked among all after the exclusion
    bb = auth(await make_key(app, "department", department_code="BB"))
    mine = (await client.get("/v1/stats/departments", params=EXCLUDE, headers=bb)).json()
    assert [(d["code"], d["rank"]) for d in mine["departments"]] == [("BB", 2)]

    # the sheets carry the same numbers, and say so
    for kind in ("csv", "xlsx"):
        r = await get(client, admin, "/v1/stats/departments", {**EXCLUDE, "format": kind})
        assert r.status_code == 200
        assert "-excluding-flagged." in r.headers["content-disposition"]
        sheet = {row["部门编码"]: row for row in sheet_rows(r.content, kind)}
        cast = str if kind == "csv" else (lambda v: v)
        for code, row in rows.items():
            ratings = row["ratings"]
            assert sheet[code]["排名"] == cast(row["rank"])
            assert sheet[code]["有效评价数"] == cast(ratings["counted"])
            assert sheet[code]["好评数"] == cast(ratings["good"])
            assert sheet[code]["已剔除疑似异常评价数"] == cast(ratings["excluded_flagged"])
            assert sheet[code]["疑似异常评价数"] == cast(0)
            rate = ratings["good_rate"]
            assert sheet[code]["好评率(%)"] == (f"{rate:.2f}" if kind == "csv" else rate)
        assert sheet["BB"]["满意度档次"] == "低于80%"
    r = await client.get("/v1/stats/departments", params={**Q, "format": "csv"}, headers=admin)
    assert "-excluding-flagged" not in r.headers["content-disposition"]
    sheet = {row["部门编码"]: row for row in sheet_rows(r.content, "csv")}
    assert sheet["BB"]["排名"] == "1" and sheet["BB"]["已剔除疑似异常评价数"] == "0"
    assert sheet["BB"]["疑似异常评价数"] == "280"


async def test_overview_detail_and_reasons_without_the_flagged(app, client, stuffed):
    admin = stuffed
    everything = await _raw(app, unflagged_only=False)
    unflagged = await _raw(app, unflagged_only=True)
    default = contract(Overview, await client.get("/v1/stats/overview", params=Q, headers=admin))
    overview = contract(
        Overview, await client.get("/v1/stats/overview", params=EXCLUDE, headers=admin)
    )
    assert check_shape(overview) == 1 + 3 + 9 + 3
    assert (default["exclude_flagged"], overview["exclude_flagged"]) == (False, True)
    _expect(default["ratings"], everything[("total",)])
    _expect(overview["ratings"], unflagged[("total",)])
    assert overview["ratings"]["excluded_flagged"] == default["ratings"]["flagged"] == 286
    for group, names in (("rater_type", RATER_TYPES), ("channel", CHANNELS)):
        for name in names:
            block = overview[f"by_{group}"][name]
            _expect(block, unflagged.get((group, name)))
            assert block["excluded_flagged"] == default[f"by_{group}"][name]["flagged"]
    assert overview["by_channel"]["mobile"]["counted"] == 19 + 19
    assert overview["departments_rated"] == default["departments_rated"] == 3
    assert overview["workorders"] == default["workorders"]

    # one department: its rank among the departments without the flagged, trend, windows, staff
    path = "/v1/stats/departments/BB"
    before = contract(DepartmentDetail, await client.get(path, params=Q, headers=admin))
    detail = contract(DepartmentDetail, await client.get(path, params=EXCLUDE, headers=admin))
    assert check_shape(detail) == 1 + 3 + 9 + 1 + 2 + 3 + 3  # trend 1, windows 2, staff 3
    assert (before["rank"], before["band"]) == (1, "90-100")
    assert (detail["rank"], detail["band"], detail["departments_ranked"]) == (2, "below-80", 3)
    _expect(detail["ratings"], unflagged[("department", "BB")])
    assert detail["ratings"]["excluded_flagged"] == 280 and detail["ratings"]["flagged"] == 0
    assert detail["trend"][0]["ratings"]["excluded_flagged"] == 280
    _expect(detail["trend"][0]["ratings"], unflagged[("department", "BB")])
    windows = {w["window_no"]: w for w in detail["windows"]}
    staff = {s["staff_id"]: s for s in detail["staff"]}
    assert set(staff) == {"S0", "S1", None}
    for dimension, rows in (("window", windows), ("staff", staff)):
        for key, row in rows.items():
            _expect(row["ratings"], unflagged.get((dimension, key or "")))
    # the stuffing came with no window nor staff: that row is its 19 unflagged 5s (ranked 1st)
    assert windows[None]["ratings"]["excluded_flagged"] == 280
    assert windows[None]["ratings"]["counted"] == 19 and windows[None]["rank"] == 1
    assert windows["A01"]["rank"] == 2 and windows["A01"]["ratings"]["excluded_flagged"] == 0
    assert detail["workorders"] == before["workorders"]

    # reasons: the flagged 差评 and their tags left out, how many said per scope
    plain = contract(Reasons, await client.get("/v1/stats/reasons", params=Q, headers=admin))
    reasons = contract(Reasons, await get(client, admin, "/v1/stats/reasons", EXCLUDE))
    assert (plain["exclude_flagged"], plain["excluded_flagged"]) == (False, 0)
    assert (reasons["exclude_flagged"], reasons["excluded_flagged"]) == (True, 6)
    unflagged_bad = unflagged[("total",)]["1"] + unflagged[("total",)]["2"]
    assert reasons["bad"] == plain["bad"] - 6 == unflagged_bad
    assert {r["tag"]: r["count"] for r in reasons["reasons"]} == dict(unflagged[("tags", None)])
    assert {r["tag"]: r["count"] for r in plain["reasons"]} == dict(everything[("tags", None)])
    cc = {d["code"]: d for d in reasons["departments"]}["CC"]
    assert (cc["bad"], cc["excluded_flagged"]) == (3 + 19, 6)
    assert {r["tag"]: r["count"] for r in cc["reasons"]} == {"waiting": 19, "attitude": 3}
    cc_detail = (await get(client, admin, "/v1/stats/departments/CC", EXCLUDE)).json()
    assert {r["tag"]: r["count"] for r in cc_detail["reasons"]} == {"waiting": 19, "attitude": 3}
    assert cc_detail["ratings"]["excluded_flagged"] == 6

    # the sheets: the same numbers
    for kind in ("csv", "xlsx"):
        cast = str if kind == "csv" else (lambda v: v)
        r = await get(client, admin, "/v1/stats/overview", {**EXCLUDE, "format": kind})
        total = sheet_rows(r.content, kind)[0]
        assert total["有效评价数"] == cast(overview["ratings"]["counted"])
        assert total["已剔除疑似异常评价数"] == cast(286)
        r = await client.get(path, params={**EXCLUDE, "format": kind}, headers=admin)
        rows = sheet_rows(r.content, kind)
        assert rows[0]["排名"] == cast(2) and rows[0]["满意度档次"] == "低于80%"
        assert rows[0]["有效评价数"] == cast(detail["ratings"]["counted"])
        r = await get(client, admin, "/v1/stats/reasons", {**EXCLUDE, "format": kind})
        rows = sheet_rows(r.content, kind)
        waiting = {(row["部门编码"] or None, row["原因编码"]): row for row in rows}
        assert waiting[(None, "waiting")]["含此原因的差评数"] == cast(19)
        assert waiting[("CC", "waiting")]["已剔除疑似异常差评数"] == cast(6)
        assert waiting[(None, "waiting")]["已剔除疑似异常差评数"] == cast(6)
