"""12345 complaints: stored once per order number, opening a work order; who sees them."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from app.notify.models import Outbox
from app.workorders.models import Complaint, WorkOrder
from tests.fixtures.factories import auth, make_department, make_key

RECEIVED = "2026-11-20T09:30:00+08:00"  # a Friday


@pytest.fixture(autouse=True)
async def _no_background_jobs(app, clock):
    """No sweeper; the app's clock half an hour after the complaint was received."""
    await app.state.jobs.stop()
    clock.set(datetime.fromisoformat(RECEIVED) + timedelta(minutes=30))


def complaint(order_no: str = "12345-2026-000001", **extra) -> dict:
    return {
        "order_no": order_no,
        "department_code": "SJ",
        "window_no": "A01",
        "category": "服务态度",
        "content": "窗口工作人员态度生硬，多次让群众补材料",
        "citizen_name": "李四",
        "citizen_phone": "13912345678",
        "received_at": RECEIVED,
        "urgency": "normal",
        **extra,
    }


@pytest.fixture
async def keys(app, client, admin):
    await make_department(client, admin, "SJ")
    await make_department(client, admin, "GA", "公安局")
    return {
        "hotline": auth(await make_key(app, "hotline", "12345热线")),
        "other_hotline": auth(await make_key(app, "hotline", "另一热线")),
        "sj": auth(await make_key(app, "department", department_code="SJ")),
        "ga": auth(await make_key(app, "department", department_code="GA")),
        "reader": auth(await make_key(app, "reader")),
    }


async def test_complaint_opens_a_work_order(client, admin, keys, clock):
    r = await client.post("/v1/complaints", json=complaint(), headers=keys["hotline"])
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["complaint"]["citizen"] == {"name": "李*", "phone": "139****5678"}
    ticket = body["ticket"]
    assert ticket["source"] == "complaint" and ticket["complaint_order_no"] == "12345-2026-000001"
    assert ticket["department_code"] == "SJ" and ticket["real_name"] is True
    # Friday 20 Nov 09:30: contact by the end of Wednesday 25 Nov.
    assert ticket["deadlines"]["contact"] == "2026-11-26T00:00:00+08:00"
    assert ticket["history"][0]["actor"]["role"] == "hotline"
    assert "13912345678" not in r.text
    assert ticket["overdue"] is False
    # Read again once that deadline has passed on the app's clock: overdue.
    clock.set(datetime.fromisoformat("2026-11-26T00:00:01+08:00"))
    again = (await client.get(f"/v1/tickets/{ticket['id']}", headers=admin)).json()
    assert again["overdue"] is True and again["next_due_at"] == ticket["deadlines"]["contact"]


async def test_complaint_idempotency(app, client, admin, keys):
    first = await client.post("/v1/complaints", json=complaint(), headers=keys["hotline"])
    assert first.status_code == 201
    again = await client.post("/v1/complaints", json=complaint(), headers=keys["hotline"])
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["ticket"]["id"] == first.json()["ticket"]["id"]
    changed = await client.post(
        "/v1/complaints", json=complaint(content="另一件事"), headers=keys["hotline"]
    )
    assert changed.status_code == 422
    assert changed.json()["type"].endswith("/order-no-reused")
    other = await client.post("/v1/complaints", json=complaint(), headers=keys["other_hotline"])
    assert other.status_code == 422
    # Identical retries racing: one complaint, one order, no 500.
    racing = await asyncio.gather(
        *(
            client.post("/v1/complaints", json=complaint("12345-RACE"), headers=keys["hotline"])
            for _ in range(6)
        )
    )
    assert sorted(r.status_code for r in racing) == [200] * 5 + [201]
    async with app.state.sessionmaker() as session:
        assert (await session.execute(select(func.count()).select_from(Complaint))).scalar() == 2
        assert (await session.execute(select(func.count()).select_from(WorkOrder))).scalar() == 2


async def test_complaint_validation_and_roles(client, admin, keys):
    for role in ("sj", "reader"):
        r = await client.post("/v1/complaints", json=complaint(), headers=keys[role])
        assert r.status_code == 403, role
    for bad, field in (
        (complaint(department_code="XX"), "department_code"),
        (complaint(citizen_phone="12"), "citizen_phone"),
        (complaint(received_at="2026-11-20T09:30:00"), "received_at"),
        (complaint(urgency="very"), "urgency"),
        (complaint(unknown=1), "unknown"),
        (complaint(content=""), "content"),
    ):
        r = await client.post("/v1/complaints", json=bad, headers=keys["hotline"])
        assert r.status_code == 422, (field, r.text)
        assert r.json()["errors"][0]["field"] == field
    future = (datetime.fromisoformat(RECEIVED) + timedelta(hours=2)).isoformat()  # clock + 1.5 h
    r = await client.post(
        "/v1/complaints", json=complaint(received_at=future), headers=keys["hotline"]
    )
    assert r.status_code == 422


async def test_who_sees_a_complaint(client, admin, keys):
    posted = await client.post("/v1/complaints", json=complaint(), headers=keys["hotline"])
    tid = posted.json()["ticket"]["id"]
    url = "/v1/complaints/12345-2026-000001"
    for role, expected in (
        ("hotline", 200),
        ("sj", 200),
        ("other_hotline", 404),
        ("ga", 404),
        ("reader", 403),
    ):
        assert (await client.get(url, headers=keys[role])).status_code == expected, role
    assert (await client.get(url, headers=admin)).status_code == 200
    assert (await client.get("/v1/complaints/nope", headers=admin)).status_code == 404
    # The hotline sees its own complaints' orders only, and does not act on them.
    assert (await client.get(f"/v1/tickets/{tid}", headers=keys["hotline"])).status_code == 200
    assert (
        await client.get(f"/v1/tickets/{tid}", headers=keys["other_hotline"])
    ).status_code == 404
    r = await client.get("/v1/tickets", headers=keys["other_hotline"])
    assert r.json()["items"] == []
    r = await client.get("/v1/tickets", headers=keys["hotline"])
    assert [t["id"] for t in r.json()["items"]] == [tid]
    r = await client.post(
        f"/v1/tickets/{tid}/actions", json={"action": "contact"}, headers=keys["hotline"]
    )
    assert r.status_code == 403


async def test_complaint_closed_is_told_to_the_hotline(app, client, admin, keys):
    r = await client.post(
        "/v1/webhooks",
        json={
            "name": "12345",
            "url": "http://127.0.0.1:9/12345",
            "event_types": ["complaint.closed"],
        },
        headers=admin,
    )
    assert r.status_code == 201
    posted = await client.post(
        "/v1/complaints",
        json=complaint(citizen_name=None, citizen_phone=None),
        headers=keys["hotline"],
    )
    tid = posted.json()["ticket"]["id"]
    assert posted.json()["ticket"]["real_name"] is False
    for action, body in (
        ("contact", {}),
        ("verify", {"substantiated": True}),
        ("rectify", {"note": "已对窗口人员批评教育"}),
        ("close", {"note": "已办结"}),
    ):
        r = await client.post(
            f"/v1/tickets/{tid}/actions", json={"action": action, **body}, headers=keys["sj"]
        )
        assert r.status_code == 200, r.text
    r = await client.get("/v1/complaints/12345-2026-000001", headers=keys["hotline"])
    assert r.json()["ticket"]["state"] == "closed"
    assert [h["action"] for h in r.json()["ticket"]["history"]][-1] == "close"
    async with app.state.sessionmaker() as session:
        rows = (await session.execute(select(Outbox))).scalars().all()
    assert [row.event_type for row in rows] == ["complaint.closed"]
    assert '"outcome":"rectified"' in rows[0].body and "12345-2026-000001" in rows[0].body
