"""Load the demo centre: refuse real data, COPY ratings, open and walk the work orders, roll up.

Real data, for the demo, is any department it did not make: its own are coded DEMO-001…, and
every rating, complaint and work order belongs to a department, so a database whose departments
are all DEMO-… holds nothing but demo data (and whatever was tried out on it). Anything else is
refused unless forced.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from app.demo import centre as demo_centre
from app.demo.centre import CODE_PREFIX, Staged
from app.demo.lifecycle import DEPARTMENT, HOTLINE, SUPERVISOR, SYSTEM, CachedCalendar, Walker
from app.privacy import Keyring
from app.workorders.calendar import YearArrangement
from app.workorders.deadlines import DeadlinePolicy

Progress = Callable[[str, int, int], None]
CLIENT_PREFIX = "haochaping demo"
# 12345 complaints about windows per rating (about 2 a day at a county centre).
COMPLAINT_SHARE = 0.002


@dataclass(frozen=True, slots=True)
class Findings:
    """What a database holds that the demo did not make."""

    departments: int
    examples: list[str]
    ratings: bool
    complaints: bool


class RealDataFound(Exception):
    """The database holds real data and the load was not forced."""

    def __init__(self, findings: Findings) -> None:
        self.findings = findings
        super().__init__(refusal(findings))


def refusal(found: Findings) -> str:
    """The message that says what was found and how to proceed."""
    more = f", … ({found.departments} in all)" if found.departments > len(found.examples) else ""
    holding = [what for what, has in (("ratings", found.ratings), ("12345 complaints",
               found.complaints)) if has]  # fmt: skip
    with_data = f", with {' and '.join(holding)}" if holding else ""
    return (
        "refusing to load demo data: this database holds real data, departments the demo did "
        f"not make ({', '.join(found.examples)}{more}){with_data}. The demo adds departments "
        f"{CODE_PREFIX}001… with synthetic ratings, 12345 complaints and work orders, which would "
        "count in this centre's figures and rankings. Load it into an empty database instead "
        "(set DATABASE_URL, or HAOCHAPING_DATA_DIR for a fresh embedded one), or pass --force to "
        "load it here anyway."
    )


async def find_real_data(conn) -> Findings | None:
    """Departments not coded DEMO-… (and whether they have ratings or complaints); None if
    there are none."""
    pattern = CODE_PREFIX + "%"
    row = await conn.fetchrow(
        "SELECT count(*) AS n, (array_agg(code || ' ' || name ORDER BY code))[1:3] AS examples "
        "FROM department WHERE code NOT LIKE $1",
        pattern,
    )
    if not row["n"]:
        return None
    ratings = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM rating WHERE department_code NOT LIKE $1)", pattern
    )
    complaints = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM complaint WHERE department_code NOT LIKE $1)", pattern
    )
    return Findings(row["n"], list(row["examples"]), ratings, complaints)


async def _client(conn, name: str, role: str, department_code: str | None = None) -> uuid.UUID:
    """The demo's client of this name and role (made once, reused by later runs)."""
    found = await conn.fetchval(
        "SELECT id FROM client WHERE name = $1 AND role = $2 "
        "AND department_code IS NOT DISTINCT FROM $3 ORDER BY created_at LIMIT 1",
        name,
        role,
        department_code,
    )
    if found is not None:
        return found
    return await conn.fetchval(
        "INSERT INTO client (name, role, department_code) VALUES ($1, $2, $3) RETURNING id",
        name,
        role,
        department_code,
    )


async def _calendar(conn) -> CachedCalendar:
    """The package's years overridden by the years administrators entered (as the service)."""
    rows = await conn.fetch("SELECT year, holidays, workdays FROM calendar_year")
    return CachedCalendar(
        YearArrangement(r["year"], frozenset(r["holidays"]), frozenset(r["workdays"])) for r in rows
    )


async def _fast_bulk_session(conn) -> None:
    """Skip the per-row foreign-key triggers where allowed (the loader wrote the referenced
    departments and client itself); without superuser rights, load with them."""
    import asyncpg

    try:
        await conn.execute("SET session_replication_role = replica")
    except asyncpg.InsufficientPrivilegeError:
        pass


_ORDER_STAGE = """
CREATE TEMP TABLE demo_order (
    source text, key text, department_code text, window_no text, staff_id text, summary text,
    real_name boolean, tags text[], state text, substantiated boolean, extended boolean,
    appeal_from text, appealed_before boolean, outcome text, opened_at timestamptz,
    deadline_basis_at timestamptz, policy text, deadlines text, provisional boolean,
    current_stage text, next_due_at timestamptz, resolve_due_at timestamptz,
    resolved_at timestamptz, contacted_at timestamptz, called_back_at timestamptz,
    callback_satisfied boolean, closed_at timestamptz, due_soon_at timestamptz,
    overdue_at timestamptz, reopen_count smallint, created_by uuid, updated_at timestamptz,
    rounds text, late_rounds smallint, withdrawal_from text, withdrawal_requests smallint,
    withdrawal_refusals smallint
) ON COMMIT DROP;
CREATE TEMP TABLE demo_event (
    source text, key text, seq integer, action text, at timestamptz, actor_client_id uuid,
    actor_name text, actor_role text, note text, state_before text, state_after text, data text
) ON COMMIT DROP;
"""
_ORDER_COLUMNS = (
    "source", "key", "department_code", "window_no", "staff_id", "summary", "real_name", "tags",
    "state", "substantiated", "extended", "appeal_from", "appealed_before", "outcome",
    "opened_at", "deadline_basis_at", "policy", "deadlines", "provisional", "current_stage",
    "next_due_at", "resolve_due_at", "resolved_at", "contacted_at", "called_back_at",
    "callback_satisfied", "closed_at", "due_soon_at", "overdue_at", "reopen_count",
    "created_by", "updated_at", "rounds", "late_rounds", "withdrawal_from",
    "withdrawal_requests", "withdrawal_refusals",
)  # fmt: skip
_EVENT_COLUMNS = (
    "source", "key", "seq", "action", "at", "actor_client_id", "actor_name", "actor_role",
    "note", "state_before", "state_after", "data",
)  # fmt: skip
# Each order joined to its rating (by the loader's client and event id) or its complaint.
_INSERT_ORDERS = """
INSERT INTO work_order (source, rating_id, complaint_id, department_code, window_no, staff_id,
    summary, real_name, tags, state, substantiated, extended, appeal_from, appealed_before,
    outcome, opened_at, deadline_basis_at, policy, deadlines, provisional, current_stage,
    next_due_at, resolve_due_at, resolved_at, contacted_at, called_back_at, callback_satisfied,
    closed_at, due_soon_at, overdue_at, reopen_count, created_by, created_at, updated_at,
    rounds, late_rounds, withdrawal_from, withdrawal_requests, withdrawal_refusals)
SELECT o.source, r.id, c.id, o.department_code, o.window_no, o.staff_id, o.summary,
       o.real_name, o.tags, o.state, o.substantiated, o.extended, o.appeal_from,
       o.appealed_before, o.outcome, o.opened_at, o.deadline_basis_at, o.policy::jsonb,
       o.deadlines::jsonb, o.provisional, o.current_stage, o.next_due_at, o.resolve_due_at,
       o.resolved_at, o.contacted_at, o.called_back_at, o.callback_satisfied, o.closed_at,
       o.due_soon_at, o.overdue_at, o.reopen_count, o.created_by, o.opened_at, o.updated_at,
       o.rounds::jsonb, o.late_rounds, o.withdrawal_from, o.withdrawal_requests,
       o.withdrawal_refusals
  FROM demo_order o
  LEFT JOIN rating r ON o.source = 'rating' AND r.client_id = $1 AND r.event_id = o.key
  LEFT JOIN complaint c ON o.source = 'complaint' AND c.order_no = o.key
 ORDER BY o.opened_at
"""
_INSERT_EVENTS = """
INSERT INTO work_order_event (work_order_id, seq, action, at, actor_key_id, actor_client_id,
    actor_name, actor_role, note, state_before, state_after, data)
SELECT e.work_order_id, e.seq, e.action, e.at, NULL, e.actor_client_id, e.actor_name,
       e.actor_role, e.note, e.state_before, e.state_after, e.data::jsonb
  FROM (SELECT w.id AS work_order_id, e.*
          FROM demo_event e
          JOIN rating r ON r.client_id = $1 AND r.event_id = e.key
          JOIN work_order w ON w.rating_id = r.id
         WHERE e.source = 'rating'
        UNION ALL
        SELECT w.id, e.*
          FROM demo_event e
          JOIN complaint c ON c.order_no = e.key
          JOIN work_order w ON w.complaint_id = c.id
         WHERE e.source = 'complaint') AS e
 ORDER BY e.work_order_id, e.seq
"""
# Every rating status change of the demo's orders, kept as the service keeps it (from the
# timeline: the confirmed withdrawal or upheld appeal, its actor, note and evidence).
_INSERT_STATUS_CHANGES = """
INSERT INTO rating_status_change (rating_id, work_order_id, status_before, status_after, at,
    action, actor_key_id, actor_client_id, actor_name, actor_role, reason, evidence)
SELECT w.rating_id, w.id, 'valid',
       CASE e.action WHEN 'uphold' THEN 'invalidated' ELSE 'withdrawn' END, e.at, e.action,
       NULL, e.actor_client_id, e.actor_name, e.actor_role, e.note, e.data -> 'evidence'
  FROM work_order_event e
  JOIN work_order w ON w.id = e.work_order_id
  JOIN rating r ON r.id = w.rating_id AND r.client_id = $1
 WHERE e.action IN ('confirm_withdrawal', 'withdraw', 'uphold')
   AND NOT EXISTS (SELECT 1 FROM rating_status_change c WHERE c.work_order_id = w.id)
 ORDER BY e.at, e.id
"""


def _order_records(staged: list[Staged], created_by: dict[str, uuid.UUID | None]) -> list[tuple]:
    out = []
    for s in staged:
        o = s.order
        out.append(
            (
                s.source, s.key, s.department_code, s.window_no, s.staff_id, s.summary,
                o.real_name, s.tags, o.state, o.substantiated, o.extended, o.appeal_from,
                o.appealed_before, o.outcome, o.opened_at, o.deadline_basis_at,
                json.dumps(o.policy), json.dumps(o.deadlines_iso()), o.provisional,
                o.current_stage, o.next_due_at, o.resolve_due_at, o.resolved_at, o.contacted_at,
                o.called_back_at, o.callback_satisfied, o.closed_at, o.due_soon_at,
                o.overdue_at, o.reopen_count, created_by[s.source], o.updated_at,
                json.dumps(o.rounds), o.late_rounds, o.withdrawal_from, o.withdrawal_requests,
                o.withdrawal_refusals,
            )
        )  # fmt: skip
    return out


def _event_records(
    staged: list[Staged], actors: dict[tuple[str, str | None], tuple[Any, str, str | None]]
) -> list[tuple]:
    out = []
    for s in staged:
        for e in s.order.history:
            key = (e.actor, s.department_code if e.actor == DEPARTMENT else None)
            client_id, name, role = actors[key]
            data = e.data
            requester = data.get("evidence", {}).get("requested_by")
            if requester is not None:
                # who asked: the walker names the actor, the demo's clients are known here
                asker = requester["actor"]
                by_id, by_name, by_role = actors[
                    (asker, s.department_code if asker == DEPARTMENT else None)
                ]
                by = {"client_id": str(by_id) if by_id else None, "name": by_name, "role": by_role}
                data = {**data, "evidence": {**data["evidence"], "requested_by": by}}
            out.append(
                (
                    s.source, s.key, e.seq, e.action, e.at, client_id, name, role, e.note,
                    e.state_before, e.state_after, json.dumps(data, ensure_ascii=False),
                )
            )  # fmt: skip
    return out


async def load(
    url: str,
    *,
    ratings: int,
    departments: int,
    end: datetime,
    years: float = 3.0,
    seed: int = 0,
    policy: DeadlinePolicy,
    ring: Keyring | None = None,
    complaint_share: float = COMPLAINT_SHARE,
    workorders: bool = True,
    force: bool = False,
    roll_up: bool = True,
    writers: int = 2,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Register the centre, COPY `ratings` ratings ending at `end` (the demo's "now"), open and
    walk a work order for every 差评 and 12345 complaint, roll up. Counts and timings.
    `ring` encrypts the raters' and callers' names and phones (default: the process's ring).

    RealDataFound when the database has departments the demo did not make, unless `force`."""
    import asyncpg

    from app import privacy

    report = progress or (lambda stage, done, total: None)
    dsn = url.replace("postgresql+asyncpg://", "postgresql://", 1)
    start = end - timedelta(days=int(365.25 * years))
    centre = demo_centre.make_centre(departments, seed)
    result: dict[str, Any] = {"ratings": ratings, "departments": departments}
    conn = await asyncpg.connect(dsn)
    try:
        found = await find_real_data(conn)
        if found is not None and not force:
            raise RealDataFound(found)
        ring = ring or privacy.keyring()
        async with conn.transaction():
            await conn.executemany(
                "INSERT INTO department (code, name) VALUES ($1, $2) "
                "ON CONFLICT (code) DO UPDATE SET name = excluded.name, active = true",
                centre.departments,
            )
            await conn.executemany(
                "INSERT INTO service_window (department_code, window_no, name) "
                "VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                [
                    (code, window_no, f"{window_no} 综合受理窗口")
                    for code, pool in centre.windows.items()
                    for window_no, _ in pool
                ],
            )
            portal = await _client(conn, f"{CLIENT_PREFIX} 评价数据", "portal")
            hotline = await _client(conn, f"{CLIENT_PREFIX} 12345热线", "hotline")
            supervisor = await _client(conn, f"{CLIENT_PREFIX} 督查科", "admin")
            actors: dict[tuple[str, str | None], tuple[Any, str, str | None]] = {
                (SYSTEM, None): (None, "system", None),
                (SUPERVISOR, None): (supervisor, f"{CLIENT_PREFIX} 督查科", "admin"),
                (HOTLINE, None): (hotline, f"{CLIENT_PREFIX} 12345热线", "hotline"),
            }
            if workorders:
                for code, name in centre.departments:
                    client_name = f"{CLIENT_PREFIX} {name}"
                    client = await _client(conn, client_name, "department", code)
                    actors[(DEPARTMENT, code)] = (client, client_name, "department")
            cal = await _calendar(conn)
        walker = Walker(cal, policy, end, random.Random(seed + 1)) if workorders else None
        prefix = f"demo{uuid.uuid4().hex[:6]}"
        started = time.perf_counter()
        loaded = 0
        staged: list[Staged] = []
        queue: asyncio.Queue = asyncio.Queue(maxsize=2)
        report("ratings", 0, ratings)

        async def copier() -> None:
            nonlocal loaded
            writer = await asyncpg.connect(dsn)
            try:
                await _fast_bulk_session(writer)
                while (records := await queue.get()) is not None:
                    async with writer.transaction():
                        # as the statement trigger would: a transaction id before any rating id
                        await writer.execute("SELECT pg_current_xact_id()")
                        await writer.copy_records_to_table(
                            "rating", records=records, columns=demo_centre.RATING_COLUMNS
                        )
                    loaded += len(records)
                    report("ratings", loaded, ratings)
            finally:
                await writer.close()

        copiers = [asyncio.create_task(copier()) for _ in range(writers)]
        try:
            for records, orders in demo_centre.generate(
                centre,
                ratings,
                client_id=portal,
                start=start,
                end=end,
                walker=walker,
                ring=ring,
                seed=seed,
                batch=min(50_000, max(5_000, ratings // 10)),
                id_prefix=prefix,
            ):
                staged.extend(orders)
                await queue.put(records)
        finally:
            for _ in copiers:
                await queue.put(None)
            await asyncio.gather(*copiers)
        result["load_seconds"] = time.perf_counter() - started
        result["rate"] = ratings / result["load_seconds"]
        if walker is not None:
            started = time.perf_counter()
            result |= await _write_orders(
                conn,
                centre,
                walker,
                staged,
                ring=ring,
                portal=portal,
                hotline=hotline,
                actors=actors,
                start=start,
                end=end,
                count=round(ratings * complaint_share),
                seed=seed,
                prefix=prefix,
                report=report,
            )
            result["workorder_seconds"] = time.perf_counter() - started
    finally:
        await conn.close()
    if roll_up:
        started = time.perf_counter()
        result["rolled_up"] = await _roll_up(url, report)
        result["rollup_seconds"] = time.perf_counter() - started
    return result


async def _write_orders(
    conn,
    centre: demo_centre.Centre,
    walker: Walker,
    staged: list[Staged],
    *,
    ring: Keyring,
    portal: uuid.UUID,
    hotline: uuid.UUID,
    actors: dict,
    start: datetime,
    end: datetime,
    count: int,
    seed: int,
    prefix: str,
    report: Progress,
) -> dict[str, Any]:
    """The 12345 complaints, then every order and its history, set-based in one transaction."""
    complaint_rows, complaint_orders = demo_centre.complaints(
        centre,
        count,
        client_id=hotline,
        start=start,
        end=end,
        walker=walker,
        ring=ring,
        seed=seed,
        id_prefix=prefix,
    )
    staged = staged + complaint_orders
    orders = _order_records(staged, {"rating": None, "complaint": hotline})
    events = _event_records(staged, actors)
    total = len(orders) + len(events)
    report("work orders", 0, total)
    async with conn.transaction():
        await conn.copy_records_to_table(
            "complaint", records=complaint_rows, columns=demo_centre.COMPLAINT_COLUMNS
        )
        await conn.execute(_ORDER_STAGE)
        await conn.copy_records_to_table("demo_order", records=orders, columns=_ORDER_COLUMNS)
        await conn.copy_records_to_table("demo_event", records=events, columns=_EVENT_COLUMNS)
        inserted = await conn.execute(_INSERT_ORDERS, portal)
        if int(inserted.split()[-1]) != len(orders):
            raise RuntimeError(f"{inserted}: expected {len(orders)} work orders")
        report("work orders", len(orders), total)
        inserted = await conn.execute(_INSERT_EVENTS, portal)
        if int(inserted.split()[-1]) != len(events):
            raise RuntimeError(f"{inserted}: expected {len(events)} history rows")
        await conn.execute(_INSERT_STATUS_CHANGES, portal)
        report("work orders", total, total)
    by_state: dict[str, int] = {}
    for s in staged:
        by_state[s.order.state] = by_state.get(s.order.state, 0) + 1
    overdue = sum(1 for s in staged if s.order.next_due_at and s.order.next_due_at < end)
    return {
        "complaints": len(complaint_rows),
        "work_orders": len(orders),
        "history_rows": len(events),
        "by_state": dict(sorted(by_state.items())),
        "overdue": overdue,
    }


async def _roll_up(url: str, report: Progress, *, wait_seconds: float = 60.0) -> int:
    """Roll everything up in steps (for the progress line); the ratings folded."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    from app.stats import rollup

    engine = create_async_engine(url)
    watermark = text("SELECT coalesce((SELECT rolled_to FROM rating_rollup_watermark), 0)")
    try:
        candidate = await rollup.plan(engine)
        deadline = time.monotonic() + wait_seconds
        while not await rollup.ready(engine, candidate):
            if time.monotonic() >= deadline:
                return 0  # a long transaction elsewhere: the server's roll-up will do it
            await asyncio.sleep(0.05)
        async with engine.connect() as conn:
            first = (await conn.execute(watermark)).scalar_one()
        total = max(candidate.upto - first, 0)
        step = max(50_000, total // 10)
        folded, done, stuck_since = 0, first, time.monotonic()
        report("roll-up", 0, total)
        while done < candidate.upto:
            part = rollup.Candidate(
                upto=min(candidate.upto, done + step), running=(), epoch=candidate.epoch
            )
            folded += await rollup.apply(engine, part, chunk=step)
            async with engine.connect() as conn:
                now_at = (await conn.execute(watermark)).scalar_one()
            if now_at <= done:
                # another process holds the roll-up, or the watermark was reset
                if time.monotonic() - stuck_since > wait_seconds:
                    break
                await asyncio.sleep(0.1)
                continue
            done, stuck_since = now_at, time.monotonic()
            report("roll-up", min(done, candidate.upto) - first, total)
        return folded
    finally:
        await engine.dispose()
