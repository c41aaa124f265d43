"""Reading the window and staff figures: ratings by (department, window, staff member).

From the staff roll-ups (rating_staff_rollup, rating_staff_tag_rollup) plus the raw ratings
above the watermark, in one statement each, as app/stats/queries.py reads the departments'.
A channel or rater-type filter is not in those roll-ups: the statement then counts the raw
ratings of the period (exact, slower at volume).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.ratings.schemas import PRAISE_TAGS
from app.stats.periods import Period
from app.stats.queries import _params
from app.stats.sql import _SEL, _TAIL
from app.stats.tally import LEVELS


@dataclass(frozen=True, slots=True)
class Scope:
    """Which ratings: those of `departments` (None: all) through `channel` / `rater_type`."""

    departments: tuple[str, ...] | None = None
    channel: str | None = None
    rater_type: str | None = None

    @property
    def raw(self) -> bool:
        return self.channel is not None or self.rater_type is not None


def _source(scope: Scope, params: dict[str, Any], *, tags: bool) -> str:
    """A CTE `src` of (department_code, window_no, staff_id, status, level or tag, n)."""
    params["deps"] = list(scope.departments) if scope.departments is not None else None
    deps = "(CAST(:deps AS text[]) IS NULL OR {a}.department_code = ANY(CAST(:deps AS text[])))"
    what = "tag.tag" if tags else "t.level"
    unnest = " CROSS JOIN LATERAL unnest(t.tags) AS tag(tag)" if tags else ""
    raw_columns = (
        f"t.department_code, coalesce(t.window_no, '') AS window_no, "
        f"coalesce(t.staff_id, '') AS staff_id, t.status, {what}"
    )
    if scope.raw:
        extra = ""
        for name in ("channel", "rater_type"):
            if getattr(scope, name) is not None:
                extra += f" AND t.{name} = :f_{name}"
                params[f"f_{name}"] = getattr(scope, name)
        return f"""WITH src AS (
        SELECT {raw_columns}, 1 AS n
          FROM rating t{unnest}
         WHERE t.rated_at >= :start_at AND t.rated_at < :end_at
           AND {deps.format(a="t")}{extra}
    )"""
    table = "rating_staff_tag_rollup" if tags else "rating_staff_rollup"
    column = "r.tag" if tags else "r.level"
    return f"""WITH {_SEL},
    src AS (
        SELECT r.department_code, r.window_no, r.staff_id, r.status, {column}, r.n
          FROM sel JOIN {table} r ON r.grain = sel.grain AND r.bucket = sel.bucket
         WHERE {deps.format(a="r")}
        UNION ALL
        SELECT {raw_columns}, 1
          FROM rating t{unnest}
         WHERE {_TAIL} AND {deps.format(a="t")}
    )"""


# valid ratings by level (5 … 1), then withdrawn and invalidated ones, summed per group
_COUNTS = ", ".join(
    [f"coalesce(sum(n) FILTER (WHERE status = 'valid' AND level = {level}), 0)::bigint"
     for level in LEVELS]
    + [f"coalesce(sum(n) FILTER (WHERE status = '{status}'), 0)::bigint"
       for status in ("withdrawn", "invalidated")]
)  # fmt: skip

_KEYS = {
    "window": ("department_code, window_no", "window_no <> ''"),
    "staff": ("staff_id", "staff_id <> ''"),
}


async def tallies(
    session: AsyncSession, period: Period, scope: Scope, by: str, params: dict | None = None
) -> dict[tuple[str, ...], tuple[int, ...]]:
    """{key: (valid 5, 4, 3, 2, 1, withdrawn, invalidated, a department of the key's ratings)}:
    key (department_code, window_no) by window, (staff_id,) by staff member; ratings without
    one are left out. The counts are summed in SQL (0, never NULL); `params`: those of
    app.stats.queries._params for this transaction, if already read."""
    params = dict(params or await _params(session, period))
    keys, present = _KEYS[by]
    sql = f"""{_source(scope, params, tags=False)}
    SELECT {keys}, {_COUNTS}, min(department_code) AS dep
      FROM src WHERE {present} GROUP BY {keys}"""
    width = len(keys.split(","))
    rows = await session.execute(text(sql), params)
    return {tuple(row[:width]): tuple(row[width:]) for row in rows}


async def praise(
    session: AsyncSession, period: Period, scope: Scope, by: str, params: dict | None = None
) -> dict[tuple[str, ...], tuple[int, ...]]:
    """Counted (valid) ratings per praise tag (in PRAISE_TAGS' order), per window or staff
    member; keys without any left out."""
    params = dict(params or await _params(session, period))
    keys, present = _KEYS[by]
    columns = ", ".join(
        f"coalesce(sum(n) FILTER (WHERE tag = '{tag}'), 0)::bigint" for tag in PRAISE_TAGS
    )
    tags = ", ".join(f"'{tag}'" for tag in PRAISE_TAGS)
    sql = f"""{_source(scope, params, tags=True)}
    SELECT {keys}, {columns}
      FROM src
     WHERE {present} AND status = 'valid' AND tag IN ({tags})
     GROUP BY {keys}"""
    width = len(keys.split(","))
    return {
        tuple(row[:width]): tuple(row[width:])
        for row in await session.execute(text(sql), params)
        if any(row[width:])
    }
