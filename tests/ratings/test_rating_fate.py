"""Figures no department can game (issue 10, points 1 and 2): who may change a rating's fate,
and lateness that stays. Each attack is reproduced first, then its refusal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.fixtures.factories import auth, make_department, make_key, make_window

T = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # Monday 2 March 2026, 10:00 in Beijing
REAL_NAME = {"rater": {"type": "individual", "name": "张三", "phone": "13812345678"}}


@pytest.fixture(autouse=True)
async def _no_background_jobs(app):
    """The tests drive time themselves."""
    await app.state.jobs.stop()


@pytest.fixture
async def keys(app, client, admin, clock):
    clock.set(T)
    await make_department(client, admin, "SJ", "市场监督管理局")
    await make_window(client, admin, "SJ", "A01")
    return {
        "admin": admin,
        "sj": auth(await make_key(app, "department", department_code="SJ")),
        "portal": auth(await make_key(app, "portal", "政务服务网")),
        "other_portal": auth(await make_key(app, "portal", "皖事通")),
        "hotline": auth(await make_key(app, "hotline", "12345")),
        "other_hotline": auth(await make_key(app, "hotline", "12345-2")),
    }


_n = iter(range(1, 10_000))


async def rate(client, key, level: int, at: datetime, **extra) -> dict:
    body = {
        "event_id": f"rf-{next(_n)}",
        "channel": "mobile",
        "department_code": "SJ",
        "level": level,
        "rated_at": at.isoformat(),
        **extra,
    }
    r = await client.post("/v1/ratings", json=body, headers=key)
    assert r.status_code == 201, r.text
    return r.json()


async def ticket_of(client, admin, rating_id: int) -> dict:
    r = await client.get("/v1/tickets", params={"limit": 500}, headers=admin)
    (ticket,) = [t for t in r.json()["items"] if t["rating_id"] == rating_id]
    return (await client.get(f"/v1/tickets/{ticket['id']}", headers=admin)).json()


async def act(client, key, tid: int, action: str, **body):
    return await client.post(
        f"/v1/tickets/{tid}/actions", json={"action": action, **body}, headers=key
    )


async def dept_figures(client, admin, period: str = "2026-03") -> dict:
    r = await client.get("/v1/stats/departments/SJ", params={"period": period}, headers=admin)
    assert r.status_code == 200, r.text
    return r.json()


def callback(at: datetime, **extra) -> dict:
    return {
        "kind": "callback",
        "called_at": at.isoformat(),
        "note": "评价人表示理解，同意撤回",
    } | extra


# --- point 1: a department alone cannot withdraw a 差评 -------------------------------------------


async def test_a_department_cannot_withdraw_a_bad_review_against_itself(client, keys, clock):
    admin, sj = keys["admin"], keys["sj"]
    # 5 好评 and 2 差评: 71.43%; withdrawing one would read 83.33%
    for _ in range(5):
        await rate(client, keys["portal"], 5, T)
    bad = [await rate(client, keys["portal"], 1, T, **REAL_NAME) for _ in range(2)]
    ticket = await ticket_of(client, admin, bad[0]["id"])
    tid = ticket["id"]
    assert (await dept_figures(client, admin))["ratings"]["good_rate"] == 71.43
    assert (
        "withdraw"
        not in (await client.get(f"/v1/tickets/{tid}", headers=sj)).json()["allowed_actions"]
    )

    # the attack: the department's own key, no note, no evidence
    clock.advance(timedelta(hours=2))
    for body in ({}, {"note": "评价人撤回"}, {"evidence": callback(clock())}):
        r = await act(client, sj, tid, "withdraw", **body)
        assert r.status_code == 403, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        detail = r.json()["detail"]
        assert "rater's confirmation" in detail and "request_withdrawal" in detail
        assert "/v1/ratings/{id}/withdraw" in detail
    # nothing changed
    after = await ticket_of(client, admin, bad[0]["id"])
    assert after["state"] == "open" and after["outcome"] is None
    assert after["history"] == ticket["history"] and after["rating_status_changes"] == []
    assert (await dept_figures(client, admin))["ratings"]["good_rate"] == 71.43

    # asking needs the evidence, complete and plausible; a refused ask changes nothing
    now = clock()
    for evidence, field in (
        (None, "evidence"),
        ({"kind": "callback", "note": "同意"}, "evidence.called_at"),
        (callback(now + timedelta(hours=1)), "evidence.called_at"),
        (callback(T - timedelta(days=1)), "evidence.called_at"),
        (callback(now, requested_at=now.isoformat()), "evidence.requested_at"),
    ):
        body = {"evidence": evidence} if evidence else {}
        r = await act(client, sj, tid, "request_withdrawal", **body)
        assert r.status_code == 422, (evidence, r.text)
        assert r.json()["errors"][0]["field"] == field
    r = await act(client, sj, tid, "request_withdrawal", evidence={"kind": "phone", "note": "x"})
    assert r.status_code == 422 and "evidence" in r.json()["errors"][0]["field"]
    r = await act(client, sj, tid, "contact", evidence=callback(now))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "evidence"
    assert (await ticket_of(client, admin, bad[0]["id"]))["history"] == ticket["history"]

    # the way: the callback record, for the supervisor to confirm or refuse
    called = clock() - timedelta(minutes=30)
    r = await act(client, sj, tid, "request_withdrawal", note="请求撤回",
                  evidence=callback(called, reference="录音-0302-01"))  # fmt: skip
    assert r.status_code == 200, r.text
    asked = r.json()
    assert asked["state"] == "withdrawal_requested" and asked["allowed_actions"] == []
    assert asked["current_stage"] == "contact"  # the clock keeps running
    entry = asked["history"][-1]
    assert entry["action"] == "request_withdrawal" and entry["actor"]["role"] == "department"
    assert entry["data"]["evidence"] == {
        "kind": "callback",
        "called_at": "2026-03-02T11:30:00+08:00",
        "note": "评价人表示理解，同意撤回",
        "reference": "录音-0302-01",
    }
    for action in ("confirm_withdrawal", "refuse_withdrawal", "withdraw"):
        r = await act(client, sj, tid, action, note="x", evidence=callback(called))
        assert r.status_code == 403, (action, r.text)
    assert (await dept_figures(client, admin))["ratings"]["good_rate"] == 71.43
    r = await act(client, admin, tid, "refuse_withdrawal")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "note"
    r = await act(client, admin, tid, "refuse_withdrawal", note="录音中评价人未同意撤回")
    assert r.status_code == 200 and r.json()["state"] == "open"
    assert r.json()["rating"]["status"] == "valid" and r.json()["rating_status_changes"] == []

    # asked again, on a later callback; confirmed
    clock.advance(timedelta(days=1))
    r = await act(client, sj, tid, "request_withdrawal", evidence=callback(clock()))
    assert r.status_code == 200, r.text
    clock.advance(timedelta(hours=3))
    r = await act(client, admin, tid, "confirm_withdrawal", note="核听录音，同意撤回")
    assert r.status_code == 200, r.text
    done = r.json()
    assert done["state"] == "closed" and done["outcome"] == "withdrawn"
    assert done["rating"]["status"] == "withdrawn"
    (change,) = done["rating_status_changes"]
    assert (change["status_before"], change["status_after"]) == ("valid", "withdrawn")
    assert change["action"] == "confirm_withdrawal" and change["actor"]["role"] == "admin"
    assert change["reason"] == "核听录音，同意撤回"
    assert change["at"] == "2026-03-03T15:00:00+08:00"
    evidence = change["evidence"]
    assert evidence["kind"] == "callback" and evidence["called_at"] == "2026-03-03T12:00:00+08:00"
    assert evidence["requested_by"]["role"] == "department"
    assert done["history"][-1]["data"]["evidence"] == evidence
    assert (done["withdrawal_requests"], done["withdrawal_refusals"]) == (2, 1)

    figures = await dept_figures(client, admin)
    assert figures["ratings"]["good_rate"] == 83.33 and figures["ratings"]["withdrawn"] == 1
    orders = figures["workorders"]["rating"]
    assert (orders["withdrawn"], orders["withdrawal_requested"], orders["withdrawal_refused"]) == (
        1,
        1,
        1,
    )

    # an anonymous rater cannot be called back: no request on a callback record
    anonymous = await rate(client, keys["portal"], 2, clock())
    anon = await ticket_of(client, admin, anonymous["id"])
    r = await act(client, sj, anon["id"], "request_withdrawal", evidence=callback(clock()))
    assert r.status_code == 409 and "request_withdrawal" not in r.json()["allowed_actions"]


async def test_the_raters_own_request_through_the_portal(client, keys, clock):
    admin, portal = keys["admin"], keys["portal"]
    bad = await rate(client, portal, 1, T)
    good = await rate(client, portal, 5, T)
    path = f"/v1/ratings/{bad['id']}/withdraw"
    reason = {"reason": "工作人员已解释清楚，我撤回差评"}
    r = await client.post(path, json=reason, headers=keys["sj"])
    assert r.status_code == 403 and "request_withdrawal" in r.json()["detail"]
    for other in (keys["other_portal"],):
        assert (await client.post(path, json=reason, headers=other)).status_code == 404
    assert (await client.post(path, json=reason, headers=keys["hotline"])).status_code == 403
    assert (await client.post(path, json=reason, headers=admin)).status_code == 403
    r = await client.post(path, json={}, headers=portal)
    assert r.status_code == 422 and r.json()["errors"][0]["field"].endswith("reason")
    r = await client.post(f"/v1/ratings/{good['id']}/withdraw", json=reason, headers=portal)
    assert r.status_code == 409
    assert (await ticket_of(client, admin, bad["id"]))["state"] == "open"

    clock.advance(timedelta(hours=5))
    r = await client.post(path, json=reason, headers=portal)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "withdrawn" and body["withdrawn_at"] == "2026-03-02T15:00:00+08:00"
    assert body["evidence"] == {
        "kind": "rater_request",
        "requested_at": "2026-03-02T15:00:00+08:00",
        "note": reason["reason"],
        "channel": "portal",
    }
    ticket = await ticket_of(client, admin, bad["id"])
    assert ticket["id"] == body["ticket_id"]
    assert ticket["state"] == "closed" and ticket["outcome"] == "withdrawn"
    assert ticket["history"][-1]["actor"]["role"] == "portal"
    (change,) = ticket["rating_status_changes"]
    assert change["actor"]["name"] == "政务服务网" and change["evidence"] == body["evidence"]
    r = await client.post(path, json=reason, headers=portal)
    assert r.status_code == 409 and r.json()["rating_status"] == "withdrawn"


async def test_a_complaint_is_withdrawn_by_its_hotline_only(client, keys, clock):
    sj, hotline = keys["sj"], keys["hotline"]
    r = await client.post(
        "/v1/complaints",
        json={"order_no": "12345-RF-1", "department_code": "SJ", "content": "窗口推诿",
              "received_at": T.isoformat(), "citizen_name": "李四",
              "citizen_phone": "13900001111"},
        headers=hotline,
    )  # fmt: skip
    assert r.status_code == 201, r.text
    tid = r.json()["ticket"]["id"]
    assert r.json()["ticket"]["allowed_actions"] == ["withdraw"]
    for action in ("withdraw", "request_withdrawal"):
        r = await act(client, sj, tid, action, note="来电人撤回", evidence=callback(T))
        assert r.status_code == 403, r.text
        assert "hotline that sent it" in r.json()["detail"]
    other = await act(client, keys["other_hotline"], tid, "withdraw", evidence=callback(T))
    assert other.status_code == 404
    r = await act(client, hotline, tid, "contact")
    assert r.status_code == 403
    assert (await client.get("/v1/complaints/12345-RF-1", headers=hotline)).json()["ticket"][
        "state"
    ] == "open"
    clock.advance(timedelta(hours=1))
    request = {"kind": "rater_request", "requested_at": clock().isoformat(), "note": "来电撤诉"}
    r = await act(client, hotline, tid, "withdraw", evidence=request)
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "closed" and r.json()["outcome"] == "withdrawn"
    assert r.json()["history"][-1]["data"]["evidence"]["kind"] == "rater_request"
    assert r.json()["rating_status_changes"] == []


async def test_an_upheld_appeal_is_kept_with_its_evidence(client, keys, clock):
    admin, sj = keys["admin"], keys["sj"]
    bad = await rate(client, keys["portal"], 1, T)
    tid = (await ticket_of(client, admin, bad["id"]))["id"]
    assert (await act(client, sj, tid, "appeal", note="评价人当日未办理业务")).status_code == 200
    clock.advance(timedelta(days=1))
    r = await act(client, admin, tid, "uphold", note="经调取录像，属误评")
    assert r.status_code == 200, r.text
    (change,) = r.json()["rating_status_changes"]
    assert (change["status_after"], change["action"], change["reason"]) == (
        "invalidated",
        "uphold",
        "经调取录像，属误评",
    )
    assert change["evidence"]["kind"] == "appeal"
    assert change["evidence"]["appeal_note"] == "评价人当日未办理业务"
    assert change["evidence"]["requested_by"]["role"] == "department"
    orders = (await dept_figures(client, admin))["workorders"]["rating"]
    assert (orders["appealed"], orders["appeal_upheld"], orders["appeal_rejected"]) == (1, 1, 0)


# --- point 2: lateness is permanent ---------------------------------------------------------------


async def test_lateness_survives_an_unsatisfied_callback(client, keys, clock):
    admin, sj = keys["admin"], keys["sj"]
    late = await rate(client, keys["portal"], 1, T, **REAL_NAME)
    tid = (await ticket_of(client, admin, late["id"]))["id"]
    first = await ticket_of(client, admin, late["id"])

    # about 80 days pass; rectified late
    clock.advance(timedelta(days=80))
    for action, body in (
        ("contact", {}),
        ("verify", {"substantiated": True}),
        ("rectify", {"note": "已整改"}),
    ):
        r = await act(client, sj, tid, action, **body)
        assert r.status_code == 200, (action, r.text)
    assert r.json()["late"] is True
    # the attack: the department's own unsatisfied callback reopens with fresh deadlines
    r = await act(client, sj, tid, "callback", satisfied=False, note="仍不满意")
    assert r.status_code == 200, r.text
    reopened = r.json()
    assert reopened["state"] == "open" and reopened["round"] == 2
    assert reopened["overdue"] is False and reopened["late"] is True  # stays late
    assert reopened["late_rounds"] == 1
    old, new = reopened["rounds"]
    assert old["round"] == 1 and old["late"] is True and old["ended_by"] == "callback_unsatisfied"
    assert old["deadlines"] == first["deadlines"]
    assert old["resolve_due_at"] == first["deadlines"]["rectify"]
    assert old["overdue_at"] is not None and old["resolved_at"] is not None
    assert new["round"] == 2 and new["late"] is False and new["ended_at"] is None
    assert new["deadlines"] != old["deadlines"]

    # a quick second round, closed "on time"
    for action, body in (
        ("contact", {}),
        ("verify", {"substantiated": True}),
        ("rectify", {"note": "再次整改"}),
        ("callback", {"satisfied": True}),
        ("close", {}),
    ):
        clock.advance(timedelta(hours=1))
        r = await act(client, sj, tid, action, **body)
        assert r.status_code == 200, (action, r.text)
    closed = r.json()
    assert closed["state"] == "closed" and closed["late"] is True
    assert [r_["late"] for r_ in closed["rounds"]] == [True, False]
    assert closed["rounds"][0] == old  # reopening never clears history
    reopen = next(e for e in closed["history"] if e["data"].get("round_ended"))
    assert reopen["data"]["round_ended"]["late"] is True

    # an order of the same department done on time, for contrast
    on_time = await rate(client, keys["portal"], 2, clock())
    ot = (await ticket_of(client, admin, on_time["id"]))["id"]
    for action, body in (("contact", {}), ("verify", {"substantiated": True}),
                         ("rectify", {"note": "整改"}), ("close", {})):  # fmt: skip
        assert (await act(client, sj, ot, action, **body)).status_code == 200
    # (opened now, in May: the March figures hold the late one alone)
    march = (await dept_figures(client, admin))["workorders"]["rating"]
    assert (march["deadline_due"], march["on_time"], march["on_time_rate"]) == (1, 0, 0.0)
    may = (await dept_figures(client, admin, "2026-05"))["workorders"]["rating"]
    assert (may["deadline_due"], may["on_time"], may["on_time_rate"]) == (1, 1, 100.0)
    year = (await dept_figures(client, admin, "2026"))["workorders"]["rating"]
    assert (year["deadline_due"], year["on_time"], year["on_time_rate"]) == (2, 1, 50.0)
