"""Alert tests: the jobs stopped (rounds are run by hand at chosen instants), the clock at T0,
two departments with windows and a key of each role that meets alerts."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest

from app.alerts.evaluator import run_round
from app.timefmt import BUSINESS_TZ
from tests.fixtures.factories import auth, make_department, make_key, make_window

# Monday 23 November 2026, 10:00 in Beijing: a working day (2026 is a published year).
T0 = datetime(2026, 11, 23, 10, 0, tzinfo=BUSINESS_TZ)


@pytest.fixture(autouse=True)
async def _no_background_jobs(app, clock):
    await app.state.jobs.stop()
    clock.set(T0)


@pytest.fixture
async def keys(app, client, admin):
    """Departments SJ (windows A01, A02) and GA (window B01); a key of each role."""
    await make_department(client, admin, "SJ")
    await make_window(client, admin, "SJ", "A01")
    await make_window(client, admin, "SJ", "A02")
    await make_department(client, admin, "GA", "公安局")
    await make_window(client, admin, "GA", "B01")
    return {
        "admin": admin,
        "portal": auth(await make_key(app, "portal", "政务服务网")),
        "reader": auth(await make_key(app, "reader", "督查室")),
        "sj": auth(await make_key(app, "department", "市场监管局", department_code="SJ")),
        "ga": auth(await make_key(app, "department", "公安局", department_code="GA")),
    }


async def rate(client, headers, levels, *, at, department="SJ", window="A01", step=60):
    """Post one rating per level, `step` seconds apart from `at`, through the batch endpoint."""
    events = [
        {
            "event_id": f"ev-{uuid.uuid4().hex}",
            "channel": "pc",
            "department_code": department,
            "window_no": window,
            "level": level,
            "rated_at": (at + timedelta(seconds=i * step)).isoformat(),
        }
        for i, level in enumerate(levels)
    ]
    r = await client.post("/v1/ratings/batch", json={"events": events}, headers=headers)
    assert r.status_code == 200, r.text
    assert all(x["status"] == "created" for x in r.json()["results"]), r.text


async def evaluate(app, now):
    """One evaluation round at `now`, as the job runs it."""
    return await run_round(app.state.sessionmaker, now=now, settings=app.state.settings.alerts)


async def make_rule(client, admin, **body):
    r = await client.post("/v1/alert-rules", json={"name": "规则", **body}, headers=admin)
    assert r.status_code == 201, r.text
    return r.json()


async def alerts(client, headers, **params):
    r = await client.get("/v1/alerts", params={"state": "all", **params}, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()["items"]
