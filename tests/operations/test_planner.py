"""Young tables are analysed as they grow (app/planner.py), and the ratings' INSERT, planned once
per connection, then reads one department's window, never every department's or a client's
ratings. On a database of its own: the plan depends on what the tables held when it was made."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from app import migrate, planner
from app.auth.service import Principal
from app.clock import SettableClock
from app.config import IntegritySettings
from app.jobs import JobContext
from app.ratings import insert
from app.ratings.fastpath import sql as fast_sql

pytestmark = pytest.mark.asyncio


@pytest.fixture
async def fresh(pg_url: str) -> AsyncIterator[AsyncEngine]:
    """A new, migrated, empty database; an engine on it."""
    base, _, query = pg_url.partition("?")
    server = base.rsplit("/", 1)[0]
    name = f"planner_{uuid.uuid4().hex[:8]}"
    url = f"{server}/{name}" + (f"?{query}" if query else "")
    admin = create_async_engine(
        f"{server}/postgres" + (f"?{query}" if query else ""), isolation_level="AUTOCOMMIT"
    )
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    await asyncio.to_thread(migrate.upgrade, url)
    engine = create_async_engine(url)
    try:
        yield engine
    finally:
        await engine.dispose()
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


def _context(engine: AsyncEngine) -> JobContext:
    return JobContext(engine, async_sessionmaker(engine), SettableClock())


async def _changed(engine: AsyncEngine, sql: str) -> None:
    """Run `sql` and make this backend's table counters visible at once (they are otherwise
    flushed at most once a second)."""
    async with engine.connect() as conn:
        await conn.execute(text(sql))
        await conn.execute(text("SELECT pg_stat_force_next_flush()"))
        await conn.commit()
    async with engine.connect() as conn:  # a new transaction of the same pool: flushed
        await conn.execute(text("SELECT 1"))


async def _analysed(engine: AsyncEngine, table: str) -> int:
    async with engine.connect() as conn:
        return await conn.scalar(
            text("SELECT analyze_count FROM pg_stat_user_tables WHERE relname = :t"), {"t": table}
        )


async def test_a_young_table_is_analysed_once_it_has_grown_by_its_own_size(fresh):
    context = _context(fresh)
    await _changed(fresh, "CREATE TABLE sample (n int)")
    await _changed(
        fresh, f"INSERT INTO sample SELECT generate_series(1, {planner.MIN_CHANGES // 2})"
    )
    assert "public.sample" not in await planner.analyze_young_tables(context)  # too few yet
    await _changed(fresh, f"INSERT INTO sample SELECT generate_series(1, {planner.MIN_CHANGES})")
    assert "public.sample" in await planner.analyze_young_tables(context)
    assert await _analysed(fresh, "sample") == 1
    assert "public.sample" not in await planner.analyze_young_tables(context)  # nothing new
    # 1,500 rows analysed: due again after 1,500 more changes, not before
    await _changed(fresh, "INSERT INTO sample SELECT generate_series(1, 1000)")
    assert "public.sample" not in await planner.analyze_young_tables(context)
    await _changed(fresh, "INSERT INTO sample SELECT generate_series(1, 600)")
    assert "public.sample" in await planner.analyze_young_tables(context)
    assert await _analysed(fresh, "sample") == 2


async def test_a_grown_table_is_left_to_autovacuum(fresh):
    context = _context(fresh)
    rows = planner.YOUNG_ROWS
    await _changed(fresh, f"CREATE TABLE grown AS SELECT generate_series(1, {rows}) AS n")
    await _changed(fresh, "ANALYZE grown")
    await _changed(fresh, f"INSERT INTO grown SELECT generate_series(1, {rows})")
    assert "public.grown" not in await planner.analyze_young_tables(context)
    assert await _analysed(fresh, "grown") == 1  # the test's own ANALYZE only


def _indexes(plan: dict) -> list[str]:
    found = [plan["Index Name"]] if "Index Name" in plan else []
    for child in plan.get("Plans", []):
        found += _indexes(child)
    return found


async def test_the_insert_planned_on_a_young_table_reads_the_departments_window(fresh):
    """The statement's generic plan, made once the planner job has analysed the table's first
    few thousand ratings (8 clients, 40 departments): every probe of the flag rules goes through
    the department's index, none through rated_at alone or the client's unique index."""
    async with fresh.connect() as conn:
        clients = [
            (
                await conn.execute(
                    text("INSERT INTO client (name, role) VALUES (:n, 'portal') RETURNING id"),
                    {"n": f"portal-{i}"},
                )
            ).scalar_one()
            for i in range(8)
        ]
        await conn.execute(
            text(
                "INSERT INTO department (code, name) SELECT 'D' || i, '部门' || i "
                "FROM generate_series(0, 39) AS i"
            )
        )
        await conn.execute(
            text(
                "INSERT INTO rating (client_id, event_id, payload_hash, channel, department_code,"
                " level, rater_type, rated_at)"
                " SELECT (CAST(:clients AS uuid[]))[1 + i % 8], 'e' || i, '\\x00', 'pc',"
                " 'D' || (i % 40), 5, 'anonymous', now() - i * interval '1 second'"
                " FROM generate_series(1, 3000) AS i"
            ),
            {"clients": clients},
        )
        await conn.execute(text("SELECT pg_stat_force_next_flush()"))
        await conn.commit()
    async with fresh.connect() as conn:
        await conn.execute(text("SELECT 1"))
    assert "public.rating" in await planner.analyze_young_tables(_context(fresh))

    principal = Principal(uuid.uuid4(), clients[0], "portal-0", "portal")
    bare = {
        "department_code": "D0",
        "rater_phone_hash": None,
        "comment": None,
        "window_no": None,
        "rater_type": "anonymous",
        "assess_number": 1,
    }
    shape = insert.shape(principal, [bare], IntegritySettings())
    assert shape.flags == ("bare_burst", "source_share")
    # (statement, the probes' scans: one a rule, two in a flood's single events, one where the
    # flood goes on: its continuation checks only)
    assert shape.one_scan
    flood = shape._replace(one_scan=False)
    statements = {
        "one event (direct path)": (fast_sql._insert_one_checked(shape), 2),
        "one event (direct path), a flood": (fast_sql._insert_one_checked(flood), 4),
        "one event (direct path), a flood going on": (
            fast_sql._insert_one_checked(shape._replace(one_scan=False, continued=True)),
            2,
        ),
        "one event": (insert._statement(shape, False), 2),
        "one event, a flood": (insert._statement(flood, False), 4),
        "a batch": (insert._statement(shape, True), 2),
    }
    async with fresh.connect() as conn:
        raw = (await conn.get_raw_connection()).driver_connection
        await raw.execute("SET plan_cache_mode = force_generic_plan")
        for what, ((sql, names), scans) in statements.items():
            # EXPLAIN of a statement with bound values would plan for those values (a custom
            # plan); EXECUTE of a PREPAREd one under force_generic_plan shows the generic plan
            await raw.execute(f"PREPARE probe AS {sql}")
            nulls = ", ".join(["NULL"] * len(names))
            found = await raw.fetchval(f"EXPLAIN (FORMAT JSON) EXECUTE probe({nulls})")
            await raw.execute("DEALLOCATE probe")
            plan = (json.loads(found) if isinstance(found, str) else found)[0]["Plan"]
            used = _indexes(plan)
            assert used.count("ix_rating_department_rated_at_id") == scans, (what, used)
            assert "ix_rating_rated_at_id" not in used, (what, used)
            assert "uq_rating_client_id_event_id" not in used, (what, used)
