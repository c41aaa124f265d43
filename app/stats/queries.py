"""Reading the figures: each function one SQL statement, giving Tallies or counts.

Every figure is read in one SQL statement (one snapshot): the rollup rows of the calendar
buckets that cover the period, plus the ratings above the roll-up watermark whose rated_at
falls in the period. See app/stats/rollup.py for why the sum is exact.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.stats.periods import Period
from app.stats.sql import (
    _FLAGGED,
    _MONTH_KEY,
    _OVERVIEW_SQLS,
    _SEL,
    _TAIL,
    Filters,
    _department_sql,
    _main_rows,
    _selectors,
    _where,
)

# rate: read here as stats.rate by tests/test_stats_property.py until the tests are reorganised
from app.stats.tally import Tally, rate  # noqa: F401

_PREPARE = text(
    "SELECT set_config('plan_cache_mode', 'force_custom_plan', true) AS mode,"
    " coalesce((SELECT max(rolled_to) FROM rating_rollup_watermark), 0) AS hint"
)


async def _params(session: AsyncSession, period: Period, by_month: bool = False) -> dict[str, Any]:
    """Query parameters, with a lower bound of the watermark for the planner.

    The statement reads the watermark itself (its own snapshot decides); `wm_hint`, read just
    before and never above it (the watermark only grows), lets the planner see that the tail
    is a short range at the end of the rating ids. The same round trip makes the transaction's
    plans custom ones (planned with these values, not a generic plan of a prepared statement).
    """
    hint = (await session.execute(_PREPARE)).one().hint
    return {
        **_selectors(period, by_month=by_month),
        "start_at": period.start_at,
        "end_at": period.end_at,
        "wm_hint": hint,
    }


async def _department_rows(
    session: AsyncSession,
    period: Period,
    filters: Filters,
    *,
    names: bool = False,
    exclude: bool = False,
) -> list[tuple[str, str | None, Tally]]:
    """(code, name or None, tally) per department, in one statement."""
    params = await _params(session, period)
    sql = _department_sql(filters, params, names=names, exclude=exclude)
    return [(row[0], row[1], Tally.of(row[2:])) for row in await session.execute(text(sql), params)]


async def _overview_figures(
    session: AsyncSession, period: Period, *, exclude: bool = False
) -> tuple[Tally, dict[str, Tally], dict[str, Tally], int]:
    """The unfiltered centre totals, by rater type and by channel, and departments rated."""
    params = await _params(session, period)
    total, by_rater, by_channel, rated = Tally(), {}, {}, 0
    for row in await session.execute(text(_OVERVIEW_SQLS[exclude]), params):
        grouping, channel, rater_type, rated = row[:4]
        tally = Tally.of(row[4:])
        if grouping == 3:
            total = tally
        elif grouping == 1:
            by_channel[channel] = tally
        else:
            by_rater[rater_type] = tally
    return total, by_rater, by_channel, rated


async def _overview_tallies(
    session: AsyncSession, period: Period, filters: Filters, *, exclude: bool = False
) -> tuple[Tally, dict[str, Tally], dict[str, Tally], dict[str, Tally]]:
    """Totals, by rater type, by channel and by department, from the wide rollup (filtered)."""
    params = await _params(session, period)
    sql = (
        _main_rows(filters, params, exclude=exclude)
        + """
    SELECT GROUPING(department_code, channel, rater_type) AS g, department_code, channel,
           rater_type, status, level, sum(n)::bigint AS n
      FROM src
     GROUP BY GROUPING SETS ((status, level), (rater_type, status, level),
                            (channel, status, level), (department_code, status, level))
    """
    )
    total, by_rater, by_channel, by_department = Tally(), {}, {}, {}
    for row in await session.execute(text(sql), params):
        if row.department_code is not None:
            target = by_department.setdefault(row.department_code, Tally())
        elif row.channel is not None:
            target = by_channel.setdefault(row.channel, Tally())
        elif row.rater_type is not None:
            target = by_rater.setdefault(row.rater_type, Tally())
        else:
            target = total
        target.add(row.status, row.level, row.n)
    return total, by_rater, by_channel, by_department


async def _department_tallies(
    session: AsyncSession, period: Period, filters: Filters, *, exclude: bool = False
) -> dict[str, Tally]:
    rows = await _department_rows(session, period, filters, exclude=exclude)
    return {code: tally for code, _, tally in rows}


async def _monthly_tallies(
    session: AsyncSession, period: Period, filters: Filters, *, exclude: bool = False
) -> dict[str, Tally]:
    params = await _params(session, period, by_month=True)
    sql = (
        _main_rows(filters, params, by_month=True, exclude=exclude)
        + """
    SELECT key, status, level, sum(n)::bigint AS n FROM src GROUP BY key, status, level
    """
    )
    out: dict[str, Tally] = {m.strftime("%Y-%m"): Tally() for m in period.months()}
    for row in await session.execute(text(sql), params):
        out.setdefault(row.key, Tally()).add(row.status, row.level, row.n)
    return out


async def _staff_tallies(
    session: AsyncSession, period: Period, department_code: str, *, exclude: bool = False
) -> tuple[dict[str, Tally], dict[str, Tally]]:
    params = {**await _params(session, period), "department_code": department_code}
    minus = (
        f"""
        UNION ALL
        SELECT coalesce(t.window_no, ''), coalesce(t.staff_id, ''), t.status, t.level, -1
          FROM rating t
         WHERE {_FLAGGED} AND t.department_code = :department_code"""
        if exclude
        else ""
    )
    sql = f"""WITH {_SEL},
    src AS (
        SELECT r.window_no, r.staff_id, r.status, r.level, r.n
          FROM sel JOIN rating_staff_rollup r
            ON r.department_code = :department_code AND r.grain = sel.grain
           AND r.bucket = sel.bucket
        UNION ALL
        SELECT coalesce(t.window_no, ''), coalesce(t.staff_id, ''), t.status, t.level, 1
          FROM rating t
         WHERE {_TAIL} AND t.department_code = :department_code{minus}
    )
    SELECT GROUPING(window_no, staff_id) AS g, window_no, staff_id, status, level,
           sum(n)::bigint AS n
      FROM src
     GROUP BY GROUPING SETS ((window_no, status, level), (staff_id, status, level))
    """
    windows: dict[str, Tally] = {}
    staff: dict[str, Tally] = {}
    for row in await session.execute(text(sql), params):
        if row.window_no is not None:
            windows.setdefault(row.window_no, Tally()).add(row.status, row.level, row.n)
        else:
            staff.setdefault(row.staff_id, Tally()).add(row.status, row.level, row.n)
    return windows, staff


async def _tag_counts(
    session: AsyncSession,
    period: Period,
    filters: Filters,
    *,
    bad: bool = True,
    exclude: bool = False,
) -> dict[str | None, dict[str, int]]:
    """Counted (valid) ratings per tag: overall (key None) and per department; with `exclude`,
    the tags of the valid flagged ratings taken out again (a tag left at 0 is left out)."""
    params = {**await _params(session, period), "is_bad": bad}
    where = _where(filters, "t", params)
    minus = (
        f"""
        UNION ALL
        SELECT t.department_code, tag.tag, -1
          FROM rating t CROSS JOIN LATERAL unnest(t.tags) AS tag(tag)
         WHERE {_FLAGGED} AND t.is_bad = :is_bad{where}"""
        if exclude
        else ""
    )
    sql = f"""WITH {_SEL},
    src AS (
        SELECT r.department_code, r.tag, r.n
          FROM sel JOIN rating_tag_rollup r ON r.grain = sel.grain AND r.bucket = sel.bucket
         WHERE r.status = 'valid' AND r.is_bad = :is_bad{_where(filters, "r", params)}
        UNION ALL
        SELECT t.department_code, tag.tag, 1
          FROM rating t CROSS JOIN LATERAL unnest(t.tags) AS tag(tag)
         WHERE {_TAIL} AND t.status = 'valid' AND t.is_bad = :is_bad{where}{minus}
    )
    SELECT department_code, tag, sum(n)::bigint AS n
      FROM src GROUP BY GROUPING SETS ((tag), (department_code, tag))
    """
    out: dict[str | None, dict[str, int]] = {}
    for row in await session.execute(text(sql), params):
        if row.n:
            out.setdefault(row.department_code, {})[row.tag] = row.n
    return out


async def _workorder_counts(
    session: AsyncSession, period: Period, *, now: datetime, by_department: bool
) -> dict[str, Any]:
    """Counts of the orders opened in the period, per source (and per department)."""
    from app.workorders import figures as workorders

    return await workorders.figures(
        session, start=period.start_at, end=period.end_at, now=now, by_department=by_department
    )


# The dimensions integrity flags are counted by, as expressions on a rating `t` (the keys
# match those of the tallies: '' where the rollups have no window or staff member).
_FLAG_DIMENSIONS = {
    "department": "t.department_code",
    "channel": "t.channel",
    "rater_type": "t.rater_type",
    "month": _MONTH_KEY,
    "window": "coalesce(t.window_no, '')",
    "staff": "coalesce(t.staff_id, '')",
    "department_window": "t.department_code || '|' || coalesce(t.window_no, '')",
}


@dataclass(frozen=True, slots=True)
class Flagged:
    """Counted ratings carrying integrity flags: in total and per value of each dimension."""

    total: int = 0
    by: dict[str, dict[str, int]] = field(default_factory=dict)

    def of(self, dimension: str, key: str | None) -> int:
        return self.by.get(dimension, {}).get(key or "", 0)


async def _flagged_counts(
    session: AsyncSession,
    period: Period,
    filters: Filters,
    dimensions: Sequence[str] = (),
    *,
    bad_only: bool = False,
) -> Flagged:
    """Valid ratings carrying integrity flags (刷好评 / 恶意差评 suspicions), one statement:
    the `flagged` of each ratings block, or its `excluded_flagged` with exclude_flagged
    (`bad_only`: the 差评 among them).

    Flagged ratings are few and indexed apart (a partial index), so this reads only them."""
    params: dict[str, Any] = {"start_at": period.start_at, "end_at": period.end_at}
    # the dimensions as d_<name> ("window" is a reserved word)
    columns = "".join(f", {_FLAG_DIMENSIONS[d]} AS d_{d}" for d in dimensions)
    groupings = "".join(f", GROUPING(d_{d}) AS g_{d}, d_{d}" for d in dimensions)
    sets = ", ".join(["()", *(f"(d_{d})" for d in dimensions)])
    sql = f"""
    SELECT count(*) AS n{groupings}
      FROM (SELECT 1 AS one{columns}
              FROM rating t
             WHERE {_FLAGGED}{" AND t.is_bad" if bad_only else ""}{_where(filters, "t", params)}
           ) AS f
     GROUP BY GROUPING SETS ({sets})
    """
    total, by = 0, {d: {} for d in dimensions}
    for row in (await session.execute(text(sql), params)).mappings():
        grouped = [d for d in dimensions if row[f"g_{d}"] == 0]
        if grouped:
            by[grouped[0]][row[f"d_{grouped[0]}"]] = row["n"]
        else:
            total = row["n"]
    return Flagged(total, by)


async def _default_ratings(session: AsyncSession, period: Period) -> int:
    """Valid default ratings (系统默认评价) of the period: counted apart, in no figure (a partial
    index on rated_at finds them)."""
    return (
        await session.execute(
            text(
                "SELECT count(*) FROM rating WHERE is_default AND status = 'valid' "
                "AND rated_at >= :start_at AND rated_at < :end_at"
            ),
            {"start_at": period.start_at, "end_at": period.end_at},
        )
    ).scalar_one()
