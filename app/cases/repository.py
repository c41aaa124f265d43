"""The case ledger's SQL: the upsert, the day tallies kept beside it, the figures' sums."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.stats.periods import add_months

FIELDS = (
    "department_code",
    "window_no",
    "staff_id",
    "service_item_code",
    "service_item_name",
    "accepted_at",
    "finished_at",
    "on_time",
)
# One lock for every import: two imports of one new case_no would both count it.
_IMPORT_LOCK = 0x68637063  # "hcpc"

# A case's part in the day tallies, once per dimension, times :sign (+1 add, -1 remove).
# Rows in key order: concurrent writers lock the tallies in one order.
_APPLY = text(
    """
    INSERT INTO case_day AS t (dimension, grain, bucket, department_code, key, label,
                               cases, finished, on_time, rated)
    SELECT d.dimension, g.grain, g.bucket, c.department_code, d.key, max(d.label),
           :sign * count(*),
           :sign * count(*) FILTER (WHERE c.finished_at IS NOT NULL),
           :sign * count(*) FILTER (WHERE c.on_time),
           :sign * count(*) FILTER (WHERE c.rating_count > 0)
      FROM service_case c
      CROSS JOIN LATERAL (VALUES
          ('department', '', NULL),
          ('window', coalesce(c.window_no, ''), NULL),
          ('staff', coalesce(c.staff_id, ''), NULL),
          ('item', coalesce(c.service_item_code, ''), c.service_item_name)
      ) AS d(dimension, key, label)
      CROSS JOIN LATERAL (VALUES
          ('d', (c.accepted_at AT TIME ZONE 'Asia/Shanghai')::date),
          ('m', date_trunc('month', c.accepted_at AT TIME ZONE 'Asia/Shanghai')::date)
      ) AS g(grain, bucket)
     WHERE c.id = ANY(:ids)
     GROUP BY 1, 2, 3, 4, 5
     ORDER BY 1, 2, 3, 4, 5
    ON CONFLICT (dimension, grain, bucket, department_code, key) DO UPDATE SET
        label = coalesce(excluded.label, t.label),
        cases = t.cases + excluded.cases,
        finished = t.finished + excluded.finished,
        on_time = t.on_time + excluded.on_time,
        rated = t.rated + excluded.rated
    """
)


async def apply(session: AsyncSession, ids: list[int], sign: int) -> None:
    """Add (+1) or remove (-1) these cases' part in the day tallies."""
    if ids:
        await session.execute(_APPLY, {"ids": ids, "sign": sign})


async def lock_imports(session: AsyncSession) -> None:
    await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _IMPORT_LOCK})


async def stored(session: AsyncSession, case_nos: list[str]) -> dict[str, dict[str, Any]]:
    """case_no -> its stored fields and id, locked for this transaction."""
    rows = await session.execute(
        text(
            f"SELECT id, case_no, {', '.join(FIELDS)} FROM service_case "
            "WHERE case_no = ANY(:nos) ORDER BY id FOR UPDATE"
        ),
        {"nos": case_nos},
    )
    return {r.case_no: dict(r._mapping) for r in rows}


async def upsert(session: AsyncSession, rows: list[dict[str, Any]]) -> dict[str, int]:
    """Insert or replace these cases; case_no -> id."""
    if not rows:
        return {}
    columns = ("case_no", *FIELDS)
    types = {
        "accepted_at": "timestamptz[]",
        "finished_at": "timestamptz[]",
        "on_time": "boolean[]",
    }
    arrays = ", ".join(f"CAST(:{c} AS {types.get(c, 'text[]')})" for c in columns)
    updates = ", ".join(f"{c} = excluded.{c}" for c in FIELDS)
    result = await session.execute(
        text(
            f"INSERT INTO service_case ({', '.join(columns)}) "
            f"SELECT * FROM unnest({arrays}) "
            f"ON CONFLICT (case_no) DO UPDATE SET {updates}, updated_at = now() "
            "RETURNING case_no, id"
        ),
        {c: [r[c] for r in rows] for c in columns},
    )
    return {case_no: id_ for case_no, id_ in result.all()}


async def set_rating_counts(session: AsyncSession, counts: dict[str, int]) -> None:
    if counts:
        await session.execute(
            text(
                "UPDATE service_case c SET rating_count = v.n "
                "FROM unnest(CAST(:nos AS text[]), CAST(:ns AS int[])) AS v(case_no, n) "
                "WHERE c.case_no = v.case_no"
            ),
            {"nos": list(counts), "ns": list(counts.values())},
        )


async def get_case(session: AsyncSession, case_no: str) -> dict[str, Any] | None:
    row = (
        await session.execute(
            text(
                f"SELECT case_no, {', '.join(FIELDS)}, rating_count FROM service_case "
                "WHERE case_no = :no"
            ),
            {"no": case_no},
        )
    ).first()
    return None if row is None else dict(row._mapping)


_SUMS = (
    "sum(cases)::bigint AS cases, sum(finished)::bigint AS finished, "
    "sum(on_time)::bigint AS on_time, sum(rated)::bigint AS rated"
)


def cover(start_on: date, end_on: date) -> tuple[list[date], list[date]]:
    """The whole months of [start_on, end_on), and its other days."""
    months, days, cursor = [], [], start_on
    while cursor < end_on:
        if cursor.day == 1 and add_months(cursor, 1) <= end_on:
            months.append(cursor)
            cursor = add_months(cursor, 1)
        else:
            days.append(cursor)
            cursor += timedelta(days=1)
    return months, days


def _in_period(start_on: date, end_on: date, department_code: str | None) -> tuple[str, dict]:
    months, days = cover(start_on, end_on)
    where = (
        "dimension = :dimension AND ((grain = 'm' AND bucket = ANY(:months)) "
        "OR (grain = 'd' AND bucket = ANY(:days)))"
    )
    if department_code is not None:
        where += " AND department_code = :code"
    return where, {"months": months, "days": days, "code": department_code}


async def sums(
    session: AsyncSession,
    dimension: str,
    start_on: date,
    end_on: date,
    department_code: str | None = None,
) -> list[dict[str, Any]]:
    """Per department (and key): the period's summed tallies, rows with no case left out."""
    where, params = _in_period(start_on, end_on, department_code)
    rows = await session.execute(
        text(
            f"SELECT department_code, key, max(label) AS label, {_SUMS} FROM case_day "
            f"WHERE {where} GROUP BY department_code, key HAVING sum(cases) > 0 "
            "ORDER BY department_code, key"
        ),
        {"dimension": dimension, **params},
    )
    return [dict(r._mapping) for r in rows]


async def coverage(
    session: AsyncSession,
    dimension: str,
    start_on: date,
    end_on: date,
    department_code: str | None = None,
) -> dict[str, tuple[int, int]]:
    """department -> (keys with a case, keys with a rated case) of the dimension; cases
    without a window or item ('') are no window or item, and are left out."""
    where, params = _in_period(start_on, end_on, department_code)
    where += " AND key <> ''"
    rows = await session.execute(
        text(
            "SELECT department_code, count(*) FILTER (WHERE cases > 0), "
            "count(*) FILTER (WHERE rated > 0) FROM ("
            "SELECT department_code, key, sum(cases) AS cases, sum(rated) AS rated "
            f"FROM case_day WHERE {where} GROUP BY department_code, key) AS k "
            "GROUP BY department_code"
        ),
        {"dimension": dimension, **params},
    )
    return {code: (total, rated) for code, total, rated in rows.all()}


async def draw(
    session: AsyncSession, start: datetime, end: datetime, quotas: dict[str, int], seed: str
) -> list[dict[str, Any]]:
    """A reproducible random draw without replacement, per department (分层抽样)."""
    if not quotas:
        return []
    codes = sorted(quotas)
    rows = await session.execute(
        text(
            "SELECT case_no, department_code, window_no, staff_id, service_item_code, "
            "service_item_name FROM ("
            " SELECT c.*, row_number() OVER (PARTITION BY c.department_code"
            "  ORDER BY md5(:seed || ':' || c.case_no), c.case_no) AS draw"
            " FROM service_case c WHERE c.department_code = ANY(:codes)"
            " AND c.accepted_at >= :start AND c.accepted_at < :end) AS ranked"
            " JOIN unnest(CAST(:codes AS text[]), CAST(:quotas AS int[])) AS q(code, quota)"
            " ON q.code = ranked.department_code WHERE draw <= q.quota"
            " ORDER BY department_code, draw"
        ),
        {
            "seed": seed,
            "codes": codes,
            "quotas": [quotas[c] for c in codes],
            "start": start,
            "end": end,
        },
    )
    return [dict(r._mapping) for r in rows]
