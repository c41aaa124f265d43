"""Posting rules (app/ratings/rules.py): who may post which channel, where, and follow-ups.

Each attack is first posted as the attacker would, then its refusal shown on both ingest paths
(the direct single-event path and the generic route) and in a batch, with nothing stored.
"""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from tests.fixtures.factories import (
    assert_problem,
    auth,
    count_ratings,
    event,
    make_department,
    make_device,
    make_key,
    make_window,
)
from tests.fixtures.ingest import counting


@pytest.fixture
async def keys(app, client, admin):
    """Departments SJJ (window A01, its tablet; B02 closed) and GAJ (window G01); senders."""
    await make_department(client, admin, "SJJ", "市场监管局")
    await make_department(client, admin, "GAJ", "公安局")
    await make_window(client, admin, "SJJ", "A01")
    await make_window(client, admin, "SJJ", "B02")
    r = await client.patch("/v1/departments/SJJ/windows/B02", json={"active": False}, headers=admin)
    assert r.status_code == 200, r.text
    await make_window(client, admin, "GAJ", "G01")
    _, device = await make_device(client, admin, "SJJ", "A01")
    return {
        "admin": admin,
        "device": device,
        "portal": auth(await make_key(app, "portal", "政务服务网")),
        "other_portal": auth(await make_key(app, "portal", "另一平台")),
        "hotline": auth(await make_key(app, "hotline", "12345热线")),
    }


def portal_event(**fields) -> dict:
    return event(**{"department_code": "SJJ", "channel": "mobile", **fields})


async def post_both(client, generic, headers, body) -> list:
    """The event posted to the direct path and, under another event_id, the generic route."""
    direct = await client.post("/v1/ratings", json=body, headers=headers)
    other = await generic.post(
        "/v1/ratings", json={**body, "event_id": "g-" + body["event_id"]}, headers=headers
    )
    return [direct, other]


REFUSED = [
    pytest.param(
        "portal", {"channel": "window_device", "window_no": "A01"}, "channel", id="portal-tablet"
    ),
    pytest.param("portal", {"window_no": "G01"}, "window_no", id="another-departments-window"),
    pytest.param("portal", {"window_no": "NOPE-ZZ"}, "window_no", id="no-such-window"),
    pytest.param(
        "portal",
        {"department_code": "GAJ", "window_no": "A01"},
        "window_no",
        id="sjj-window-filed-under-gaj",
    ),
    pytest.param("portal", {"window_no": "B02"}, "window_no", id="inactive-window"),
    pytest.param("admin", {"window_no": "NOPE-ZZ"}, "window_no", id="admin-no-such-window"),
    pytest.param("hotline", {"channel": "pc"}, "channel", id="hotline-pc"),
    pytest.param("hotline", {"channel": "window_device"}, "channel", id="hotline-tablet"),
    pytest.param("device", {"channel": "pc"}, "channel", id="device-pc"),
    pytest.param("device", {"channel": "mobile"}, "channel", id="device-mobile"),
    pytest.param("portal", {"assess_number": 2}, "case_no", id="follow-up-without-case"),
    pytest.param(
        "portal", {"assess_number": 2, "case_no": "NEVER-RATED"}, "assess_number", id="no-first"
    ),
]


@pytest.mark.parametrize(("sender", "change", "field"), REFUSED)
async def test_refused_on_both_paths_and_in_a_batch(
    app,
    client,
    generic,
    keys,
    sender,
    change,
    field,
):
    headers = keys[sender]
    body = portal_event(**change)
    if sender == "device":
        body.pop("department_code")
    for r in await post_both(client, generic, headers, body):
        problem = assert_problem(r, 422, field, "validation-error")
        assert len(problem["errors"]) == 1, problem["errors"]
    batch = [
        body,
        portal_event(event_id="fine", channel="hotline" if sender == "hotline" else "sms"),
    ]
    if sender == "device":
        batch[1] = {k: v for k, v in batch[1].items() if k not in ("department_code", "channel")}
    r = await client.post("/v1/ratings/batch", json={"events": batch}, headers=headers)
    results = r.json()["results"]
    assert [x["status"] for x in results] == ["rejected", "created"], results
    assert [e["field"] for e in results[0]["errors"]] == [field]
    assert await count_ratings(app) == 1


ALLOWED = [
    pytest.param("device", {}, id="device-default-channel"),
    pytest.param("device", {"channel": "window_device", "window_no": "A01"}, id="device-own"),
    pytest.param("portal", {"window_no": "A01"}, id="portal-at-a-real-window"),
    pytest.param("portal", {"channel": "hotline"}, id="portal-forwards-hotline"),
    pytest.param("hotline", {"channel": "hotline"}, id="hotline-rated-call"),
    pytest.param("admin", {"channel": "window_device", "window_no": "A01"}, id="admin-import"),
]


@pytest.mark.parametrize(("sender", "change"), ALLOWED)
async def test_allowed(app, client, generic, keys, sender, change):
    body = portal_event(**change)
    if sender == "device":
        body.pop("department_code")
        body.pop("channel")
        body.update(change)
    for r in await post_both(client, generic, keys[sender], body):
        assert r.status_code == 201, r.text
    assert await count_ratings(app) == 2


async def test_a_window_deactivated_later_keeps_its_retries_answered(client, keys, admin):
    body = portal_event(window_no="A01")
    assert (await client.post("/v1/ratings", json=body, headers=keys["portal"])).status_code == 201
    r = await client.patch("/v1/departments/SJJ/windows/A01", json={"active": False}, headers=admin)
    assert r.status_code == 200, r.text
    again = await client.post("/v1/ratings", json=body, headers=keys["portal"])
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    new = await client.post(
        "/v1/ratings", json=portal_event(window_no="A01"), headers=keys["portal"]
    )
    assert assert_problem(new, 422, "window_no")["errors"][0]["code"] == "inactive"


# --- follow-up ratings (追评) ------------------------------------------------------------------


async def _case_rows(app, case_no: str) -> list[int]:
    async with app.state.engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT assess_number FROM rating WHERE case_no = :c ORDER BY id"), {"c": case_no}
        )
        return [row.assess_number for row in rows]


async def test_a_case_is_rated_once_and_followed_up_once(app, client, generic, keys):
    portal = keys["portal"]
    first = portal_event(case_no="SJJ-001", level=4)
    follow_up = portal_event(case_no="SJJ-001", assess_number=2)
    async with counting("direct", 2):
        assert (await client.post("/v1/ratings", json=first, headers=portal)).status_code == 201
        r = await client.post("/v1/ratings", json=follow_up, headers=portal)
        assert r.status_code == 201, r.text
    # A retry of the follow-up is a replay, never a conflict.
    again = await client.post("/v1/ratings", json=follow_up, headers=portal)
    assert again.status_code == 200 and again.json() == r.json()
    # A second follow-up (the case's third rating), on either path: 409, nothing stored.
    for third in await post_both(
        client, generic, portal, portal_event(case_no="SJJ-001", assess_number=2)
    ):
        problem = assert_problem(third, 409, "assess_number", "follow-up-exists")
        assert problem["title"] == "This case already has its follow-up rating"
        assert problem["errors"][0]["code"] == "follow_up_exists"
    # Another client has no first rating of the case: its follow-up is refused.
    other = await client.post(
        "/v1/ratings",
        json=portal_event(case_no="SJJ-001", assess_number=2),
        headers=keys["other_portal"],
    )
    assert assert_problem(other, 422, "assess_number")["errors"][0]["code"] == "no_first_rating"
    assert await _case_rows(app, "SJJ-001") == [1, 2]


async def test_follow_ups_in_a_batch(app, client, keys):
    events = [
        portal_event(event_id="f2", case_no="C-1", assess_number=2),  # its first comes later
        portal_event(event_id="f1", case_no="C-1"),
        portal_event(event_id="f3", case_no="C-1", assess_number=2),  # a second follow-up
        portal_event(event_id="x2", case_no="C-2", assess_number=2),  # never rated
    ]
    events.append(events[0])  # a repeat of f2
    r = await client.post("/v1/ratings/batch", json={"events": events}, headers=keys["portal"])
    results = r.json()["results"]
    assert [x["status"] for x in results] == [
        "created",
        "created",
        "rejected",
        "rejected",
        "duplicate",
    ], results
    assert results[2]["errors"][0]["code"] == "follow_up_exists"
    assert results[3]["errors"][0]["code"] == "no_first_rating"
    assert await _case_rows(app, "C-1") == [1, 2]
    # The batch again: every accepted event is a replay, the refused ones refused again.
    r = await client.post("/v1/ratings/batch", json={"events": events}, headers=keys["portal"])
    assert [x["status"] for x in r.json()["results"]] == [
        "duplicate",
        "duplicate",
        "rejected",
        "rejected",
        "duplicate",
    ]
    assert await _case_rows(app, "C-1") == [1, 2]


async def test_racing_follow_ups_store_one(app, client, generic, keys):
    portal = keys["portal"]
    for round_ in range(5):
        case_no = f"RACE-{round_}"
        r = await client.post("/v1/ratings", json=portal_event(case_no=case_no), headers=portal)
        assert r.status_code == 201, r.text
        answers = await asyncio.gather(
            *(
                http.post(
                    "/v1/ratings",
                    json=portal_event(case_no=case_no, assess_number=2),
                    headers=portal,
                )
                for http in (client, generic, client, generic)
            )
        )
        assert sorted(a.status_code for a in answers) == [201, 409, 409, 409], [
            a.text for a in answers
        ]
        assert await _case_rows(app, case_no) == [1, 2]
