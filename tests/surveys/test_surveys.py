"""Surveys: a reproducible stratified draw, attempts recorded once, bad input refused whole."""

from __future__ import annotations

from datetime import datetime

import pytest

from app.surveys.sampling import allocate, sample_size
from tests.cases.conftest import raw
from tests.fixtures.factories import assert_problem, auth, make_key
from tests.surveys.conftest import create, items

AT = "2023-04-21T10:00:00+08:00"


def test_allocation_is_proportional_by_largest_remainder():
    assert allocate({"A": 50, "B": 30, "C": 20}, 10) == {"A": 5, "B": 3, "C": 2}
    # 1.5, 0.9, 0.6: floors 1, 0, 0; the two left go to the largest remainders, B and C
    assert allocate({"A": 5, "B": 3, "C": 2}, 3) == {"A": 1, "B": 1, "C": 1}
    assert allocate({"A": 9, "B": 1}, 1) == {"A": 1}
    assert sum(allocate({"A": 7, "B": 7, "C": 7}, 10).values()) == 10
    assert allocate({"A": 1, "B": 1}, 0) == {} and allocate({}, 5) == {}
    assert sample_size(394, None, 10) == 39 and sample_size(10, 50, None) == 10
    assert sample_size(5, None, 50) == 3  # 2.5 half-up


async def test_the_same_seed_draws_the_same_list(client, admin, yueyang):
    first = await create(client, admin, frame="cases", size=200, seed="s1")
    again = await create(client, admin, frame="cases", size=200, seed="s1")
    other = await create(client, admin, frame="cases", size=200, seed="s2")
    cases_of = [
        [i["case_no"] for i in await items(client, admin, s["id"])] for s in (first, again, other)
    ]
    assert cases_of[0] == cases_of[1] and cases_of[0] != cases_of[2]
    assert len(set(cases_of[0])) == 200
    assert first["frame_size"] == 3500 and first["strata"] == again["strata"]
    # Stratified: each department's share of the list is its share of the frame, ± 1.
    for code, n in first["strata"].items():
        frame = 1120 if code == "YY35" else 70
        assert abs(n - 200 * frame / 3500) < 1
    share = await create(client, admin, frame="cases", share=1.5)
    assert share["drawn"] == 53 and share["seed"]  # 52.5 half-up; a seed is made
    empty = await create(client, admin, frame="cases", size=10, period="2022Q4")
    assert empty["drawn"] == 0 and empty["frame_size"] == 0


async def test_real_name_ratings_are_a_frame(client, clock, admin, portal):
    clock.set(datetime.fromisoformat("2023-04-26T18:00:00+08:00"))
    events = [
        {
            "event_id": f"rn-{n}",
            "channel": "pc",
            "department_code": "SJ",
            "level": 4,
            "rated_at": "2023-04-20T10:00:00+08:00",
            **({"rater": {"type": "individual", "phone": f"1381234{n:04d}"}} if n % 2 else {}),
        }
        for n in range(20)
    ]
    r = await client.post("/v1/ratings/batch", json={"events": events}, headers=portal)
    assert r.json()["created"] == 20
    survey = await create(client, admin, frame="ratings", size=4, period="2023-04")
    assert survey["frame_size"] == 10 and survey["drawn"] == 4
    listed = await items(client, portal, survey["id"])
    assert all(i["source_rating_id"] for i in listed)


async def test_attempts_are_recorded_once_and_refused_whole(
    app, client, clock, admin, portal, yueyang
):
    clock.set(datetime.fromisoformat("2023-04-26T18:00:00+08:00"))
    survey = await create(client, admin, frame="cases", size=5, seed="x")
    url = f"/v1/surveys/{survey['id']}/attempts"
    first, second = (i["sample_no"] for i in (await items(client, portal, survey["id"]))[:2])
    invalid = {"sample_no": first, "outcome": "invalid", "reason": "refused", "attempted_at": AT}
    good = {"sample_no": second, "outcome": "rated", "level": 5, "attempted_at": AT,
            "rater": {"type": "enterprise"}}  # fmt: skip
    for bad, status, field in [
        ({**invalid, "reason": None}, 422, "attempts.0"),
        ({**good, "reason": "refused"}, 422, "attempts.0"),
        ({**good, "rater": None}, 422, "attempts.0"),
        ({**invalid, "reason": "asleep"}, 422, "attempts.0.reason"),
        ({**invalid, "sample_no": "NEW"}, 422, "attempts.0.department_code"),
        (
            {**invalid, "sample_no": "NEW", "department_code": "NOPE"},
            422,
            "attempts.0.department_code",
        ),
        ({**invalid, "department_code": "YY01"}, 422, "attempts.0"),
        (
            {**good, "sample_no": first, "attempted_at": "1999-12-31T08:00:00+08:00"},
            422,
            "attempts.0.attempted_at",
        ),
        (
            {**good, "sample_no": first, "attempted_at": "2023-05-26T18:00:00+08:00"},
            422,
            "attempts.0.rated_at",
        ),
    ]:
        r = await client.post(url, json={"attempts": [good, bad]}, headers=portal)
        body = assert_problem(r, status)
        assert any(e["field"].startswith(field.replace(".0", ".1")) for e in body["errors"]), body
    assert await raw(app, "SELECT 1 FROM rating") == []
    assert await raw(app, "SELECT 1 FROM survey_item WHERE state <> 'pending'") == []
    r = await client.post(url, json={"attempts": [invalid, good]}, headers=portal)
    assert r.json() == {"recorded": 2, "duplicate": 0, "rated": 1, "invalid": 1}
    again = await client.post(url, json={"attempts": [invalid, good]}, headers=portal)
    assert again.json() == {"recorded": 0, "duplicate": 2, "rated": 0, "invalid": 0}
    r = await client.post(url, json={"attempts": [{**good, "level": 1}]}, headers=portal)
    assert_problem(r, 409)
    r = await client.post(url, json={"attempts": [good, good]}, headers=portal)
    assert_problem(r, 422, "attempts.1.sample_no")
    state = (await client.get(f"/v1/surveys/{survey['id']}", headers=portal)).json()["by_state"]
    assert state == {"pending": 3, "rated": 1, "invalid": 1}
    listed = await items(client, portal, survey["id"], state="rated")
    assert [i["sample_no"] for i in listed] == [second] and listed[0]["rating_id"]


@pytest.mark.parametrize("role", ["reader", "department", "hotline"])
async def test_who_may_do_what(app, client, admin, yueyang, role):
    key = auth(await make_key(app, role, department_code="YY01" if role == "department" else None))
    body = {"name": "x", "channel": "phone_callback", "period": "2023Q1", "frame": "none"}
    assert_problem(await client.post("/v1/surveys", json=body, headers=key), 403)
    survey = await create(client, admin, frame="none")
    assert_problem(await client.get(f"/v1/surveys/{survey['id']}", headers=key), 403)
    figures = await client.get("/v1/stats/samples", params={"period": "2023Q1"}, headers=key)
    assert figures.status_code == (403 if role == "hotline" else 200)


async def test_bad_surveys_are_refused(client, admin):
    for body, field in [
        ({"frame": "cases"}, "body"),
        ({"frame": "cases", "size": 5, "share": 5}, "body"),
        ({"frame": "none", "size": 5}, "body"),
        ({"frame": "cases", "size": 5, "period": "2023Q9"}, "period"),
        ({"frame": "cases", "size": 0}, "size"),
    ]:
        full = {"name": "x", "channel": "phone_callback", "period": "2023Q1", **body}
        r = await client.post("/v1/surveys", json=full, headers=admin)
        problem = assert_problem(r, 422)
        assert any(e["field"].startswith(field) for e in problem["errors"]), problem
    assert_problem(await client.get("/v1/surveys/999", headers=admin), 404)
