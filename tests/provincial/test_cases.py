"""Cases (办件) in provincial fields: mapped by profile into the case ledger, errors named as
the province names them, idempotent on projectNo."""

from __future__ import annotations

from tests.fixtures.factories import assert_problem, auth, make_key


def case(no: str, **fields) -> dict:
    base = {
        "projectNo": no,
        "taskCode": "330100-SJ-001",
        "taskName": "个体工商户设立登记",
        "proDepart": "市场监督管理局",
        "proDepartCode": "SJ",
        "proManager": "SJ007",
        "proStatus": 3,
        "areaCode": "330106",
        "acceptTime": "2026-10-08 09:30:00",
        "finishTime": "2026-10-09 16:00:00",
    }
    return {k: v for k, v in {**base, **fields}.items() if v is not None}


async def _post(client, headers, cases, profile="zhejiang"):
    return await client.post(
        f"/v1/provincial/cases?profile={profile}", json={"cases": cases}, headers=headers
    )


async def test_provincial_cases_enter_the_ledger_once(client, admin, province):
    sent = [
        case("P1"),
        case("P2", proStatus="2", finishTime=None, proManager=None),
        case("P3", proDepartCode="GA", proStatus=1, finishTime=None),
    ]
    r = await _post(client, province, sent)
    assert r.status_code == 200, r.text
    assert r.json() == {"received": 3, "created": 3, "updated": 0, "unchanged": 0}
    stored = (await client.get("/v1/cases/P1", headers=admin)).json()
    assert stored["department_code"] == "SJ" and stored["staff_id"] == "SJ007"
    assert (stored["service_item_code"], stored["service_item_name"]) == (
        "330100-SJ-001",
        "个体工商户设立登记",
    )
    # Beijing time as the profile writes it
    assert stored["accepted_at"] == "2026-10-08T09:30:00+08:00"
    assert stored["finished_at"] == "2026-10-09T16:00:00+08:00"
    assert (await client.get("/v1/cases/P2", headers=admin)).json()["finished_at"] is None

    # Sent again: unchanged; P2 finished since: updated.
    sent[1] = case("P2", proManager=None, finishTime="2026-10-10 10:00:00")
    r = await _post(client, province, sent)
    assert r.json() == {"received": 3, "created": 0, "updated": 1, "unchanged": 2}
    figures = await client.get("/v1/stats/cases", params={"period": "2026Q4"}, headers=admin)
    assert (figures.json()["total"]["cases"], figures.json()["total"]["finished"]) == (3, 2)


async def test_errors_name_the_provincial_field_and_store_nothing(client, admin, province):
    good = case("OK1")
    for bad, field in [
        (case("X1", proDepartCode="NOPE"), "cases.1.proDepartCode"),
        (case("X2", acceptTime="2026/10/08 09:30"), "cases.1.acceptTime"),
        (case("X3", finishTime="2026-10-01 09:00:00"), "cases.1.finishTime"),
        (case("X4", finishTime=None), "cases.1.finishTime"),
        (case("X5", proStatus=2), "cases.1.proStatus"),
        (case("X6", proStatus=4, finishTime=None), "cases.1.proStatus"),
        (case("X7", areaCode="33"), "cases.1.areaCode"),
        (case("X8", pf=1), "cases.1.pf"),
        (case("OK1"), "cases.1.projectNo"),
        ("not a case", "cases.1"),
    ]:
        r = await _post(client, province, [good, bad])
        body = assert_problem(r, 422)
        assert [e["field"] for e in body["errors"]] == [field], body
    assert (await client.get("/v1/cases/OK1", headers=admin)).status_code == 404
    assert_problem(await _post(client, province, [good], profile="nowhere"), 422)
    reader = auth(await make_key(client._transport.app, "reader"))
    assert_problem(await _post(client, reader, [good]), 403)
