"""Alerts: a burst of 差评 raised once per episode, cleared, raised again; the webhook events
through the outbox; acknowledgement; who sees which alerts."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import httpx
from sqlalchemy import select

from app.alerts import service
from app.notify.dispatcher import RetryPolicy, deliver_due
from app.notify.models import Outbox
from tests.alerts.conftest import T0, alerts, evaluate, make_rule, rate
from tests.fixtures.factories import assert_problem

BAD, GOOD = 1, 5
BURST = {"kind": "window_bad_burst", "department_code": "SJ", "threshold": 3, "minutes": 30}


async def _outbox(app) -> list[dict]:
    async with app.state.sessionmaker() as session:
        rows = (await session.execute(select(Outbox).order_by(Outbox.id))).scalars()
        return [json.loads(row.body) for row in rows]


async def test_a_burst_is_raised_once_cleared_and_raised_again(app, client, keys, clock):
    admin, portal = keys["admin"], keys["portal"]
    r = await client.post(
        "/v1/webhooks",
        json={
            "name": "督查平台",
            "url": "http://receiver.test/hook",
            "event_types": ["alert.raised", "alert.cleared"],
        },
        headers=admin,
    )
    assert r.status_code == 201, r.text
    rule = await make_rule(client, admin, **BURST)
    # Two 差评 at A01, good ratings and another window's 差评 around them: below the threshold.
    await rate(client, portal, [BAD, GOOD, BAD, GOOD], at=T0 - timedelta(minutes=20))
    await rate(client, portal, [BAD, BAD], at=T0 - timedelta(minutes=20), window="A02")
    assert (await evaluate(app, T0))["raised"] == 0
    assert await alerts(client, admin) == []

    await rate(client, portal, [BAD], at=T0 - timedelta(minutes=5))
    assert (await evaluate(app, T0))["raised"] == 1
    for minutes in (1, 2, 3):  # later rounds of the same episode raise nothing
        assert (await evaluate(app, T0 + timedelta(minutes=minutes)))["raised"] == 0
    (alert,) = await alerts(client, admin)
    assert alert["rule_id"] == rule["id"] and alert["kind"] == "window_bad_burst"
    assert (alert["subject_type"], alert["subject_key"]) == ("window", "SJ/A01")
    assert (alert["department_code"], alert["window_no"]) == ("SJ", "A01")
    assert alert["evidence"]["bad_count"] == 3 and alert["evidence"]["threshold"] == 3
    assert alert["first_seen_at"] == "2026-11-23T10:00:00+08:00"
    assert alert["last_seen_at"] == "2026-11-23T10:03:00+08:00"
    assert alert["state"] == "open" and alert["active"] is True and alert["cleared_at"] is None

    # 30 minutes after the first 差评 it has left the window: the episode ends.
    cleared = T0 + timedelta(minutes=11)
    assert (await evaluate(app, cleared))["cleared"] == 1
    (alert,) = await alerts(client, admin)
    assert alert["active"] is False and alert["cleared_at"] == "2026-11-23T10:11:00+08:00"
    assert (await evaluate(app, cleared + timedelta(minutes=1))) == {
        "rules": 1,
        "raised": 0,
        "continuing": 0,
        "cleared": 0,
    }

    # A new burst is a new episode, listed beside the old one.
    later = T0 + timedelta(minutes=40)
    clock.set(later + timedelta(minutes=3))
    await rate(client, portal, [BAD, BAD, BAD], at=later)
    assert (await evaluate(app, later + timedelta(minutes=3)))["raised"] == 1
    second, first = await alerts(client, admin)
    assert second["id"] > first["id"] and second["active"] and not first["active"]
    assert [a["id"] for a in await alerts(client, admin, active="true")] == [second["id"]]

    events = await _outbox(app)
    assert [e["type"] for e in events] == ["alert.raised", "alert.cleared", "alert.raised"]
    assert events[0]["data"]["id"] == first["id"] and events[1]["data"]["active"] is False
    assert events[0]["data"]["subject_key"] == "SJ/A01"
    assert events[0]["occurred_at"] == "2026-11-23T10:00:00+08:00"

    received: list[httpx.Request] = []
    transport = httpx.MockTransport(lambda request: received.append(request) or httpx.Response(204))
    async with httpx.AsyncClient(transport=transport) as http:
        await deliver_due(
            app.state.sessionmaker, http, now=T0 + timedelta(hours=1), retry=RetryPolicy()
        )
    assert [r.headers["X-Haochaping-Event"] for r in received] == [
        "alert.raised",
        "alert.cleared",
        "alert.raised",
    ]
    assert json.loads(received[0].content)["data"]["evidence"]["bad_count"] == 3


async def test_concurrent_rounds_raise_an_episode_once(app, client, keys):
    await make_rule(client, keys["admin"], **BURST)
    await make_rule(client, keys["admin"], **{**BURST, "department_code": None})
    await rate(client, keys["portal"], [BAD] * 3, at=T0 - timedelta(minutes=5))
    done = await asyncio.gather(*(evaluate(app, T0) for _ in range(4)))
    assert sum(d["raised"] for d in done if d) == 2  # one per rule; a busy round is skipped
    found = await alerts(client, keys["admin"])
    assert sorted(a["subject_key"] for a in found) == ["SJ/A01", "SJ/A01"]


async def test_switching_a_rule_off_or_deleting_it_ends_its_episodes(app, client, keys):
    admin = keys["admin"]
    rule = await make_rule(client, admin, **BURST)
    other = await make_rule(client, admin, **{**BURST, "window_no": "A01"})
    await rate(client, keys["portal"], [BAD] * 3, at=T0 - timedelta(minutes=5))
    assert (await evaluate(app, T0))["raised"] == 2
    r = await client.patch(f"/v1/alert-rules/{rule['id']}", json={"active": False}, headers=admin)
    assert r.status_code == 200 and r.json()["active"] is False
    r = await client.delete(f"/v1/alert-rules/{other['id']}", headers=admin)
    assert r.status_code == 204, r.text
    found = await alerts(client, admin)
    assert [a["active"] for a in found] == [False, False]
    assert {a["rule_id"] for a in found} == {rule["id"], None}  # kept after the rule's deletion
    assert (await evaluate(app, T0 + timedelta(minutes=1)))["raised"] == 0
    assert_problem(await client.get(f"/v1/alert-rules/{other['id']}", headers=admin), 404)


async def _two_departments_alerted(app, client, keys):
    await make_rule(client, keys["admin"], **{**BURST, "department_code": None})
    await rate(client, keys["portal"], [BAD] * 3, at=T0 - timedelta(minutes=5))
    await rate(
        client,
        keys["portal"],
        [BAD] * 3,
        at=T0 - timedelta(minutes=5),
        department="GA",
        window="B01",
    )
    assert (await evaluate(app, T0))["raised"] == 2
    found = {a["department_code"]: a for a in await alerts(client, keys["admin"])}
    return found["SJ"], found["GA"]


async def _open_counts(app) -> tuple[int, int]:
    """What the console's badges read: open alerts centre-wide and for SJ."""
    async with app.state.sessionmaker() as session:
        return (
            await service.count_open(session),
            await service.count_open(session, department_code="SJ"),
        )


async def test_the_job_is_registered_with_its_interval(app):
    job = app.state.jobs.jobs["alerts"]
    assert job.every == app.state.settings.alerts.interval_seconds == 60
    assert job.enabled and job.first == "run"


async def test_an_acknowledgement_records_who_and_when_once(app, client, keys, clock):
    sj_alert, ga_alert = await _two_departments_alerted(app, client, keys)
    assert await _open_counts(app) == (2, 1)
    clock.set(T0 + timedelta(minutes=7))
    r = await client.post(
        f"/v1/alerts/{sj_alert['id']}/ack", json={"note": "已联系窗口负责人"}, headers=keys["sj"]
    )
    assert r.status_code == 200, r.text
    ack = r.json()["acknowledged"]
    assert r.json()["state"] == "acknowledged" and r.json()["active"] is True
    assert ack["at"] == "2026-11-23T10:07:00+08:00"
    assert (ack["name"], ack["role"], ack["note"]) == (
        "市场监管局",
        "department",
        "已联系窗口负责人",
    )
    assert ack["key_id"] and ack["client_id"]
    again = await client.post(f"/v1/alerts/{sj_alert['id']}/ack", headers=keys["admin"])
    assert_problem(again, 409)
    r = await client.post(f"/v1/alerts/{ga_alert['id']}/ack", headers=keys["admin"])
    assert r.status_code == 200 and r.json()["acknowledged"]["role"] == "admin"
    assert r.json()["acknowledged"]["note"] is None

    admin = keys["admin"]
    assert await _open_counts(app) == (0, 0)
    assert await alerts(client, admin, state="open") == []
    assert len(await alerts(client, admin, state="acknowledged")) == 2
    r = await client.get("/v1/alerts", headers=admin)  # the default: open ones
    assert r.json() == {"items": [], "next_cursor": None}


async def test_a_department_key_sees_and_acknowledges_its_own_alerts_only(app, client, keys):
    sj_alert, ga_alert = await _two_departments_alerted(app, client, keys)
    assert [a["id"] for a in await alerts(client, keys["sj"])] == [sj_alert["id"]]
    assert [a["id"] for a in await alerts(client, keys["ga"])] == [ga_alert["id"]]
    listed = await alerts(client, keys["sj"], department_code="SJ")
    assert [a["id"] for a in listed] == [sj_alert["id"]]
    assert_problem(
        await client.get("/v1/alerts", params={"department_code": "GA"}, headers=keys["sj"]), 403
    )
    assert_problem(await client.get(f"/v1/alerts/{ga_alert['id']}", headers=keys["sj"]), 404)
    assert_problem(await client.post(f"/v1/alerts/{ga_alert['id']}/ack", headers=keys["sj"]), 404)
    # A reader sees every department's alerts and acknowledges none; a portal sees none.
    assert len(await alerts(client, keys["reader"])) == 2
    r = await client.get(f"/v1/alerts/{ga_alert['id']}", headers=keys["reader"])
    assert r.status_code == 200 and r.json()["department_code"] == "GA"
    assert_problem(
        await client.post(f"/v1/alerts/{ga_alert['id']}/ack", headers=keys["reader"]), 403
    )
    assert_problem(await client.get("/v1/alerts", headers=keys["portal"]), 403)
    assert all(a["state"] == "open" for a in await alerts(client, keys["admin"]))


async def test_alerts_page_by_cursor_and_filter_by_kind(app, client, keys):
    await _two_departments_alerted(app, client, keys)
    admin = keys["admin"]
    r = await client.get("/v1/alerts", params={"limit": 1}, headers=admin)
    first = r.json()
    assert len(first["items"]) == 1 and first["next_cursor"]
    r = await client.get(
        "/v1/alerts", params={"limit": 1, "cursor": first["next_cursor"]}, headers=admin
    )
    assert r.json()["items"][0]["id"] < first["items"][0]["id"]
    assert_problem(
        await client.get("/v1/alerts", params={"cursor": "bm9wZQ"}, headers=admin),
        422,
        "query.cursor",
    )
    assert await alerts(client, admin, kind="device_silent") == []
    assert len(await alerts(client, admin, kind="window_bad_burst")) == 2
    assert_problem(await client.get("/v1/alerts", params={"state": "x"}, headers=admin), 422)
