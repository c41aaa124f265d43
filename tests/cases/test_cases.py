"""The case ledger: import (idempotent on case_no), rated cases, the case figures by period."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import text

from app.cases.schemas import CaseTable
from tests.cases.conftest import case, import_all, raw
from tests.fixtures.factories import assert_problem, auth, make_key, make_window
from tests.fixtures.stats import contract, half_up

Q4 = datetime.fromisoformat("2023-12-20T10:00:00+08:00")


async def figures(client, headers, **params):
    r = await client.get("/v1/stats/cases", params=params, headers=headers)
    return contract(CaseTable, r)


async def test_import_is_idempotent_on_case_no_and_a_change_replaces(client, admin, departments):
    cases = [case("C1"), case("C2", "RS", window_no="B01")]
    first = await import_all(client, admin, cases)
    assert first == {"received": 2, "created": 2, "updated": 0, "unchanged": 0}
    finished = case("C1", finished_at="2023-10-10T10:00:00+08:00", on_time=True)
    again = await import_all(client, admin, [finished, cases[1]])
    assert again == {"received": 2, "created": 0, "updated": 1, "unchanged": 1}
    body = await figures(client, admin, period="2023Q4")
    assert body["total"]["cases"] == 2 and body["total"]["finished"] == 1
    assert body["total"]["on_time"] == 1 and body["total"]["on_time_rate"] == 100.0
    r = await client.get("/v1/cases/C1", headers=admin)
    assert r.json()["finished_at"] == "2023-10-10T10:00:00+08:00" and r.json()["rated"] is False


async def test_bad_cases_refuse_the_whole_call_and_name_the_field(client, admin, departments):
    good = case("OK1")
    for bad, field in [
        (case("X1", "NOPE"), "cases.1.department_code"),
        (case("OK1"), "cases.1.case_no"),
        (case("X2", finished_at="2023-10-01T00:00:00+08:00"), "cases.1"),
        (case("X3", accepted_at="2023-10-09T09:30:00"), "cases.1.accepted_at"),
        (case("X4", on_time=True), "cases.1"),
    ]:
        r = await client.post("/v1/cases/import", json={"cases": [good, bad]}, headers=admin)
        body = assert_problem(r, 422)
        assert any(e["field"].startswith(field) for e in body["errors"]), body
    assert await raw(client._transport.app, "SELECT * FROM service_case") == []
    r = await client.post("/v1/cases/import", json={"cases": []}, headers=admin)
    assert_problem(r, 422)


async def test_only_admin_and_portal_keys_import(app, client, admin, departments):
    reader = auth(await make_key(app, "reader"))
    r = await client.post("/v1/cases/import", json={"cases": [case("C1")]}, headers=reader)
    assert_problem(r, 403)


async def test_periods_are_local_quarters(client, admin, departments):
    await import_all(
        client,
        admin,
        [
            case("Q3", accepted_at="2023-09-30T23:59:00+08:00"),
            case("Q4a", accepted_at="2023-10-01T00:10:00+08:00"),  # 2023-09-30 in UTC
            case("Q4b", accepted_at="2023-12-31T23:50:00+08:00"),
            case("Q1", accepted_at="2023-12-31T16:05:00+00:00"),  # 2024-01-01 00:05 +08:00
        ],
    )
    assert (await figures(client, admin, period="2023Q4"))["total"]["cases"] == 2
    assert (await figures(client, admin, period="2023Q3"))["total"]["cases"] == 1
    assert (await figures(client, admin, period="2024-01"))["total"]["cases"] == 1
    # Days apart from whole months (the day tallies): 30 Sep and 1 Oct, local.
    days = await figures(client, admin, **{"from": "2023-09-30", "to": "2023-10-01"})
    assert days["total"]["cases"] == 2
    span = await figures(client, admin, **{"from": "2023-09-15", "to": "2024-01-01"})
    assert span["total"]["cases"] == 4
    empty = await figures(client, admin, period="2022")
    assert empty["rows"] == [] and empty["total"]["cases"] == 0
    assert empty["total"]["active_rating_rate"] is None
    assert empty["total"]["windows"] == {"total": 0, "rated": 0, "rate": None}
    r = await client.get("/v1/stats/cases", params={"period": "2023Q5"}, headers=admin)
    assert_problem(r, 422, "query.period")
    r = await client.get("/v1/stats/cases", params={"period": "2023", "group": "x"}, headers=admin)
    assert_problem(r, 422)


async def test_a_case_is_rated_by_counted_applicant_ratings_once(
    app, client, clock, admin, portal, departments
):
    clock.set(Q4)
    await make_window(client, admin, "SJ", "A02")
    await import_all(
        client,
        admin,
        [
            case("R1", window_no="A01", service_item_code="I1", service_item_name="营业执照"),
            case("R2", window_no="A01", service_item_code="I1", service_item_name="营业执照"),
            case("R3", window_no="A02", service_item_code="I2", staff_id="S9"),
            case("R4", "RS"),
        ],
    )
    at = "2023-12-20T09:00:00+08:00"

    async def rate(no, level=5, **extra):
        body = {
            "event_id": f"e-{no}-{level}-{extra.get('assess_number', 1)}",
            "channel": "pc",
            "department_code": "SJ",
            "level": level,
            "rated_at": at,
            "case_no": no,
            **extra,
        }
        r = await client.post("/v1/ratings", json=body, headers=portal)
        assert r.status_code == 201, r.text
        return r.json()["id"]

    await rate("R1")  # the direct single-event path
    await rate("R1", 4, assess_number=2)  # a follow-up: the case once
    withdrawn = await rate("R2", 1)
    await rate("R3", channel="phone_callback")  # a survey's rating is not an active rating
    await rate("NOT-IMPORTED-YET")
    async with app.state.engine.begin() as conn:
        await conn.execute(
            text("UPDATE rating SET status = 'withdrawn' WHERE id = :id"), {"id": withdrawn}
        )
    body = await figures(client, admin, period="2023Q4")
    sj = next(r for r in body["rows"] if r["department_code"] == "SJ")
    assert (sj["cases"], sj["rated"], sj["active_rating_rate"]) == (3, 1, half_up(1, 3))
    assert sj["department_name"] == "市场监督管理局"
    assert sj["windows"] == {"total": 2, "rated": 1, "rate": 50.0}
    assert sj["items"] == {"total": 2, "rated": 1, "rate": 50.0}
    assert body["total"]["cases"] == 4 and body["total"]["rated"] == 1
    # A rating that came before its case is counted when the case arrives.
    await import_all(client, admin, [case("NOT-IMPORTED-YET", window_no="A02")])
    items = await figures(client, admin, period="2023Q4", group="item")
    rows = [
        (r["department_code"], r["key"], r["name"], r["cases"], r["rated"]) for r in items["rows"]
    ]
    assert rows == [
        ("RS", None, None, 1, 0),
        ("SJ", None, None, 1, 1),
        ("SJ", "I1", "营业执照", 2, 1),
        ("SJ", "I2", None, 1, 0),
    ]
    # Restored: the case is rated again; the tallies equal a raw count of the ledger.
    async with app.state.engine.begin() as conn:
        await conn.execute(
            text("UPDATE rating SET status = 'valid' WHERE id = :id"), {"id": withdrawn}
        )
    windows = await figures(client, admin, period="2023Q4", group="window")
    expected = await raw(
        app,
        "SELECT department_code, window_no, count(*), count(*) FILTER (WHERE EXISTS ("
        " SELECT 1 FROM rating r WHERE r.case_no = c.case_no AND r.status = 'valid'"
        " AND r.channel NOT IN ('phone_callback', 'onsite_survey'))) FROM service_case c"
        " GROUP BY 1, 2 ORDER BY 1, 2",
    )
    assert [(r["department_code"], r["key"], r["cases"], r["rated"]) for r in windows["rows"]] == [
        tuple(e) for e in expected
    ]


async def test_a_department_key_reads_its_own_rows(app, client, admin, departments):
    await import_all(client, admin, [case("D1"), case("D2", "RS")])
    own = auth(await make_key(app, "department", department_code="RS"))
    body = await figures(client, own, period="2023Q4", group="staff")
    assert [r["department_code"] for r in body["rows"]] == ["RS"]
    assert body["total"]["cases"] == 1
    r = await client.get(
        "/v1/stats/cases", params={"period": "2023Q4", "department_code": "SJ"}, headers=own
    )
    assert_problem(r, 403)
    assert_problem(await client.get("/v1/cases/D1", headers=own), 403)
    assert_problem(await client.get("/v1/cases/none", headers=admin), 404)
