"""Work orders: the state machine (pure), deadlines on real orders, roles, the queue, the
sweeper and the figures."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text

from app.auth.service import authenticate
from app.notify.models import Outbox
from app.ratings.models import Rating
from app.workorders import figures, opening, states, sweeper, timing
from app.workorders.deadlines import DeadlinePolicy
from app.workorders.models import WorkOrder, WorkOrderEvent
from tests.fixtures.factories import auth, make_department, make_device, make_key


def at(value: str) -> datetime:
    return datetime.fromisoformat(value)


@pytest.fixture(autouse=True)
async def _no_background_jobs(app):
    """The tests drive the sweeper and the dispatcher themselves, with their own clock."""
    await app.state.jobs.stop()


# --- the state machine (pure) ---------------------------------------------------------------------

# (state, action) -> state after, for a real-name rating order with a complex stage.
EXPECTED = {
    ("open", "contact"): "contacted",
    ("open", "extend"): "open",
    ("open", "appeal"): "appealed",
    ("open", "request_withdrawal"): "withdrawal_requested",
    ("open", "withdraw"): "closed",
    ("open", "transfer"): "open",
    ("contacted", "verify"): "rectifying",
    ("contacted", "extend"): "contacted",
    ("contacted", "appeal"): "appealed",
    ("contacted", "request_withdrawal"): "withdrawal_requested",
    ("contacted", "withdraw"): "closed",
    ("contacted", "transfer"): "contacted",
    ("verified", "callback"): "called_back",
    ("verified", "appeal"): "appealed",
    ("verified", "request_withdrawal"): "withdrawal_requested",
    ("verified", "withdraw"): "closed",
    ("verified", "transfer"): "verified",
    ("rectifying", "rectify"): "rectified",
    ("rectifying", "extend"): "rectifying",
    ("rectifying", "appeal"): "appealed",
    ("rectifying", "request_withdrawal"): "withdrawal_requested",
    ("rectifying", "withdraw"): "closed",
    ("rectifying", "transfer"): "rectifying",
    ("rectified", "callback"): "called_back",
    ("rectified", "request_withdrawal"): "withdrawal_requested",
    ("rectified", "withdraw"): "closed",
    ("rectified", "transfer"): "rectified",
    ("called_back", "close"): "closed",
    ("called_back", "request_withdrawal"): "withdrawal_requested",
    ("called_back", "withdraw"): "closed",
    ("called_back", "transfer"): "called_back",
    ("appealed", "uphold"): "closed",
    ("appealed", "reject"): "contacted",
    ("withdrawal_requested", "confirm_withdrawal"): "closed",
    ("withdrawal_requested", "refuse_withdrawal"): "contacted",
    ("withdrawal_requested", "withdraw"): "closed",
}
CALLBACK = {"kind": "callback", "called_at": "2026-10-12T10:00:00+08:00", "note": "同意撤回"}
INPUTS = {"note": "说明", "substantiated": True, "satisfied": True, "evidence": CALLBACK}


@pytest.mark.parametrize(
    ("state", "action"), list(itertools.product(states.STATES, states.ACTIONS))
)
def test_every_state_and_action(state, action):
    facts = states.Facts(
        state=state,
        source="rating",
        real_name=True,
        appeal_from="contacted" if state == "appealed" else None,
        withdrawal_from="contacted" if state == "withdrawal_requested" else None,
    )
    expected = EXPECTED.get((state, action))
    assert (action in states.allowed_actions(facts)) == (expected is not None)
    if expected is None:
        with pytest.raises(states.ActionNotAllowed) as refused:
            states.apply(facts, action, **INPUTS)
        assert refused.value.allowed == states.allowed_actions(facts)
    else:
        assert states.apply(facts, action, **INPUTS).state_after == expected


def test_state_machine_variants():
    anonymous = states.Facts(state="rectified", real_name=False)
    assert states.allowed_actions(anonymous) == ["close", "withdraw", "transfer"]
    assert states.apply(anonymous, "close").state_after == "closed"
    inspection = states.Facts(state="open", source="inspection")
    assert "appeal" not in states.allowed_actions(inspection)
    assert "withdraw" not in states.allowed_actions(inspection)
    complaint = states.Facts(state="open", source="complaint", real_name=True)
    assert "appeal" not in states.allowed_actions(complaint)
    assert "request_withdrawal" not in states.allowed_actions(complaint)
    step = states.apply(complaint, "withdraw", evidence=CALLBACK)
    assert "withdraw_rating" not in step.effects and step.outcome == "withdrawn"
    # A withdrawal needs the rater's confirmation; only a real-name rater can be called back.
    for action in ("withdraw", "request_withdrawal"):
        with pytest.raises(states.MissingInput) as missing:
            states.apply(states.Facts(state="open", real_name=True), action)
        assert missing.value.field == "evidence"
    assert "request_withdrawal" not in states.allowed_actions(states.Facts(state="open"))
    # The clock keeps running while a supervisor decides on a withdrawal.
    assert (
        states.current_stage(
            "withdrawal_requested", extended=False, stages=("contact", "rectify"),
            withdrawal_from="open",
        )
        == "contact"
    )  # fmt: skip
    # Extension: once, and only where the policy has a complex stage.
    assert "extend" not in states.allowed_actions(states.Facts(state="open", extended=True))
    assert "extend" not in states.allowed_actions(states.Facts(state="open", can_extend=False))
    # An appeal rejected once cannot be made again.
    assert "appeal" not in states.allowed_actions(
        states.Facts(state="contacted", appealed_before=True)
    )
    # Unsatisfied callback reopens.
    step = states.apply(
        states.Facts(state="rectified", real_name=True), "callback", satisfied=False
    )
    assert step.state_after == "open" and "reopen" in step.effects


@pytest.mark.parametrize("state", states.STATES)
def test_allowed_actions_per_role(state):
    # Who may do what (states.ROLE_ACTIONS): a supervisor everything the state allows; a
    # department never a supervisor's decision, nor a withdrawal (it asks, with evidence); the
    # rater's portal withdraws its 差评, the hotline its complaint; any other role nothing.
    waiting = {"appealed": "appeal_from", "withdrawal_requested": "withdrawal_from"}
    facts = states.Facts(
        state=state, real_name=True, **({waiting[state]: "contacted"} if state in waiting else {})
    )
    possible = states.allowed_actions(facts)
    assert states.allowed_for(facts, "admin") == possible
    department = states.allowed_for(facts, "department")
    supervisor = {"uphold", "reject", "transfer", "confirm_withdrawal", "refuse_withdrawal"}
    assert department == [a for a in possible if a not in supervisor | {"withdraw"}]
    assert states.allowed_for(facts, "portal") == [a for a in possible if a == "withdraw"]
    assert states.allowed_for(facts, "hotline") == []  # a rating order: not the hotline's
    complaint = states.Facts(state=state, source="complaint", real_name=True)
    assert states.allowed_for(complaint, "hotline") == [
        a for a in states.allowed_actions(complaint) if a == "withdraw"
    ]
    assert "withdraw" not in states.allowed_for(complaint, "department")
    assert "withdraw" not in states.allowed_for(complaint, "portal")
    for role in ("reader", "device", None):
        assert states.allowed_for(facts, role) == []
        assert states.allowed_for(complaint, role) == []
    # Not substantiated closes as such.
    verified = states.apply(
        states.Facts(state="contacted"), "verify", substantiated=False, note="x"
    )
    assert verified.state_after == "verified" and verified.outcome == "not_substantiated"
    assert (
        states.apply(states.Facts(state="verified", substantiated=False), "close").outcome
        == "not_substantiated"
    )
    upheld = states.apply(states.Facts(state="appealed", appeal_from="open"), "uphold", note="误评")
    assert "invalidate_rating" in upheld.effects and upheld.outcome == "appeal_upheld"


def test_state_machine_needs_its_inputs():
    for facts, action, kwargs, field in [
        (states.Facts(state="contacted"), "verify", {}, "substantiated"),
        (states.Facts(state="contacted"), "verify", {"substantiated": False}, "note"),
        (states.Facts(state="rectifying"), "rectify", {}, "note"),
        (states.Facts(state="open"), "extend", {}, "note"),
        (states.Facts(state="open"), "appeal", {}, "note"),
        (states.Facts(state="open"), "transfer", {}, "note"),
        (states.Facts(state="rectified", real_name=True), "callback", {}, "satisfied"),
    ]:
        with pytest.raises(states.MissingInput) as missing:
            states.apply(facts, action, **kwargs)
        assert missing.value.field == field
    with pytest.raises(states.ActionNotAllowed):
        states.apply(states.Facts(state="open"), "dance")


def test_current_stage():
    stages = ("contact", "rectify", "complex")
    assert states.current_stage("open", extended=False, stages=stages) == "contact"
    assert states.current_stage("contacted", extended=False, stages=stages) == "rectify"
    assert states.current_stage("rectifying", extended=True, stages=stages) == "complex"
    assert states.current_stage("rectified", extended=False, stages=stages) is None
    assert states.current_stage("closed", extended=False, stages=stages) is None
    assert (
        states.current_stage("appealed", extended=False, stages=stages, appeal_from="open")
        == "contact"
    )
    assert states.current_stage("open", extended=False, stages=("rectify",)) == "rectify"


# --- helpers ------------------------------------------------------------------------------------


def _callback(**extra) -> dict:
    """A callback record: the rater, called back now, agrees to withdraw."""
    return {
        "kind": "callback",
        "called_at": datetime.now(UTC).isoformat(),
        "note": "评价人表示理解，同意撤回",
        **extra,
    }


def rating(event_id: str, level: int = 1, rated_at: datetime | None = None, **extra) -> dict:
    return {
        "event_id": event_id,
        "level": level,
        "rated_at": (rated_at or datetime.now(UTC)).isoformat(),
        "tags": ["attitude"] if level <= 2 else [],
        **extra,
    }


REAL_NAME = {"rater": {"type": "individual", "name": "张三", "phone": "13812345678"}}


async def ticket_for_rating(client, admin, rating_id: int) -> dict:
    items = (await client.get("/v1/tickets", headers=admin, params={"limit": 500})).json()["items"]
    (match,) = [t for t in items if t["rating_id"] == rating_id]
    return match


async def post_bad(client, headers, admin, event_id="b1", **extra) -> dict:
    r = await client.post("/v1/ratings", json=rating(event_id, **extra), headers=headers)
    assert r.status_code == 201, r.text
    return await ticket_for_rating(client, admin, r.json()["id"])


async def principal_of(app, key: str):
    async with app.state.sessionmaker() as session:
        return await authenticate(session, key)


async def open_inspection(app, admin_key, found_at, department_code="SJ", policy=None) -> int:
    """An order opened through the service with an injected clock."""
    principal = await principal_of(app, admin_key)
    async with app.state.sessionmaker() as session:
        order = await opening.open_inspection(
            session,
            principal,
            department_code=department_code,
            summary="暗访发现窗口人员玩手机",
            found_at=found_at,
            window_no=None,
            staff_id=None,
            tags=["discipline"],
            now=found_at,
            policy=policy or DeadlinePolicy.parse({"contact": 3, "rectify": 5, "complex": 15}),
        )
        await session.commit()
        return order.id


async def do(client, headers, ticket_id, action, **body):
    return await client.post(
        f"/v1/tickets/{ticket_id}/actions", json={"action": action, **body}, headers=headers
    )


@pytest.fixture
async def setup(app, client, admin):
    """Department SJ with a tablet, department GA, and each department's key."""
    _, device = await make_device(client, admin, "SJ")
    await make_department(client, admin, "GA", "公安局")
    return {
        "device": device,
        "sj": auth(await make_key(app, "department", department_code="SJ")),
        "ga": auth(await make_key(app, "department", department_code="GA")),
    }


# --- deadlines on real orders -------------------------------------------------------------------


async def test_national_day_bad_review_imported_late_stays_late(client, admin, setup, clock):
    # An admin imports, on 20 November, the 差评 a tablet took at 16:40 on the day before
    # National Day 2026.
    clock.set(at("2026-11-20T10:00:00+08:00"))
    r = await client.post(
        "/v1/ratings",
        json=rating(
            "hist-1",
            rated_at=at("2026-09-30T16:40:00+08:00"),
            channel="window_device",
            department_code="SJ",
        ),
        headers=admin,
    )
    assert r.status_code == 201, r.text
    assert r.json()["historical"] is True
    ticket = await ticket_for_rating(client, admin, r.json()["id"])
    assert ticket["deadlines"] == {
        "contact": "2026-10-11T00:00:00+08:00",
        "rectify": "2026-10-14T00:00:00+08:00",
        "complex": "2026-10-28T00:00:00+08:00",
    }
    assert ticket["provisional"] is False
    assert at(ticket["opened_at"]) == at("2026-09-30T16:40:00+08:00")
    assert ticket["current_stage"] == "contact" and ticket["overdue"] and ticket["late"]
    # The extension had to be asked for before the rectify deadline.
    r = await do(client, setup["sj"], ticket["id"], "extend", note="涉及多部门")
    assert r.status_code == 409 and "extend" not in r.json()["allowed_actions"]
    # A good rating opens nothing.
    r = await client.post(
        "/v1/ratings", json=rating("good", level=4, rated_at=clock()), headers=setup["device"]
    )
    assert r.status_code == 201
    count = (await client.get("/v1/tickets", headers=admin)).json()["items"]
    assert len(count) == 1


async def test_live_bad_review_counts_from_receipt(client, admin, setup):
    ticket = await post_bad(client, setup["device"], admin, "live-1")
    assert ticket["source"] == "rating" and ticket["state"] == "open"
    assert ticket["department_code"] == "SJ" and ticket["window_no"] == "A01"
    assert ticket["tags"] == ["attitude"] and ticket["real_name"] is False
    assert set(ticket["deadlines"]) == {"contact", "rectify", "complex"}
    assert at(ticket["deadlines"]["contact"]) > datetime.now(UTC)
    assert ticket["overdue"] is False
    detail = (await client.get(f"/v1/tickets/{ticket['id']}", headers=admin)).json()
    assert detail["rating"]["id"] == ticket["rating_id"] and detail["complaint"] is None
    assert [h["action"] for h in detail["history"]] == ["open"]
    assert detail["history"][0]["actor"]["name"] == "system"


async def test_spring_festival_2026(app, client, admin, setup):
    key = await make_key(app, "admin", "inspector")
    order_id = await open_inspection(app, key, at("2026-02-13T10:00:00+08:00"))
    ticket = (await client.get(f"/v1/tickets/{order_id}", headers=admin)).json()
    assert ticket["source"] == "inspection"
    assert ticket["deadlines"] == {
        "contact": "2026-02-26T00:00:00+08:00",
        "rectify": "2026-02-28T00:00:00+08:00",
        "complex": "2026-03-13T00:00:00+08:00",
    }


async def test_year_end_into_unknown_year_then_entered(app, client, admin, setup, clock):
    clock.set(at("2026-12-30T12:00:00+08:00"))  # the department acts an hour after opening
    key = await make_key(app, "admin", "inspector")
    open_id = await open_inspection(app, key, at("2026-12-30T11:00:00+08:00"))
    closed_id = await open_inspection(app, key, at("2026-12-30T11:00:00+08:00"))
    ticket = (await client.get(f"/v1/tickets/{open_id}", headers=admin)).json()
    assert ticket["provisional"] is True
    assert ticket["deadlines"]["contact"] == "2027-01-05T00:00:00+08:00"
    # A closed order keeps the deadlines it had.
    for action, body in (
        ("contact", {}),
        ("verify", {"substantiated": False, "note": "经核查不属实"}),
        ("close", {}),
    ):
        r = await do(client, setup["sj"], closed_id, action, **body)
        assert r.status_code == 200, r.text

    r = await client.put(
        "/v1/calendar/2027",
        json={"holidays": ["2027-01-01"], "workdays": [], "note": "元旦"},
        headers=admin,
    )
    assert r.status_code == 200 and r.json()["recomputed_orders"] == 1
    ticket = (await client.get(f"/v1/tickets/{open_id}", headers=admin)).json()
    assert ticket["provisional"] is False
    assert ticket["deadlines"]["contact"] == "2027-01-06T00:00:00+08:00"
    assert ticket["history"][-1]["action"] == "recompute_deadlines"
    assert ticket["history"][-1]["data"]["before"]["contact"] == "2027-01-05T00:00:00+08:00"
    closed = (await client.get(f"/v1/tickets/{closed_id}", headers=admin)).json()
    assert closed["provisional"] is True
    assert closed["deadlines"]["contact"] == "2027-01-05T00:00:00+08:00"


async def test_policy_change_applies_to_new_orders_only(app, client, admin, setup):
    key = await make_key(app, "admin", "inspector")
    old = await open_inspection(app, key, at("2026-03-02T10:00:00+08:00"))
    original = app.state.settings
    app.state.settings = original.model_copy(update={"deadline_policy": {"rectify": 15}})
    try:
        r = await client.post(
            "/v1/tickets",
            json={"department_code": "SJ", "summary": "督查发现", "tags": ["guide"]},
            headers=admin,
        )
    finally:
        app.state.settings = original
    assert r.status_code == 201, r.text
    assert r.json()["history"][0]["note"] == "督查发现"
    assert r.json()["policy"] == {"rectify": 15} and list(r.json()["deadlines"]) == ["rectify"]
    assert r.json()["current_stage"] == "rectify"
    assert "extend" not in r.json()["allowed_actions"]
    ticket = (await client.get(f"/v1/tickets/{old}", headers=admin)).json()
    assert ticket["policy"] == {"contact": 3, "rectify": 5, "complex": 15}


# --- actions ----------------------------------------------------------------------------------


async def test_real_name_flow_with_unsatisfied_callback(client, admin, setup):
    sj = setup["sj"]
    ticket = await post_bad(client, setup["device"], admin, "rn-1", **REAL_NAME)
    tid = ticket["id"]
    assert ticket["real_name"] is True
    assert ticket["allowed_actions"] == [
        "contact", "extend", "appeal", "request_withdrawal", "withdraw", "transfer"
    ]  # fmt: skip
    steps = [
        ("contact", {"note": "已电话联系"}, "contacted"),
        ("verify", {"substantiated": True, "note": "属实"}, "rectifying"),
        ("rectify", {"note": "已约谈窗口人员"}, "rectified"),
    ]
    for action, body, state in steps:
        r = await do(client, sj, tid, action, **body)
        assert r.status_code == 200, r.text
        assert r.json()["state"] == state
    assert r.json()["resolved_at"] is not None and r.json()["current_stage"] is None
    # A real-name rater must be called back before closing.
    r = await do(client, sj, tid, "close")
    assert r.status_code == 409
    assert r.headers["content-type"].startswith("application/problem+json")
    # transfer is a supervisor's; a withdrawal the department only asks for
    assert r.json()["allowed_actions"] == ["callback", "request_withdrawal"]
    assert r.json()["state"] == "rectified"
    r = await do(client, sj, tid, "callback", satisfied=False, note="仍不满意")
    assert r.status_code == 200
    body = r.json()
    assert body["state"] == "open" and body["reopen_count"] == 1 and body["resolved_at"] is None
    assert body["current_stage"] == "contact"
    for action, body_ in (
        ("contact", {}),
        ("verify", {"substantiated": True}),
        ("rectify", {"note": "调整窗口设置"}),
        ("callback", {"satisfied": True}),
        ("close", {"note": "办结"}),
    ):
        r = await do(client, sj, tid, action, **body_)
        assert r.status_code == 200, (action, r.text)
    body = r.json()
    assert body["state"] == "closed" and body["outcome"] == "rectified"
    assert body["callback_satisfied"] is True and body["allowed_actions"] == []
    actions = [h["action"] for h in body["history"]]
    assert actions == [
        "open", "contact", "verify", "rectify", "callback",
        "contact", "verify", "rectify", "callback", "close",
    ]  # fmt: skip
    entry = body["history"][1]
    assert entry["actor"]["role"] == "department" and entry["note"] == "已电话联系"
    assert (entry["state_before"], entry["state_after"]) == ("open", "contacted")
    assert [h["seq"] for h in body["history"]] == list(range(1, 11))
    # Closed: nothing more is allowed.
    r = await do(client, admin, tid, "transfer", department_code="GA", note="x")
    assert r.status_code == 409 and r.json()["allowed_actions"] == []


async def _order_in(client, admin, setup, hotline, kind: str, n: itertools.count) -> int:
    """A fresh order: a real-name rating order open, one appealed, or a 12345 complaint's."""
    if kind == "complaint":
        r = await client.post(
            "/v1/complaints",
            json={
                "order_no": f"12345-AA-{next(n)}",
                "department_code": "SJ",
                "content": "窗口推诿",
                "received_at": datetime.now(UTC).isoformat(),
                "citizen_name": "李四",
                "citizen_phone": "13900001111",
            },
            headers=hotline,
        )
        assert r.status_code == 201, r.text
        return r.json()["ticket"]["id"]
    tid = (await post_bad(client, setup["device"], admin, f"aa-{next(n)}", **REAL_NAME))["id"]
    if kind == "appealed":
        assert (await do(client, setup["sj"], tid, "appeal", note="误评")).status_code == 200
    if kind == "withdrawal_requested":
        evidence = {"kind": "callback", "called_at": datetime.now(UTC).isoformat(), "note": "撤"}
        r = await do(client, setup["sj"], tid, "request_withdrawal", evidence=evidence)
        assert r.status_code == 200, r.text
    return tid


async def test_allowed_actions_are_what_the_asking_key_may_do(app, client, admin, setup):
    """For each role that sees an order, every action it is offered is accepted (200, never
    403), and every action it is refused with 403 is not offered."""
    hotline = auth(await make_key(app, "hotline", "12345"))
    reader = auth(await make_key(app, "reader"))
    n = itertools.count()
    body = {
        "note": "说明", "substantiated": True, "satisfied": True, "department_code": "GA",
    }  # fmt: skip
    viewers = {
        "open": {"admin": admin, "department": setup["sj"]},
        "appealed": {"admin": admin, "department": setup["sj"]},
        "withdrawal_requested": {"admin": admin, "department": setup["sj"]},
        "complaint": {"admin": admin, "department": setup["sj"], "hotline": hotline},
    }
    offered_to: dict[tuple[str, str], list[str]] = {}
    for kind, keys in viewers.items():
        for role, headers in keys.items():
            tid = await _order_in(client, admin, setup, hotline, kind, n)
            offered = (await client.get(f"/v1/tickets/{tid}", headers=headers)).json()[
                "allowed_actions"
            ]
            offered_to[kind, role] = offered
            if role != "hotline":  # the queue shows the same (hotline keys read complaints)
                queue = (await client.get("/v1/tickets", headers=headers)).json()["items"]
                assert [t["allowed_actions"] for t in queue if t["id"] == tid] == [offered]
            for action in states.ACTIONS:
                extra = {"evidence": _callback()} if action in states.NEEDS_EVIDENCE else {}
                r = await do(client, headers, tid, action, **body, **extra)
                if action in offered:
                    assert r.status_code == 200, (kind, role, action, r.text)
                    tid = await _order_in(client, admin, setup, hotline, kind, n)
                else:
                    assert r.status_code in (403, 409), (kind, role, action, r.text)
    # what each role was offered (so that the loop above is not vacuous)
    assert offered_to["open", "admin"] == [
        "contact", "extend", "appeal", "request_withdrawal", "withdraw", "transfer"
    ]  # fmt: skip
    assert offered_to["open", "department"] == ["contact", "extend", "appeal", "request_withdrawal"]
    assert offered_to["appealed", "admin"] == ["uphold", "reject"]
    assert offered_to["appealed", "department"] == []
    assert offered_to["withdrawal_requested", "admin"] == [
        "confirm_withdrawal", "refuse_withdrawal", "withdraw"
    ]  # fmt: skip
    assert offered_to["withdrawal_requested", "department"] == []
    assert offered_to["complaint", "department"] == ["contact", "extend"]
    assert offered_to["complaint", "hotline"] == ["withdraw"]
    assert (await client.get(f"/v1/tickets/{tid}", headers=reader)).status_code == 403


async def test_history_is_immutable(app, client, admin, setup):
    ticket = await post_bad(client, setup["device"], admin, "imm-1")
    async with app.state.engine.connect() as conn:
        for statement in (
            "UPDATE work_order_event SET note = 'rewritten'",
            "DELETE FROM work_order_event",
        ):
            with pytest.raises(Exception, match="immutable"):
                await conn.execute(text(statement))
            await conn.rollback()
    detail = (await client.get(f"/v1/tickets/{ticket['id']}", headers=admin)).json()
    assert len(detail["history"]) == 1


async def test_anonymous_skips_callback(client, admin, setup):
    sj = setup["sj"]
    tid = (await post_bad(client, setup["device"], admin, "anon-1"))["id"]
    for action, body in (("contact", {}), ("verify", {"substantiated": True})):
        assert (await do(client, sj, tid, action, **body)).status_code == 200
    r = await do(client, sj, tid, "rectify", note="整改完毕")
    assert r.json()["allowed_actions"] == ["close"]
    ticket = (await client.get(f"/v1/tickets/{tid}", headers=admin)).json()
    assert ticket["allowed_actions"] == ["close", "withdraw", "transfer"]
    r = await do(client, sj, tid, "callback", satisfied=True)
    assert r.status_code == 409 and "close" in r.json()["allowed_actions"]
    r = await do(client, sj, tid, "close")
    assert r.status_code == 200 and r.json()["state"] == "closed"


async def test_refusals_and_missing_inputs(client, admin, setup):
    sj = setup["sj"]
    tid = (await post_bad(client, setup["device"], admin, "ref-1"))["id"]
    r = await do(client, sj, tid, "verify", substantiated=True)
    assert r.status_code == 409
    assert r.json()["type"].endswith("/action-not-allowed")
    assert r.json()["allowed_actions"] == ["contact", "extend", "appeal"]
    assert (await do(client, sj, tid, "contact")).status_code == 200
    assert (await do(client, sj, tid, "contact")).status_code == 409
    for action, body, field in (
        ("verify", {}, "substantiated"),
        ("verify", {"substantiated": False}, "note"),
        ("extend", {}, "note"),
        ("appeal", {}, "note"),
    ):
        r = await do(client, sj, tid, action, **body)
        assert r.status_code == 422, (action, r.text)
        assert r.json()["errors"][0]["field"] == field
    r = await client.post(f"/v1/tickets/{tid}/actions", json={"action": "dance"}, headers=sj)
    assert r.status_code == 422
    # Supervisor decisions are not a department's.
    for action in ("uphold", "reject", "transfer"):
        r = await do(client, sj, tid, action, note="x", department_code="GA")
        assert r.status_code == 403, action
    r = await do(client, sj, tid, "extend", note="涉及多个部门，情况复杂")
    assert r.status_code == 200 and r.json()["extended"] is True
    assert r.json()["deadlines"]["complex"] == r.json()["next_due_at"]
    assert (await do(client, sj, tid, "extend", note="again")).status_code == 409
    r = await do(client, sj, tid, "verify", substantiated=True)
    assert r.json()["current_stage"] == "complex"
    r = await do(client, sj, tid, "rectify", note="完成")
    assert r.status_code == 200 and r.json()["late"] is False
    # Unknown order: 404.
    assert (await do(client, sj, 999999, "contact")).status_code == 404


async def test_appeal_upheld_invalidates_the_rating(client, admin, setup):
    sj = setup["sj"]
    ticket = await post_bad(client, setup["device"], admin, "app-1")
    tid = ticket["id"]
    r = await do(client, sj, tid, "appeal", note="恶意差评：评价人未办理业务")
    assert r.status_code == 200 and r.json()["state"] == "appealed"
    assert r.json()["allowed_actions"] == []  # the department waits for the supervisor
    ticket = (await client.get(f"/v1/tickets/{tid}", headers=admin)).json()
    assert ticket["allowed_actions"] == ["uphold", "reject"]
    # The clock keeps running during the appeal.
    assert r.json()["current_stage"] == "contact"
    assert (await do(client, sj, tid, "uphold", note="x")).status_code == 403
    assert (await do(client, sj, tid, "contact")).status_code == 409
    r = await do(client, admin, tid, "uphold", note="经调取录像，属恶意差评")
    assert r.status_code == 200
    assert r.json()["state"] == "closed" and r.json()["outcome"] == "appeal_upheld"
    r = await client.get(f"/v1/ratings/{ticket['rating_id']}", headers=admin)
    assert r.json()["status"] == "invalidated"


async def test_appeal_rejected_returns_and_cannot_repeat(client, admin, setup):
    sj = setup["sj"]
    tid = (await post_bad(client, setup["device"], admin, "app-2"))["id"]
    await do(client, sj, tid, "contact")
    await do(client, sj, tid, "appeal", note="误评")
    r = await do(client, admin, tid, "reject", note="证据不足")
    assert r.status_code == 200 and r.json()["state"] == "contacted"
    assert "appeal" not in r.json()["allowed_actions"]
    assert (await do(client, sj, tid, "appeal", note="再申诉")).status_code == 409


async def test_withdraw_marks_the_rating_withdrawn(client, admin, setup):
    ticket = await post_bad(client, setup["device"], admin, "wd-1", **REAL_NAME)
    await do(client, setup["sj"], ticket["id"], "contact", note="解释说明后评价人撤回")
    r = await do(client, admin, ticket["id"], "withdraw", note="评价人撤回差评")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "evidence"
    r = await do(client, admin, ticket["id"], "withdraw", evidence=_callback(), note="督查回访")
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "closed" and r.json()["outcome"] == "withdrawn"
    r = await client.get(f"/v1/ratings/{ticket['rating_id']}", headers=admin)
    assert r.json()["status"] == "withdrawn"


async def test_transfer_moves_the_order(client, admin, setup):
    tid = (await post_bad(client, setup["device"], admin, "tr-1"))["id"]
    r = await do(client, admin, tid, "transfer", department_code="XX", note="x")
    assert r.status_code == 422
    r = await do(client, admin, tid, "transfer", department_code="SJ", note="x")
    assert r.status_code == 422
    r = await do(client, admin, tid, "transfer", note="no department")
    assert r.status_code == 422
    r = await do(client, admin, tid, "transfer", department_code="GA", note="属公安窗口")
    assert r.status_code == 200 and r.json()["department_code"] == "GA"
    assert r.json()["history"][-1]["data"] == {"from": "SJ", "to": "GA"}
    assert (await client.get(f"/v1/tickets/{tid}", headers=setup["sj"])).status_code == 404
    assert (await client.get(f"/v1/tickets/{tid}", headers=setup["ga"])).status_code == 200
    assert (await do(client, setup["ga"], tid, "contact")).status_code == 200


async def test_department_isolation_and_roles(app, client, admin, setup):
    tid = (await post_bad(client, setup["device"], admin, "iso-1"))["id"]
    ga = setup["ga"]
    assert (await client.get(f"/v1/tickets/{tid}", headers=ga)).status_code == 404
    assert (await do(client, ga, tid, "contact")).status_code == 404
    assert (await client.get("/v1/tickets", headers=ga)).json()["items"] == []
    assert (await client.get("/v1/tickets", headers=setup["sj"])).json()["items"][0]["id"] == tid
    r = await client.get("/v1/tickets", params={"department_code": "SJ"}, headers=ga)
    assert r.status_code == 403
    reader = auth(await make_key(app, "reader"))
    assert (await client.get("/v1/tickets", headers=reader)).status_code == 403
    assert (await client.get(f"/v1/tickets/{tid}", headers=reader)).status_code == 403
    r = await client.get("/v1/tickets/counts", headers=reader)
    assert r.status_code == 200 and r.json()["total"] == 1 and r.json()["by_state"]["open"] == 1
    r = await client.get("/v1/tickets/counts", headers=ga)
    assert r.json()["total"] == 0
    assert (await client.get("/v1/tickets", headers=setup["device"])).status_code == 403
    assert (await client.get("/v1/tickets")).status_code == 401
    r = await client.post(
        "/v1/tickets", json={"department_code": "SJ", "summary": "x"}, headers=setup["sj"]
    )
    assert r.status_code == 403
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    for body in (
        {"department_code": "SJ", "summary": "x", "found_at": future},
        {"department_code": "XX", "summary": "x"},
        {"department_code": "SJ"},
    ):
        assert (await client.post("/v1/tickets", json=body, headers=admin)).status_code == 422


# --- a rating and its order: together or not at all ---------------------------------------


async def test_rating_and_order_are_written_together(app, client, admin, setup, monkeypatch):
    async def broken(session, orders, actor, *, now, note):
        # The order's first history entry fails to insert (a foreign-key violation).
        await session.execute(
            text(
                "INSERT INTO work_order_event (work_order_id, seq, action, at, state_after) "
                "VALUES (-1, 1, 'open', now(), 'open')"
            )
        )

    monkeypatch.setattr(opening, "_insert_orders", broken)
    r = await client.post("/v1/ratings", json=rating("atomic-1"), headers=setup["device"])
    assert r.status_code == 500, r.text
    r = await client.post(
        "/v1/ratings/batch",
        json={"events": [rating("atomic-2", level=5), rating("atomic-3")]},
        headers=setup["device"],
    )
    assert r.status_code == 500
    async with app.state.sessionmaker() as session:
        assert (await session.execute(select(func.count()).select_from(Rating))).scalar() == 0
        assert (await session.execute(select(func.count()).select_from(WorkOrder))).scalar() == 0
    monkeypatch.undo()
    r = await client.post("/v1/ratings", json=rating("atomic-1"), headers=setup["device"])
    assert r.status_code == 201
    async with app.state.sessionmaker() as session:
        assert (await session.execute(select(func.count()).select_from(WorkOrder))).scalar() == 1


# --- the queue --------------------------------------------------------------------------------


async def test_queue_filters_sort_and_cursor(app, client, admin, setup, clock):
    key = await make_key(app, "admin", "inspector")
    base = at("2026-11-02T10:00:00+08:00")  # a Monday
    ids = [await open_inspection(app, key, base + timedelta(days=d)) for d in (3, 0, 2, 1)]
    await open_inspection(app, key, base, department_code="GA")
    # Read on Friday 20 Nov: the five orders above are overdue, a 差评 received now is not.
    clock.set(base + timedelta(days=18))
    live = (await post_bad(client, setup["device"], admin, "q-1", rated_at=clock()))["id"]
    seen, cursor = [], None
    while True:
        params = {"limit": 2, "department_code": "SJ", **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/v1/tickets", params=params, headers=admin)).json()
        seen += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    dues = [t["next_due_at"] for t in seen]
    assert dues == sorted(dues) and len(seen) == 5
    assert [t["id"] for t in seen][:4] == [ids[1], ids[3], ids[2], ids[0]]
    r = await client.get("/v1/tickets", params={"source": "rating"}, headers=admin)
    assert [t["id"] for t in r.json()["items"]] == [live]
    r = await client.get("/v1/tickets", params={"overdue": "true"}, headers=admin)
    assert len(r.json()["items"]) == 5 and all(t["overdue"] for t in r.json()["items"])
    r = await client.get("/v1/tickets", params={"overdue": "false"}, headers=admin)
    assert [t["id"] for t in r.json()["items"]] == [live]
    r = await client.get(
        "/v1/tickets",
        params={
            "opened_from": "2026-11-03T00:00:00+08:00",
            "opened_to": "2026-11-05T00:00:00+08:00",
        },
        headers=admin,
    )
    assert sorted(t["id"] for t in r.json()["items"]) == sorted([ids[3], ids[2]])
    r = await client.get(
        "/v1/tickets", params={"due_before": "2026-11-07T00:00:00+08:00"}, headers=admin
    )
    assert len(r.json()["items"]) == 2
    await do(client, setup["sj"], live, "contact")
    r = await client.get(
        "/v1/tickets", params={"state": ["contacted", "rectifying"]}, headers=admin
    )
    assert [t["id"] for t in r.json()["items"]] == [live]
    r = await client.get("/v1/tickets", params={"sort": "newest", "limit": 1}, headers=admin)
    assert r.json()["items"][0]["id"] == live
    newest = [r.json()["items"][0]["id"]]
    while r.json()["next_cursor"]:
        r = await client.get(
            "/v1/tickets",
            params={"sort": "newest", "limit": 1, "cursor": r.json()["next_cursor"]},
            headers=admin,
        )
        newest += [t["id"] for t in r.json()["items"]]
    assert len(newest) == 6 and len(set(newest)) == 6
    r = await client.get("/v1/tickets", params={"cursor": "garbage"}, headers=admin)
    assert r.status_code == 422
    r = await client.get("/v1/tickets", params={"due_before": "2026-11-06T00:00:00"}, headers=admin)
    assert r.status_code == 422


# --- due soon, overdue, the sweeper ---------------------------------------------------------------


async def test_flags_on_read_and_the_sweeper(app, client, admin, setup):
    key = await make_key(app, "admin", "inspector")
    # Received Monday 2 Nov 2026: contact due Friday 6 Nov 00:00 (end of Thursday 5 Nov).
    oid = await open_inspection(app, key, at("2026-11-02T10:00:00+08:00"))
    async with app.state.sessionmaker() as session:
        order = await session.get(WorkOrder, oid)
        cal = await timing.load_calendar(session)
        for now, expected in (
            ("2026-11-03T09:00:00+08:00", (False, False)),
            ("2026-11-04T09:00:00+08:00", (True, False)),  # one working day left
            ("2026-11-05T23:59:59+08:00", (True, False)),
            ("2026-11-06T00:00:01+08:00", (False, True)),
        ):
            flags = timing.flags(order, now=at(now), soon_limit=cal.due_soon_limit(at(now)))
            assert flags == expected, now

    async def sweep(now: str) -> dict:
        return await sweeper.sweep_all(app.state.sessionmaker, now=at(now))

    assert await sweep("2026-11-03T09:00:00+08:00") == {"due_soon": 0, "overdue": 0, "seen": 0}
    assert (await sweep("2026-11-04T09:00:00+08:00"))["due_soon"] == 1
    assert (await sweep("2026-11-04T10:00:00+08:00"))["due_soon"] == 0  # once
    assert (await sweep("2026-11-06T08:00:00+08:00"))["overdue"] == 1
    assert (await sweep("2026-11-07T08:00:00+08:00"))["overdue"] == 0
    ticket = (await client.get(f"/v1/tickets/{oid}", headers=admin)).json()
    assert at(ticket["due_soon_at"]) == at("2026-11-04T09:00:00+08:00")
    assert at(ticket["overdue_at"]) == at("2026-11-06T08:00:00+08:00")
    assert [h["action"] for h in ticket["history"]] == ["open", "due_soon", "overdue"]
    assert ticket["history"][2]["data"] == {
        "stage": "contact",
        "due_at": "2026-11-06T00:00:00+08:00",
    }


async def test_an_action_after_the_deadline_records_the_lateness(app, client, admin, setup, clock):
    key = await make_key(app, "admin", "inspector")
    oid = await open_inspection(app, key, at("2026-11-02T10:00:00+08:00"))
    # Nobody swept; the department contacts on Monday 9 Nov, after the deadline (6 Nov 00:00).
    clock.set(at("2026-11-09T09:00:00+08:00"))
    r = await do(client, setup["sj"], oid, "contact")
    assert r.status_code == 200
    assert [h["action"] for h in r.json()["history"]] == ["open", "overdue", "contact"]
    assert at(r.json()["overdue_at"]) == at("2026-11-09T09:00:00+08:00")
    assert at(r.json()["history"][-1]["at"]) == at("2026-11-09T09:00:00+08:00")


async def test_two_sweepers_at_once_do_the_work_once(app, client, admin, setup):
    r = await client.post(
        "/v1/webhooks",
        json={
            "name": "监督平台",
            "url": "http://127.0.0.1:9/hook",
            "event_types": ["ticket.overdue"],
        },
        headers=admin,
    )
    assert r.status_code == 201
    key = await make_key(app, "admin", "inspector")
    for i in range(40):
        await open_inspection(app, key, at("2026-11-02T10:00:00+08:00") + timedelta(minutes=i))
    now = at("2026-11-20T10:00:00+08:00")
    results = await asyncio.gather(
        sweeper.sweep_all(app.state.sessionmaker, now=now, batch_size=7),
        sweeper.sweep_all(app.state.sessionmaker, now=now, batch_size=7),
    )
    assert sum(r["overdue"] for r in results) == 40
    async with app.state.sessionmaker() as session:
        events = (
            await session.execute(
                select(WorkOrderEvent.work_order_id, func.count())
                .where(WorkOrderEvent.action == "overdue")
                .group_by(WorkOrderEvent.work_order_id)
            )
        ).all()
        assert len(events) == 40 and all(n == 1 for _, n in events)
        outbox = (await session.execute(select(func.count()).select_from(Outbox))).scalar()
        assert outbox == 40
    again = await sweeper.sweep_all(app.state.sessionmaker, now=now)
    assert again["overdue"] == 0


# --- figures ----------------------------------------------------------------------------------


async def test_figures(app, client, admin, setup):
    sj, device = setup["sj"], setup["device"]
    t1 = (await post_bad(client, device, admin, "f-1", **REAL_NAME))["id"]
    t2 = (await post_bad(client, device, admin, "f-2"))["id"]
    t3 = (await post_bad(client, device, admin, "f-3", **REAL_NAME))["id"]
    for action, body in (
        ("contact", {}),
        ("verify", {"substantiated": True}),
        ("rectify", {"note": "改"}),
        ("callback", {"satisfied": True}),
        ("close", {}),
    ):
        assert (await do(client, sj, t1, action, **body)).status_code == 200
    evidence = {"kind": "rater_request", "requested_at": datetime.now(UTC).isoformat()}
    r = await do(client, admin, t2, "withdraw", evidence={**evidence, "note": "书面申请撤回"})
    assert r.status_code == 200, r.text
    await do(client, sj, t3, "contact")
    hotline = auth(await make_key(app, "hotline", "12345"))
    r = await client.post(
        "/v1/complaints",
        json={
            "order_no": "12345-F1",
            "department_code": "GA",
            "content": "窗口推诿",
            "received_at": datetime.now(UTC).isoformat(),
        },
        headers=hotline,
    )
    assert r.status_code == 201, r.text
    now = datetime.now(UTC)
    day = timedelta(days=1)
    async with app.state.sessionmaker() as session:
        totals = await figures.figures(session, start=now - day, end=now + day, now=now)
        per = await figures.figures(
            session, start=now - day, end=now + day, now=now, by_department=True
        )
        later = await figures.figures(
            session, start=now - day, end=now + day, now=now + timedelta(days=60)
        )
        empty = await figures.figures(
            session, start=now - timedelta(days=9), end=now - timedelta(days=8), now=now
        )
    rating, complaint = totals["rating"], totals["complaint"]
    # the withdrawn order is reported apart, and out of every rate's set (counted)
    assert rating["opened"] == 3 and rating["withdrawn"] == 1 and rating["appeal_upheld"] == 0
    assert rating["counted"] == 2 and rating["closed"] == 1
    assert rating["real_name"] == 2 and rating["real_name_called_back"] == 1
    assert rating["on_time"] == 1 and rating["deadline_due"] == 1  # the closed one
    assert rating["overdue_now"] == 0
    # the 12345 complaint is counted apart from the 差评 orders
    assert complaint["opened"] == 1 and complaint["counted"] == 1 and complaint["closed"] == 0
    assert totals["inspection"] == dict.fromkeys(rating, 0)
    assert set(per) == {"SJ", "GA"} and set(per["GA"]) == {"complaint"}
    assert per["GA"]["complaint"]["opened"] == 1 and per["SJ"]["rating"]["opened"] == 3
    # 60 days on: the open orders' deadlines have passed (the withdrawn one stays out)
    late = later["rating"]
    assert late["overdue_now"] == 1 and late["deadline_due"] == 2 and late["on_time"] == 1
    assert later["complaint"]["overdue_now"] == 1 and later["complaint"]["deadline_due"] == 1
    assert all(n == 0 for counts in empty.values() for n in counts.values())


async def test_unused_uuid_is_404(client, admin, setup):
    r = await client.get(f"/v1/webhooks/{uuid.uuid4()}", headers=admin)
    assert r.status_code == 404
