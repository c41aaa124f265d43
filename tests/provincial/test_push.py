"""The push to a provincial platform: a real mock platform on 127.0.0.1 that goes down and
comes back; nothing lost, nothing sent twice; re-push; reconciliation; the target's codes."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import httpx
from sqlalchemy import text

from app.notify.dispatcher import RetryPolicy
from app.provincial.profile import load
from app.provincial.push import feed, send_due
from tests.provincial.conftest import OK, T0, doc

LAG = timedelta(seconds=30)
PROFILES = load()


async def _target(client, admin, url, **extra):
    body = {
        "name": "浙江省好差评平台",
        "url": url,
        "profile": "zhejiang",
        "credentials": {"appKey": "hcp-330106", "token": "s3cret-token"},
        "area_code": "330106",
        "events": ["ratings"],
        **extra,
    }
    response = await client.post("/v1/provincial/targets", json=body, headers=admin)
    assert response.status_code == 201, response.text
    assert response.json()["has_credentials"] is True
    return response.json()["id"]


async def _round(app, now, max_pending=1000):
    """One feeder round and one sender round at `now`."""
    await feed(app.state.sessionmaker, now=now, lag=LAG, max_pending=max_pending)
    async with httpx.AsyncClient(timeout=2.0) as http:
        return await send_due(
            app.state.sessionmaker, http, PROFILES, now=now, retry=RetryPolicy(base_seconds=10)
        )


async def _items(client, admin, target_id, status=None):
    query = f"?status={status}&limit=500" if status else "?limit=500"
    response = await client.get(f"/v1/provincial/targets/{target_id}/items{query}", headers=admin)
    assert response.status_code == 200, response.text
    return response.json()


async def _post_ratings(client, portal, names, **fields):
    batch = {"ratings": [doc(n, **fields) for n in names]}
    response = await client.post(
        "/v1/provincial/ratings/batch?profile=zhejiang", json=batch, headers=portal
    )
    assert response.json()["created"] == len(names), response.text


async def test_target_down_then_back_loses_nothing_and_sends_nothing_twice(
    app, client, admin, province, platform
):
    target_id = await _target(client, admin, platform.url)
    await _post_ratings(client, province, [f"D{i}" for i in range(12)])
    # Too fresh for the feeder (a lower id may still commit): nothing queued yet.
    await _round(app, T0)
    assert await _items(client, admin, target_id) == []
    # The platform is down: every item waits with its error, none is lost.
    now = T0 + LAG + timedelta(seconds=1)
    await _round(app, now)
    items = await _items(client, admin, target_id)
    assert len(items) == 12 and {i["status"] for i in items} == {"pending"}
    tried = [i for i in items if i["attempts"]]
    assert tried and all(i["last_error"] and i["last_status_code"] is None for i in tried)
    # More ratings while it is down; a sender round during the backoff sends nothing.
    await _post_ratings(client, province, [f"E{i}" for i in range(3)], pf=7)  # default: not sent
    await _post_ratings(client, province, [f"F{i}" for i in range(3)])
    await _round(app, now + timedelta(seconds=5))
    platform.start()
    now += timedelta(minutes=10)
    await _round(app, now)
    await _round(app, now + timedelta(seconds=1))
    received = Counter(d["projectNo"] for d in platform.platform.received)
    expected = {f"D{i}" for i in range(12)} | {f"F{i}" for i in range(3)}
    assert set(received) == expected and set(received.values()) == {1}
    assert platform.platform.problems == []
    items = await _items(client, admin, target_id, "acknowledged")
    assert len(items) == 15
    assert {i["last_answer_code"] for i in items} == {"status.code=200,custom.code=1"}
    first = platform.platform.received[0]
    assert first["areaCode"] == "330106" and first["userName"] == "张三"
    assert first["assessTime"] == "2026-10-09 09:30:00" and first["satisfaction"] == 5
    assert platform.platform.headers[0]["token"] == "s3cret-token"


async def test_repush_of_a_period_and_the_reconciliation(app, client, admin, province, platform):
    platform.start()
    target_id = await _target(client, admin, platform.url)
    await _post_ratings(client, province, ["A1", "A2"])
    await _post_ratings(client, province, ["A3"], assessTime="2026-10-08 16:00:00")
    await _post_ratings(client, province, ["A4"], pf=7)
    day = f"/v1/provincial/targets/{target_id}/reconciliation?day=2026-10-09"
    before = (await client.get(day, headers=admin)).json()
    assert (before["ratings"], before["default_ratings"], before["acknowledged"]) == (2, 1, 0)
    assert before["missing"] == 2
    now = T0 + LAG + timedelta(seconds=1)
    await _round(app, now)
    after = (await client.get(day, headers=admin)).json()
    assert (after["queued"], after["pushed"], after["acknowledged"], after["missing"]) == (
        2,
        2,
        2,
        0,
    )
    # 重推 of 9 October only: its two ratings go again, the 8th's does not.
    response = await client.post(
        f"/v1/provincial/targets/{target_id}/repush",
        json={"from": "2026-10-09", "to": "2026-10-09"},
        headers=admin,
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"requeued": 2, "queued": 0}
    await _round(app, now + timedelta(seconds=1))
    received = Counter(d["projectNo"] for d in platform.platform.received)
    assert received == {"A1": 2, "A2": 2, "A3": 1}
    items = await _items(client, admin, target_id)
    assert sorted(i["repushes"] for i in items) == [0, 1, 1]
    # One item again, by its id.
    one = items[0]["id"]
    response = await client.post(
        f"/v1/provincial/targets/{target_id}/repush", json={"item_id": one}, headers=admin
    )
    assert response.json()["requeued"] == 1
    bad = await client.post(
        f"/v1/provincial/targets/{target_id}/repush",
        json={"item_id": 1, "from": "2026-10-09"},
        headers=admin,
    )
    assert bad.status_code == 422


async def test_ratings_from_before_a_target_are_sent_by_a_repush_only(
    app, client, admin, province, platform
):
    platform.start()
    await _post_ratings(client, province, ["OLD"])
    target_id = await _target(client, admin, platform.url)
    await _round(app, T0 + timedelta(minutes=5))
    assert platform.platform.received == []
    response = await client.post(
        f"/v1/provincial/targets/{target_id}/repush",
        json={"from": "2026-10-09", "to": "2026-10-09"},
        headers=admin,
    )
    assert response.json() == {"requeued": 0, "queued": 1}
    await _round(app, T0 + timedelta(minutes=5))
    assert [d["projectNo"] for d in platform.platform.received] == ["OLD"]


async def test_the_targets_own_code_decides(app, client, admin, province, platform):
    platform.platform.answer = {"status": {"code": 200}, "custom": {"code": 0, "text": "重复"}}
    platform.start()
    target_id = await _target(client, admin, platform.url)
    await _post_ratings(client, province, ["K1"])
    now = T0 + LAG + timedelta(seconds=1)
    await _round(app, now)
    (item,) = await _items(client, admin, target_id)
    assert item["status"] == "pending" and item["last_status_code"] == 200
    assert item["last_answer_code"] == "status.code=200,custom.code=0"
    assert "custom.code" in item["last_error"]
    platform.platform.answer = OK
    await _round(app, now + timedelta(minutes=1))
    (item,) = await _items(client, admin, target_id)
    assert item["status"] == "acknowledged" and item["attempts"] == 2


async def test_a_paused_target_waits(app, client, admin, province, platform):
    platform.start()
    target_id = await _target(client, admin, platform.url)
    response = await client.patch(
        f"/v1/provincial/targets/{target_id}", json={"active": False}, headers=admin
    )
    assert response.status_code == 200 and response.json()["active"] is False
    await _post_ratings(client, province, ["W1"])
    await _round(app, T0 + timedelta(minutes=1))
    assert platform.platform.received == []
    async with app.state.sessionmaker() as session:
        cursor = (await session.execute(text("SELECT rating_cursor FROM push_target"))).scalar()
    await client.patch(f"/v1/provincial/targets/{target_id}", json={"active": True}, headers=admin)
    await _round(app, T0 + timedelta(minutes=2))
    assert [d["projectNo"] for d in platform.platform.received] == ["W1"]
    assert cursor is not None


async def test_a_target_down_for_long_stops_the_queue_growing(
    app, client, admin, province, platform
):
    target_id = await _target(client, admin, platform.url)
    await _post_ratings(client, province, [f"L{i}" for i in range(12)])
    now = T0 + LAG + timedelta(seconds=1)
    for minute in range(3):  # down: the queue stops at the cap, the cursor keeps the place
        await _round(app, now + timedelta(minutes=minute), max_pending=5)
    assert len(await _items(client, admin, target_id)) == 5
    platform.start()
    for minute in range(3, 12):
        await _round(app, now + timedelta(minutes=minute), max_pending=5)
    received = Counter(d["projectNo"] for d in platform.platform.received)
    assert set(received) == {f"L{i}" for i in range(12)} and set(received.values()) == {1}
