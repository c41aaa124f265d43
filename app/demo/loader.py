"""Load the demo centre: refuse real data, COPY ratings, open and walk the work orders, roll up."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from datetime import datetime, timedelta
from typing import Any

from app.demo import centre as demo_centre
from app.demo import rollup
from app.demo.centre import Staged
from app.demo.extras import load_extras
from app.demo.order import DEPARTMENT, HOTLINE, SUPERVISOR, SYSTEM
from app.demo.progress import Report
from app.demo.realdata import RealDataFound, find_real_data
from app.demo.walker import CachedCalendar, Walker
from app.demo.writer import write_orders
from app.privacy import Keyring
from app.workorders.calendar import YearArrangement
from app.workorders.deadlines import DeadlinePolicy

__all__ = ["RealDataFound", "load"]

CLIENT_PREFIX = "haochaping demo"
# 12345 complaints about windows per rating (about 2 a day at a county centre).
COMPLAINT_SHARE = 0.002


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
    progress: Report | None = None,
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
            result |= await write_orders(
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
        started = time.perf_counter()
        result |= await load_extras(
            conn,
            centre,
            start=start,
            end=end,
            seed=seed,
            prefix=prefix,
            surveyor=supervisor,
            report=report,
        )
        result["extras_seconds"] = time.perf_counter() - started
    finally:
        await conn.close()
    if roll_up:
        started = time.perf_counter()
        result["rolled_up"] = await rollup.roll_up(url, report)
        result["rollup_seconds"] = time.perf_counter() - started
    return result
