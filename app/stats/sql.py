"""The SQL text of the figures: rollup buckets plus the raw tail, filters, pivot, flagged out.

Pure string building, no I/O: the rollup buckets that cover a period, the ratings above the
watermark, the (status, level) pivot, and the valid flagged ratings taken out again
(exclude_flagged).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.stats.periods import Period, add_months, buckets
from app.stats.tally import PIVOT_KEYS


@dataclass(frozen=True, slots=True)
class Filters:
    department_code: str | None = None
    channel: str | None = None
    rater_type: str | None = None


def _selectors(period: Period, *, by_month: bool = False) -> dict[str, list]:
    """The rollup buckets covering the period, each with its group key (its month or '')."""
    grains, starts, keys = [], [], []
    spans = (
        [
            (max(m, period.start_on), min(add_months(m, 1), period.end_on), m.strftime("%Y-%m"))
            for m in period.months()
        ]
        if by_month
        else [(period.start_on, period.end_on, "")]
    )
    for start_on, end_on, key in spans:
        for grain, days in buckets(start_on, end_on).items():
            for day in days:
                grains.append(grain)
                starts.append(day)
                keys.append(key)
    return {"sel_grain": grains, "sel_bucket": starts, "sel_key": keys}


_SEL = """sel AS (SELECT * FROM unnest(CAST(:sel_grain AS text[]), CAST(:sel_bucket AS date[]),
                                   CAST(:sel_key AS text[])) AS s(grain, bucket, key)),
    wm AS (SELECT coalesce((SELECT rolled_to FROM rating_rollup_watermark WHERE id = 1), 0)
                  AS rolled_to)"""
# Default ratings (系统默认评价, rating.is_default) are counted apart, never in these figures.
_TAIL = (
    "t.id > :wm_hint AND t.id > (SELECT rolled_to FROM wm)"
    " AND t.rated_at >= :start_at AND t.rated_at < :end_at AND NOT t.is_default"
)
_MONTH_KEY = "to_char(t.rated_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM')"
# The valid flagged ratings of the period (the partial index on flagged ratings reads them).
# With exclude_flagged each statement adds them again with n = -1 beside its rollup rows and
# tail: in one statement (one snapshot), the sums are then exactly those of the unflagged valid
# ratings (flags are set at insert and never change; a status change moves a rating out of
# both at once), never negative, and every rank, band and count is taken on them.
_FLAGGED = (
    "t.flags IS NOT NULL AND t.status = 'valid'"
    " AND t.rated_at >= :start_at AND t.rated_at < :end_at AND NOT t.is_default"
)


def _where(filters: Filters, alias: str, params: dict[str, Any]) -> str:
    parts = []
    for name in ("department_code", "channel", "rater_type"):
        value = getattr(filters, name)
        if value is not None:
            parts.append(f"{alias}.{name} = :f_{name}")
            params[f"f_{name}"] = value
    return "".join(f" AND {p}" for p in parts)


def _main_rows(
    filters: Filters, params: dict[str, Any], *, by_month: bool = False, exclude: bool = False
) -> str:
    """A CTE `src` of (key, department_code, channel, rater_type, status, level, n); with
    `exclude`, the valid flagged ratings taken out again (n = -1)."""
    tail_key = _MONTH_KEY if by_month else "''"
    minus = (
        f"""
        UNION ALL
        SELECT {tail_key}, t.department_code, t.channel, t.rater_type, t.status, t.level, -1
          FROM rating t
         WHERE {_FLAGGED}{_where(filters, "t", params)}"""
        if exclude
        else ""
    )
    return f"""WITH {_SEL},
    src AS (
        SELECT sel.key, r.department_code, r.channel, r.rater_type, r.status, r.level, r.n
          FROM sel JOIN rating_rollup r ON r.grain = sel.grain AND r.bucket = sel.bucket
         WHERE true{_where(filters, "r", params)}
        UNION ALL
        SELECT {tail_key}, t.department_code, t.channel, t.rater_type, t.status, t.level, 1
          FROM rating t
         WHERE {_TAIL}{_where(filters, "t", params)}{minus}
    )"""


# Counts by (status, level) as columns, one row per group: a Tally per row (Tally.of).
_PIVOT = ", ".join(
    f"sum(n) FILTER (WHERE status = '{status}' AND level = {level})::bigint AS {status}_{level}"
    for status, level in PIVOT_KEYS
)
_PIVOT_COLUMNS = ", ".join(f"{status}_{level}" for status, level in PIVOT_KEYS)

# The unfiltered overview: totals, by channel, by rater type, from the narrow split rollup,
# and the number of departments with counted ratings from the department rollup. The tail has
# n: 1 for the ratings above the watermark, -1 for the valid flagged ones (exclude_flagged).
_OVERVIEW_TAIL = f"""
    tail AS MATERIALIZED (
        SELECT t.department_code, t.channel, t.rater_type, t.status, t.level, 1 AS n
          FROM rating t WHERE {_TAIL}
    ),"""
_OVERVIEW_TAIL_EXCLUDING = f"""
    tail AS MATERIALIZED (
        SELECT t.department_code, t.channel, t.rater_type, t.status, t.level, 1 AS n
          FROM rating t WHERE {_TAIL}
        UNION ALL
        SELECT t.department_code, t.channel, t.rater_type, t.status, t.level, -1
          FROM rating t WHERE {_FLAGGED}
    ),"""
_OVERVIEW_SQL = """WITH {sel},{tail}
    d AS (
        SELECT r.department_code, r.status, r.level, r.n
          FROM sel JOIN rating_department_rollup r
            ON r.grain = sel.grain AND r.bucket = sel.bucket
        UNION ALL
        SELECT department_code, status, level, n FROM tail
    ),
    x AS (
        SELECT r.channel, r.rater_type, r.status, r.level, r.n
          FROM sel JOIN rating_split_rollup r ON r.grain = sel.grain AND r.bucket = sel.bucket
        UNION ALL
        SELECT channel, rater_type, status, level, n FROM tail
    )
    SELECT GROUPING(channel, rater_type) AS g, channel, rater_type,
           (SELECT count(*) FROM (SELECT 1 FROM d WHERE status = 'valid'
                                   GROUP BY department_code HAVING sum(n) > 0) AS rated
           ) AS departments_rated,
           {pivot}
      FROM x GROUP BY GROUPING SETS ((), (channel), (rater_type))
"""
_OVERVIEW_SQLS = {
    exclude: _OVERVIEW_SQL.format(
        sel=_SEL, tail=_OVERVIEW_TAIL_EXCLUDING if exclude else _OVERVIEW_TAIL, pivot=_PIVOT
    )
    for exclude in (False, True)
}


def _department_sql(
    filters: Filters, params: dict[str, Any], *, names: bool, exclude: bool = False
) -> str:
    """One row per department: code, name (with `names`), then the _PIVOT columns.

    Unfiltered, from the narrow department rollup. With `names`, the departments come from
    the registry too: every active one, and any other that has ratings in the period. With
    `exclude`, the valid flagged ratings are left out.
    """
    if filters == Filters():
        minus = (
            f"""
        UNION ALL
        SELECT t.department_code, t.status, t.level, -1 FROM rating t WHERE {_FLAGGED}"""
            if exclude
            else ""
        )
        source = f"""WITH {_SEL},
    d AS (
        SELECT r.department_code, r.status, r.level, r.n
          FROM sel JOIN rating_department_rollup r
            ON r.grain = sel.grain AND r.bucket = sel.bucket
        UNION ALL
        SELECT t.department_code, t.status, t.level, 1 FROM rating t WHERE {_TAIL}{minus}
    )"""
    else:
        source = (
            _main_rows(filters, params, exclude=exclude)
            + ", d AS (SELECT department_code, status, level, n FROM src)"
        )
    grouped = f"SELECT department_code, {_PIVOT} FROM d GROUP BY department_code"
    if not names:
        return f"{source} SELECT department_code, NULL, {_PIVOT_COLUMNS} FROM ({grouped}) AS g"
    return f"""{source},
    g AS ({grouped})
    SELECT coalesce(g.department_code, dep.code) AS code, dep.name, {_PIVOT_COLUMNS}
      FROM g FULL JOIN department dep ON dep.code = g.department_code
     WHERE dep.active OR g.department_code IS NOT NULL"""
