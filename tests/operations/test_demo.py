"""`haochaping demo`: refuses real data, and loads a centre whose every figure is a number."""

from __future__ import annotations

import asyncio
import io
import os
import random
import subprocess
import sys
from collections import Counter, defaultdict
from datetime import datetime, timedelta

import pytest
from sqlalchemy import text

from app.config import BUSINESS_TZ
from app.demo.lifecycle import CachedCalendar, Walker, walk
from app.demo.loader import RealDataFound, load
from app.demo.progress import Progress
from app.workorders.calendar import WorkCalendar
from app.workorders.deadlines import DEFAULT_POLICY, DeadlinePolicy
from tests.fixtures.factories import auth, make_department, make_key

# The demo's "now": a Monday; the most recent complete quarter and month before it.
END = datetime(2026, 1, 5, 10, 0, tzinfo=BUSINESS_TZ)
PERIODS = ("2025Q4", "2025-12")
POLICY = DeadlinePolicy.parse(DEFAULT_POLICY)


# --- the lifecycle, without a database -------------------------------------------------------


def _walked(n: int = 3000, seed: int = 7) -> list:
    walker = Walker(CachedCalendar(), POLICY, END, random.Random(seed))
    rng = random.Random(seed)
    orders = []
    for _ in range(n):
        opened_at = END - timedelta(days=120 * rng.random())
        source = "rating" if rng.random() < 0.8 else "complaint"
        orders.append(
            walk(
                walker,
                source=source,
                real_name=rng.random() < 0.7,
                opened_at=opened_at,
                open_note="差评",
            )
        )
    return orders


def test_walked_orders_keep_the_state_machine_invariants():
    plain = WorkCalendar()  # the service's own calendar, uncached
    orders = _walked()
    for o in orders:
        h = o.history
        assert [s.seq for s in h] == list(range(1, len(h) + 1))
        assert h[0].action == "open" and h[0].state_before is None
        assert all(a.at <= b.at for a, b in zip(h, h[1:], strict=False))
        assert all(b.state_before == a.state_after for a, b in zip(h, h[1:], strict=False))
        assert h[-1].state_after == o.state and h[-1].at < END
        expected, _ = POLICY.deadlines(plain, o.deadline_basis_at)
        assert o.deadlines == expected
        closed = o.state == "closed"
        assert (o.closed_at is not None) == closed == (o.outcome is not None)
        if o.outcome in ("rectified", "not_substantiated"):
            assert o.resolved_at is not None and o.resolved_at <= o.closed_at
            # a real-name rater or caller is called back before the order closes
            assert not o.real_name or o.called_back_at is not None
        if o.source == "rating":
            assert (o.rating_status == "withdrawn") == (o.outcome == "withdrawn")
            assert (o.rating_status == "invalidated") == (o.outcome == "appeal_upheld")
        else:
            assert o.rating_status == "valid" and o.outcome != "appeal_upheld"
        if o.next_due_at is not None and o.next_due_at < END - timedelta(minutes=2):
            assert o.overdue_at is not None  # the sweeper has seen it
    # a realistic spread of states and paths
    states = Counter(o.state for o in orders)
    assert states["closed"] > len(orders) * 0.6
    assert len(states) >= 4
    outcomes = Counter(o.outcome for o in orders)
    assert all(outcomes[k] for k in ("rectified", "not_substantiated", "withdrawn"))
    assert outcomes["appeal_upheld"]
    actions = Counter(s.action for o in orders for s in o.history)
    for action in ("reject", "extend", "due_soon", "overdue"):
        assert actions[action], action
    assert any(o.reopen_count for o in orders)
    late = [o for o in orders if o.resolved_at and o.resolved_at > o.resolve_due_at]
    assert late and len(late) < len(orders) * 0.3


def test_progress_redraws_in_place_on_a_terminal_and_writes_lines_elsewhere():
    ticks = iter(float(i) for i in range(100))
    out = io.StringIO()
    progress = Progress(out, tty=True, clock=lambda: next(ticks))
    for done in (0, 500, 1000):
        progress("ratings", done, 1000)
    assert out.getvalue().count("\r") == 3 and out.getvalue().endswith("\n")
    assert "100%" in out.getvalue() and "1,000/1,000" in out.getvalue()
    ticks = iter([0.0, 0.5, 1000.0])
    out = io.StringIO()
    progress = Progress(out, tty=True, clock=lambda: next(ticks))
    for done in (0, 999, 1000):  # 1,998/s, then 1/s: a shorter line covers the longer one
        progress("ratings", done, 1000)
    drawn = out.getvalue().split("\r")[1:]
    assert "1/s " in drawn[2] and len(drawn[2].rstrip("\n")) >= len(drawn[1])
    out = io.StringIO()
    progress = Progress(out, tty=False, clock=lambda: 1.0)
    for done in range(0, 1001, 50):
        progress("roll-up", done, 1000)
    lines = out.getvalue().splitlines()
    assert len(lines) == 11 and "\r" not in out.getvalue()  # 0%, 10%, … 100%


# --- on the database, read through the API ---------------------------------------------------


def _numbers_missing(block: dict, where: str) -> list[str]:
    """Paths of the numeric figures of a block that are null (strings and flags are not)."""
    missing = []
    for key, value in block.items():
        if isinstance(value, dict):
            missing += _numbers_missing(value, f"{where}.{key}")
        elif value is None:
            missing.append(f"{where}.{key}")
    return missing


def _order_blocks(orders: dict) -> list[tuple[str, dict]]:
    """The 差评 work-order figures, read tolerantly: one block for all orders, or a block per
    source (rating, complaint, inspection) of which the 差评's (the demo opens no inspections)."""
    if isinstance(orders.get("rating"), dict):
        return [("workorders.rating", orders["rating"])]
    return [("workorders", orders)]


def _complaints(body: dict) -> int:
    """The 12345 complaints received in the period (either shape)."""
    orders = body["workorders"]
    if isinstance(orders.get("complaint"), dict):
        return orders["complaint"]["opened"]
    return body["complaints"]["received"]


async def _demo(pg_url: str, **options) -> dict:
    defaults = dict(
        ratings=12_000,
        departments=3,
        years=0.25,
        end=END,
        seed=3,
        policy=POLICY,
        complaint_share=0.01,
    )
    return await load(pg_url, **(defaults | options))


async def test_demo_figures_are_all_numbers_and_orders_are_consistent(app, client, clock, pg_url):
    loaded = await _demo(pg_url)
    assert loaded["work_orders"] > 100 and loaded["complaints"] == 120
    clock.set(END)
    headers = auth(await make_key(app, "admin"))
    for period in PERIODS:
        response = await client.get(
            "/v1/stats/overview", params={"period": period}, headers=headers
        )
        assert response.status_code == 200, response.text
        body = response.json()
        missing = _numbers_missing(body["ratings"], "ratings")
        for where, block in _order_blocks(body["workorders"]):
            missing += _numbers_missing(block, where)
            assert block["closed"] > 0 and block["real_name_called_back"] > 0
        assert not missing, (period, missing)
        assert body["ratings"]["bad"] > 0 and body["ratings"]["flagged"] is not None
        assert _complaints(body) > 0
        response = await client.get(
            "/v1/stats/departments", params={"period": period}, headers=headers
        )
        assert response.status_code == 200, response.text
        rows = response.json()["departments"]
        assert sorted(r["code"] for r in rows) == ["DEMO-001", "DEMO-002", "DEMO-003"]
        for row in rows:
            where = f"{period} {row['code']}"
            missing = _numbers_missing(row["ratings"], f"{where} ratings")
            for name, block in _order_blocks(row["workorders"]):
                missing += _numbers_missing(block, f"{where} {name}")
            assert not missing, missing
            assert row["rank"] is not None and row["band"] is not None
        # the case ledger, complaints by several sources, the quarter's callback survey
        response = await client.get("/v1/stats/cases", params={"period": period}, headers=headers)
        assert response.status_code == 200, response.text
        cases = response.json()["total"]
        assert cases["cases"] > cases["rated"] > 0 and cases["on_time"] > 0
        sources = {s for r in rows for s, n in r["complaints_by_source"].items() if n}
        assert len(sources) >= 3, sources
    response = await client.get("/v1/stats/samples", params={"period": "2025Q4"}, headers=headers)
    samples = response.json()["total"]
    assert samples["invalid"] > 0 and samples["valid"] > 0 and samples["pending"] > 0

    # work orders in several states, some overdue now
    response = await client.get("/v1/tickets/counts", headers=headers)
    assert response.status_code == 200, response.text
    counts = response.json()
    assert counts["total"] == loaded["work_orders"]
    assert sum(1 for n in counts["by_state"].values() if n) >= 4, counts
    assert counts["by_state"]["closed"] > counts["total"] * 0.6
    assert counts["overdue"] > 0

    async with app.state.engine.connect() as conn:
        orders = (
            (
                await conn.execute(
                    text(
                        "SELECT w.*, r.status AS rating_status, r.level, c.order_no "
                        "FROM work_order w LEFT JOIN rating r ON r.id = w.rating_id "
                        "LEFT JOIN complaint c ON c.id = w.complaint_id"
                    )
                )
            )
            .mappings()
            .all()
        )
        events = (
            (await conn.execute(text("SELECT * FROM work_order_event ORDER BY work_order_id, seq")))
            .mappings()
            .all()
        )
        bad = (await conn.execute(text("SELECT count(*) FROM rating WHERE level <= 2"))).scalar()
        unmatched = (
            await conn.execute(
                text(
                    "SELECT count(*) FROM rating r WHERE r.status <> 'valid' AND NOT EXISTS "
                    "(SELECT 1 FROM work_order w WHERE w.rating_id = r.id)"
                )
            )
        ).scalar()
    # every 差评 and every complaint has its order; a rating changes status only through it
    assert sum(1 for o in orders if o["source"] == "rating") == bad
    assert sum(1 for o in orders if o["source"] == "complaint") == loaded["complaints"]
    assert unmatched == 0
    history = defaultdict(list)
    for e in events:
        history[e["work_order_id"]].append(e)
    appealed = None
    for o in orders:
        h = history[o["id"]]
        assert [e["seq"] for e in h] == list(range(1, len(h) + 1))
        assert h[0]["action"] == "open" and h[-1]["state_after"] == o["state"]
        assert all(a["at"] <= b["at"] < END for a, b in zip(h, h[1:], strict=False))
        assert all(b["state_before"] == a["state_after"] for a, b in zip(h, h[1:], strict=False))
        assert (o["state"] == "closed") == (o["closed_at"] is not None)
        if o["source"] == "rating":
            assert o["level"] <= 2
            assert (o["rating_status"] == "withdrawn") == (o["outcome"] == "withdrawn")
            assert (o["rating_status"] == "invalidated") == (o["outcome"] == "appeal_upheld")
        if o["outcome"] in ("rectified", "not_substantiated") and o["real_name"]:
            assert o["called_back_at"] is not None
        if any(e["action"] in ("uphold", "reject") for e in h):
            appealed = o["id"]  # an appeal decided
    assert appealed is not None

    # what a supervisor sees of an appealed order: its timeline, who did what
    response = await client.get(f"/v1/tickets/{appealed}", headers=headers)
    assert response.status_code == 200, response.text
    detail = response.json()
    actions = [e["action"] for e in detail["history"]]
    assert "appeal" in actions and ("uphold" in actions or "reject" in actions)
    decision = next(e for e in detail["history"] if e["action"] in ("uphold", "reject"))
    assert decision["actor"]["role"] == "admin" and decision["note"]

    # a second run on a demo-only database is welcome
    again = await _demo(pg_url, ratings=300, roll_up=False, seed=4)
    assert again["ratings"] == 300


async def test_demo_refuses_a_database_with_a_real_department(app, client, admin, pg_url):
    await make_department(client, admin, "SJJ", "市场监督管理局")
    with pytest.raises(RealDataFound) as refused:
        await _demo(pg_url, ratings=200, roll_up=False)
    message = str(refused.value)
    assert "SJJ 市场监督管理局" in message and "--force" in message
    async with app.state.engine.connect() as conn:
        written = await conn.execute(
            text("SELECT (SELECT count(*) FROM department), (SELECT count(*) FROM rating)")
        )
        assert tuple(written.one()) == (1, 0)  # nothing written

    forced = await _demo(pg_url, ratings=200, roll_up=False, force=True)
    assert forced["ratings"] == 200
    departments = (await client.get("/v1/departments", headers=admin)).json()
    names = {d["code"]: d["name"] for d in departments}
    assert names["SJJ"] == "市场监督管理局" and "DEMO-001" in names


async def test_demo_command_exits_2_with_the_reason(app, client, admin, pg_url, tmp_path):
    await make_department(client, admin, "RSJ", "人力资源和社会保障局")
    command = [sys.executable, "-m", "app.cli", "demo", "--ratings", "100", "--no-rollup"]
    env = {**os.environ, "DATABASE_URL": pg_url, "HAOCHAPING_DATA_DIR": str(tmp_path)}
    done = await asyncio.to_thread(
        subprocess.run, command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2, done.stderr
    assert "RSJ 人力资源和社会保障局" in done.stderr and "--force" in done.stderr
    async with app.state.engine.connect() as conn:
        count = await conn.execute(text("SELECT count(*) FROM department"))
        assert count.scalar() == 1
