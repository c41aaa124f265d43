"""The roll-up job: fold ratings below a safe id into the rollup tables, behind a watermark.

Exactness rests on three rules:

1. The watermark only passes ids whose inserting transactions have all finished. Rating ids
   come from a sequence and commit out of order, so the job first reads the sequence's last
   value L, then takes a transaction id P of its own, then a snapshot S, and waits until every
   transaction that S lists as running, and every transaction id from S's xmax up to P, has
   ended. A statement trigger on `rating` (migration 0003) gives each inserting transaction its
   transaction id before it draws a rating id, so any transaction holding an id <= L got its
   transaction id before P: it is below S's xmax (running in S, or already ended) or between
   xmax and P. (A snapshot does not list running transactions at or above its xmax, which is
   the latest *completed* id plus one: without the range, a writer that took its id just
   before the plan would be missed.) Once they have all ended, every rating with id <= L that
   will ever exist is committed and visible.
2. Rolling up (watermark, L] and moving the watermark happen in one transaction, so a reader
   (one statement, one snapshot) sees the rollups and the watermark of the same moment and adds
   the raw ratings above the watermark itself.
3. A change of status (withdrawal, appeal upheld) of a rating at or below the watermark moves
   its count between status buckets in its own transaction. It reads the watermark FOR SHARE
   while the job holds it FOR UPDATE, so either the job runs first (and the change, waiting,
   then sees the new watermark and adjusts) or the change commits first (and the job, whose
   statements start after it got the lock, reads the new status).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from app.config import BUSINESS_TZ
from app.stats.periods import GRAINS, bucket_start

ADVISORY_LOCK_KEY = 7470004
DEFAULT_CHUNK = 1_000_000


@dataclass(frozen=True, slots=True)
class Candidate:
    """A planned roll-up target: ids <= upto, safe once the transactions in `running` ended."""

    upto: int
    running: tuple[int, ...]
    epoch: uuid.UUID


_ENSURE_WATERMARK = text(
    "INSERT INTO rating_rollup_watermark (id) VALUES (1) ON CONFLICT (id) DO NOTHING"
)

_LAST_ID = text(
    """
    SELECT w.epoch,
           (SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END
              FROM rating_id_seq) AS last_id
      FROM rating_rollup_watermark w WHERE w.id = 1
    """
)

# A separate statement, hence a snapshot taken after the sequence was read.
_OWN_XID = text("SELECT pg_current_xact_id()::text::bigint")
# A separate statement, hence a snapshot taken after our own transaction id was assigned: what
# it lists as running, and every id from its xmax up to (not including) ours.
_RUNNING = text(
    """
    SELECT x::text::bigint AS xid FROM pg_snapshot_xip(pg_current_snapshot()) AS x
    UNION
    SELECT generate_series(pg_snapshot_xmax(pg_current_snapshot())::text::bigint, :own - 1)
    """
)

# Judged by a snapshot, not by pg_xact_status(): a transaction is marked committed in the commit
# log a moment before it leaves the list of running transactions, and in that moment a new
# snapshot would still not see its rows.
_STILL_RUNNING = text(
    "SELECT count(*) FROM unnest(CAST(:xids AS bigint[])) AS x(xid) "
    "WHERE NOT pg_visible_in_snapshot(x.xid::text::xid8, pg_current_snapshot())"
)

_BUCKET = """CASE g.grain WHEN 'y' THEN date_trunc('year', s.day::timestamp)::date
                         WHEN 'q' THEN date_trunc('quarter', s.day::timestamp)::date
                         WHEN 'm' THEN date_trunc('month', s.day::timestamp)::date
                         ELSE s.day END"""

_ROLL_UP = text(
    f"""
    WITH src AS MATERIALIZED (
        SELECT (rated_at AT TIME ZONE 'Asia/Shanghai')::date AS day, department_code, channel,
               rater_type, status, level, coalesce(window_no, '') AS window_no,
               coalesce(staff_id, '') AS staff_id, is_bad, tags
          FROM rating
         WHERE id > :lo AND id <= :hi AND NOT is_default  -- default ratings: counted apart
    ),
    g AS (SELECT * FROM (VALUES ('y'), ('q'), ('m'), ('d')) AS g(grain)),
    main_day AS (
        SELECT day, department_code, channel, rater_type, status, level, count(*) AS n
          FROM src GROUP BY 1, 2, 3, 4, 5, 6
    ),
    main AS (
        INSERT INTO rating_rollup AS r
               (grain, bucket, department_code, channel, rater_type, status, level, n)
        SELECT g.grain, {_BUCKET}, s.department_code, s.channel, s.rater_type, s.status,
               s.level, sum(s.n)
          FROM main_day s CROSS JOIN g
         GROUP BY 1, 2, 3, 4, 5, 6, 7
        ON CONFLICT (grain, bucket, department_code, channel, rater_type, status, level)
        DO UPDATE SET n = r.n + excluded.n
        RETURNING 1
    ),
    department AS (
        INSERT INTO rating_department_rollup AS r
               (grain, bucket, department_code, status, level, n)
        SELECT g.grain, {_BUCKET}, s.department_code, s.status, s.level, sum(s.n)
          FROM main_day s CROSS JOIN g
         GROUP BY 1, 2, 3, 4, 5
        ON CONFLICT (grain, bucket, department_code, status, level)
        DO UPDATE SET n = r.n + excluded.n
        RETURNING 1
    ),
    split AS (
        INSERT INTO rating_split_rollup AS r
               (grain, bucket, channel, rater_type, status, level, n)
        SELECT g.grain, {_BUCKET}, s.channel, s.rater_type, s.status, s.level, sum(s.n)
          FROM main_day s CROSS JOIN g
         GROUP BY 1, 2, 3, 4, 5, 6
        ON CONFLICT (grain, bucket, channel, rater_type, status, level)
        DO UPDATE SET n = r.n + excluded.n
        RETURNING 1
    ),
    staff_day AS (
        SELECT day, department_code, window_no, staff_id, status, level, count(*) AS n
          FROM src GROUP BY 1, 2, 3, 4, 5, 6
    ),
    staff AS (
        INSERT INTO rating_staff_rollup AS r
               (department_code, grain, bucket, window_no, staff_id, status, level, n)
        SELECT s.department_code, g.grain, {_BUCKET}, s.window_no, s.staff_id, s.status,
               s.level, sum(s.n)
          FROM staff_day s CROSS JOIN g
         GROUP BY 1, 2, 3, 4, 5, 6, 7
        ON CONFLICT (department_code, grain, bucket, window_no, staff_id, status, level)
        DO UPDATE SET n = r.n + excluded.n
        RETURNING 1
    ),
    tag_day AS (
        SELECT src.day, src.department_code, src.channel, src.rater_type, src.status,
               src.is_bad, t.tag, count(*) AS n
          FROM src CROSS JOIN LATERAL unnest(src.tags) AS t(tag)
         GROUP BY 1, 2, 3, 4, 5, 6, 7
    ),
    tag AS (
        INSERT INTO rating_tag_rollup AS r
               (grain, bucket, department_code, channel, rater_type, status, is_bad, tag, n)
        SELECT g.grain, {_BUCKET}, s.department_code, s.channel, s.rater_type, s.status,
               s.is_bad, s.tag, sum(s.n)
          FROM tag_day s CROSS JOIN g
         GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
        ON CONFLICT (grain, bucket, department_code, channel, rater_type, status, is_bad, tag)
        DO UPDATE SET n = r.n + excluded.n
        RETURNING 1
    ),
    staff_tag AS (
        INSERT INTO rating_staff_tag_rollup AS r
               (department_code, grain, bucket, window_no, staff_id, status, tag, n)
        SELECT s.department_code, g.grain, {_BUCKET}, s.window_no, s.staff_id, s.status, s.tag,
               sum(s.n)
          FROM (SELECT src.day, src.department_code, src.window_no, src.staff_id, src.status,
                       t.tag, count(*) AS n
                  FROM src CROSS JOIN LATERAL unnest(src.tags) AS t(tag)
                 GROUP BY 1, 2, 3, 4, 5, 6) AS s CROSS JOIN g
         GROUP BY 1, 2, 3, 4, 5, 6, 7
        ON CONFLICT (department_code, grain, bucket, window_no, staff_id, status, tag)
        DO UPDATE SET n = r.n + excluded.n
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM src) AS ratings,
           (SELECT count(*) FROM main) + (SELECT count(*) FROM department)
           + (SELECT count(*) FROM split) + (SELECT count(*) FROM staff)
           + (SELECT count(*) FROM tag) + (SELECT count(*) FROM staff_tag) AS rows
    """
)


async def plan(engine: AsyncEngine) -> Candidate:
    """Read the last rating id handed out, then the transactions running just after."""
    async with engine.begin() as conn:
        await conn.execute(_ENSURE_WATERMARK)
    async with engine.connect() as conn:
        row = (await conn.execute(_LAST_ID)).one()
        own = (await conn.execute(_OWN_XID)).scalar_one()
        running = tuple(
            xid for xid in (await conn.execute(_RUNNING, {"own": own})).scalars() if xid != own
        )
        await conn.rollback()
    return Candidate(upto=int(row.last_id), running=running, epoch=row.epoch)


async def ready(engine: AsyncEngine, candidate: Candidate) -> bool:
    """True once every transaction that might hold an id <= candidate.upto has ended."""
    if not candidate.running:
        return True
    async with engine.connect() as conn:
        still = (await conn.execute(_STILL_RUNNING, {"xids": list(candidate.running)})).scalar_one()
        await conn.rollback()
    return still == 0


async def apply(engine: AsyncEngine, candidate: Candidate, *, chunk: int = DEFAULT_CHUNK) -> int:
    """Roll up from the watermark to candidate.upto, in chunks; the number of ratings folded."""
    folded = 0
    while True:
        async with engine.begin() as conn:
            got = (
                await conn.execute(
                    text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": ADVISORY_LOCK_KEY}
                )
            ).scalar_one()
            if not got:
                return folded  # another process is rolling up
            await conn.execute(_ENSURE_WATERMARK)
            state = (
                await conn.execute(
                    text(
                        "SELECT rolled_to, epoch FROM rating_rollup_watermark "
                        "WHERE id = 1 FOR UPDATE"
                    )
                )
            ).one()
            if state.epoch != candidate.epoch:
                return folded  # the watermark was reset since the plan: plan again
            # the aggregation of a chunk fits in memory; a lost commit loses the watermark
            # move with the rows, so an asynchronous commit cannot make the figures wrong
            await conn.execute(text("SET LOCAL work_mem = '256MB'"))
            await conn.execute(text("SET LOCAL synchronous_commit = off"))
            lo = state.rolled_to
            hi = min(candidate.upto, lo + chunk)
            if hi <= lo:
                return folded
            result = (await conn.execute(_ROLL_UP, {"lo": lo, "hi": hi})).one()
            await conn.execute(
                text(
                    "UPDATE rating_rollup_watermark SET rolled_to = :hi, updated_at = now() "
                    "WHERE id = 1"
                ),
                {"hi": hi},
            )
            folded += result.ratings
        if hi >= candidate.upto:
            return folded


async def roll_up(
    engine: AsyncEngine,
    *,
    wait_seconds: float = 5.0,
    chunk: int = DEFAULT_CHUNK,
    poll_seconds: float = 0.01,
) -> int:
    """Plan, wait (at most wait_seconds) for in-flight inserts to end, roll up; ratings folded."""
    candidate = await plan(engine)
    deadline = time.monotonic() + wait_seconds
    while not await ready(engine, candidate):
        if time.monotonic() >= deadline:
            return 0  # a long transaction: try again next time
        await asyncio.sleep(poll_seconds)
    return await apply(engine, candidate, chunk=chunk)


async def rating_status_changed(
    session: AsyncSession | AsyncConnection,
    rating: dict[str, Any],
    old_status: str,
    new_status: str,
) -> None:
    """Move a rolled-up rating between status buckets, in the caller's transaction."""
    if old_status == new_status:
        return
    rolled_to = (
        await session.execute(
            text("SELECT rolled_to FROM rating_rollup_watermark WHERE id = 1 FOR SHARE")
        )
    ).scalar_one_or_none()
    # No watermark row: nothing was rolled up since the table was (re)made. A roll-up that
    # creates it concurrently waits for this transaction (it is running in the job's snapshot).
    if rolled_to is None or rating["id"] > rolled_to or rating.get("is_default"):
        return
    day: date = rating["rated_at"].astimezone(BUSINESS_TZ).date()
    grains = list(GRAINS)
    buckets = [bucket_start(g, day) for g in grains]
    # Lock order: fixed by (grain, status) so that two changes cannot deadlock.
    statuses = sorted([(old_status, -1), (new_status, 1)])
    params = {
        "grains": [g for g in grains for _ in statuses],
        "buckets": [b for b in buckets for _ in statuses],
        "statuses": [s for _ in grains for s, _ in statuses],
        "deltas": [d for _ in grains for _, d in statuses],
        "department_code": rating["department_code"],
        "channel": rating["channel"],
        "rater_type": rating["rater_type"],
        "level": rating["level"],
        "window_no": rating.get("window_no") or "",
        "staff_id": rating.get("staff_id") or "",
        "is_bad": rating["level"] <= 2,
        "tags": list(rating.get("tags") or []),
    }
    await session.execute(_ADJUST, params)


_DELTAS = """unnest(CAST(:grains AS text[]), CAST(:buckets AS date[]),
                    CAST(:statuses AS text[]), CAST(:deltas AS bigint[]))
             AS v(grain, bucket, status, delta)"""

_ADJUST = text(
    f"""
    WITH main AS (
        INSERT INTO rating_rollup AS r
               (grain, bucket, department_code, channel, rater_type, status, level, n)
        SELECT v.grain, v.bucket, :department_code, :channel, :rater_type, v.status,
               CAST(:level AS smallint), v.delta
          FROM {_DELTAS}
        ON CONFLICT (grain, bucket, department_code, channel, rater_type, status, level)
        DO UPDATE SET n = r.n + excluded.n
        RETURNING 1
    ),
    department AS (
        INSERT INTO rating_department_rollup AS r
               (grain, bucket, department_code, status, level, n)
        SELECT v.grain, v.bucket, :department_code, v.status, CAST(:level AS smallint), v.delta
          FROM {_DELTAS}
        ON CONFLICT (grain, bucket, department_code, status, level)
        DO UPDATE SET n = r.n + excluded.n
        RETURNING 1
    ),
    split AS (
        INSERT INTO rating_split_rollup AS r
               (grain, bucket, channel, rater_type, status, level, n)
        SELECT v.grain, v.bucket, :channel, :rater_type, v.status, CAST(:level AS smallint),
               v.delta
          FROM {_DELTAS}
        ON CONFLICT (grain, bucket, channel, rater_type, status, level)
        DO UPDATE SET n = r.n + excluded.n
        RETURNING 1
    ),
    staff AS (
        INSERT INTO rating_staff_rollup AS r
               (department_code, grain, bucket, window_no, staff_id, status, level, n)
        SELECT :department_code, v.grain, v.bucket, :window_no, :staff_id, v.status,
               CAST(:level AS smallint), v.delta
          FROM {_DELTAS}
        ON CONFLICT (department_code, grain, bucket, window_no, staff_id, status, level)
        DO UPDATE SET n = r.n + excluded.n
        RETURNING 1
    ),
    tag AS (
        INSERT INTO rating_tag_rollup AS r
               (grain, bucket, department_code, channel, rater_type, status, is_bad, tag, n)
        SELECT v.grain, v.bucket, :department_code, :channel, :rater_type, v.status,
               CAST(:is_bad AS boolean), t.tag, v.delta
          FROM {_DELTAS} CROSS JOIN unnest(CAST(:tags AS text[])) AS t(tag)
         ORDER BY t.tag, v.grain, v.status
        ON CONFLICT (grain, bucket, department_code, channel, rater_type, status, is_bad, tag)
        DO UPDATE SET n = r.n + excluded.n
        RETURNING 1
    ),
    staff_tag AS (
        INSERT INTO rating_staff_tag_rollup AS r
               (department_code, grain, bucket, window_no, staff_id, status, tag, n)
        SELECT :department_code, v.grain, v.bucket, :window_no, :staff_id, v.status, t.tag,
               v.delta
          FROM {_DELTAS} CROSS JOIN unnest(CAST(:tags AS text[])) AS t(tag)
         ORDER BY t.tag, v.grain, v.status
        ON CONFLICT (department_code, grain, bucket, window_no, staff_id, status, tag)
        DO UPDATE SET n = r.n + excluded.n
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM main) + (SELECT count(*) FROM department)
           + (SELECT count(*) FROM split) + (SELECT count(*) FROM staff)
           + (SELECT count(*) FROM tag) + (SELECT count(*) FROM staff_tag)
    """
)
