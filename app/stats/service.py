"""Satisfaction figures from the rollups plus the raw tail above the watermark.

Every figure is read in one SQL statement (one snapshot): the rollup rows of the calendar
buckets that cover the period, plus the ratings above the roll-up watermark whose rated_at
falls in the period. See app/stats/rollup.py for why the sum is exact.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from operator import itemgetter
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.service import Principal
from app.errors import Forbidden
from app.ratings.models import CHANNELS, RATER_TYPES, RATING_STATUSES
from app.registry import service as registry
from app.stats import rollup
from app.stats.periods import Period, add_months, buckets

LEVELS = (5, 4, 3, 2, 1)
BANDS = ("100", "90-100", "80-90", "below-80")
READ_ROLES = ("admin", "reader", "department")
REASON_NAMES = {
    "attitude": "服务态度差",
    "efficiency": "办事效率低",
    "waiting": "排队等待时间长",
    "notification": "一次性告知不到位",
    "multiple_trips": "多次跑动/多窗跑",
    "materials": "材料繁琐/证明过多",
    "process": "流程复杂",
    "guide": "办事指南不清晰或线上线下不一致",
    "promise": "未兑现承诺时限",
    "discipline": "工作纪律(缺岗、串岗、玩手机)",
    "fees": "收费不合理",
    "platform": "网上平台不好用/系统故障",
    "other": "其他",
    "praise_attitude": "服务热情",
    "praise_efficiency": "办事高效",
    "praise_professional": "业务熟练",
}
_CENT = Decimal("0.01")


async def rating_status_changed(
    session: AsyncSession, rating: dict[str, Any], old_status: str, new_status: str
) -> None:
    """Adjust the aggregates when a rating is withdrawn or invalidated (same transaction)."""
    await rollup.rating_status_changed(session, rating, old_status, new_status)


# --- arithmetic ----------------------------------------------------------------------------


def rate(part: int, whole: int) -> float | None:
    """A percentage rounded half-up to two decimals (89.80 → 89.8); None when nothing was
    counted. Every rate the statistics give is made here, from the counts shown beside it."""
    if not whole:
        return None
    value = (Decimal(part) * 100 / Decimal(whole)).quantize(_CENT, rounding=ROUND_HALF_UP)
    return float(value)


def band(good: int, counted: int) -> str | None:
    """The report's band, judged on the unrounded rate (integer arithmetic)."""
    if not counted:
        return None
    if good == counted:
        return "100"
    if good * 10 >= counted * 9:
        return "90-100"
    if good * 10 >= counted * 8:
        return "80-90"
    return "below-80"


@dataclass(slots=True)
class Tally:
    """Counts by (status, level) for one group of ratings."""

    counts: dict[tuple[str, int], int] = field(default_factory=dict)

    @classmethod
    def of(cls, values: Sequence[int | None]) -> Tally:
        """From the columns of _PIVOT, in their order (NULL and 0 left out)."""
        return cls({key: n for key, n in zip(_PIVOT_KEYS, values, strict=True) if n})

    def add(self, status: str, level: int, n: int) -> None:
        key = (status, level)
        self.counts[key] = self.counts.get(key, 0) + n

    def valid(self, level: int) -> int:
        return self.counts.get(("valid", level), 0)

    @property
    def counted(self) -> int:
        return sum(self.valid(level) for level in LEVELS)

    @property
    def good(self) -> int:
        return self.valid(5) + self.valid(4) + self.valid(3)

    @property
    def bad(self) -> int:
        return self.valid(2) + self.valid(1)

    def status_total(self, status: str) -> int:
        return sum(n for (s, _), n in self.counts.items() if s == status)

    def block(self, *, flagged: int, excluded: bool = False) -> dict[str, Any]:
        """The ratings block. `flagged`: how many of the group's valid ratings carry integrity
        flags; with `excluded` (exclude_flagged: the tally already leaves them out) they are
        reported as `excluded_flagged`, and none of the counted ratings carries flags."""
        get = self.counts.get
        v5, v4, v3, v2, v1 = (get(("valid", level), 0) for level in LEVELS)
        good, bad = v5 + v4 + v3, v2 + v1
        counted = good + bad
        return {
            "counted": counted,
            "by_level": {"5": v5, "4": v4, "3": v3, "2": v2, "1": v1},
            "good": good,
            "bad": bad,
            "good_rate": rate(good, counted),
            "bad_rate": rate(bad, counted),
            "withdrawn": self.status_total("withdrawn"),
            "invalidated": self.status_total("invalidated"),
            "flagged": 0 if excluded else flagged,
            "excluded_flagged": flagged if excluded else 0,
        }


def rank_key(tally: Tally) -> tuple[Fraction, int]:
    return (Fraction(tally.good, tally.counted), tally.counted)


# Below this many counted ratings per group, good / counted as a float orders groups exactly as
# the fractions do: two different rates then differ by at least 1 / (c1 * c2) > 2**-52, more
# than the two roundings (at most 2**-54 each) can bridge, and equal rates give equal floats.
_FLOAT_EXACT_BELOW = 1 << 26


def assign_ranks(items: list[tuple[Any, Tally]]) -> dict[Any, int]:
    """Competition ranks (1, 2, 2, 4) by 好评率 then volume, for groups with counted ratings."""
    groups = []
    for key, tally in items:
        counted = tally.counted
        if counted:
            groups.append((tally.good, counted, key))
    exact_as_float = all(counted < _FLOAT_EXACT_BELOW for _, counted, _ in groups)
    ranked = sorted(
        ((good / counted if exact_as_float else Fraction(good, counted), counted, key)
         for good, counted, key in groups),
        key=itemgetter(0, 1),
        reverse=True,
    )  # fmt: skip
    ranks: dict[Any, int] = {}
    previous, previous_rank = None, 0
    for position, (rate_, counted, key) in enumerate(ranked, start=1):
        current = (rate_, counted)
        if current != previous:
            previous, previous_rank = current, position
        ranks[key] = previous_rank
    return ranks


# --- queries -------------------------------------------------------------------------------


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
_TAIL = (
    "t.id > :wm_hint AND t.id > (SELECT rolled_to FROM wm)"
    " AND t.rated_at >= :start_at AND t.rated_at < :end_at"
)
_MONTH_KEY = "to_char(t.rated_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM')"
# The valid flagged ratings of the period (the partial index on flagged ratings reads them).
# With exclude_flagged each statement adds them again with n = -1 beside its rollup rows and
# tail: in one statement (one snapshot), the sums are then exactly those of the unflagged valid
# ratings (flags are set at insert and never change; a status change moves a rating out of
# both at once), never negative, and every rank, band and count is taken on them.
_FLAGGED = (
    "t.flags IS NOT NULL AND t.status = 'valid'"
    " AND t.rated_at >= :start_at AND t.rated_at < :end_at"
)


def _where(filters: Filters, alias: str, params: dict[str, Any]) -> str:
    parts = []
    for name in ("department_code", "channel", "rater_type"):
        value = getattr(filters, name)
        if value is not None:
            parts.append(f"{alias}.{name} = :f_{name}")
            params[f"f_{name}"] = value
    return "".join(f" AND {p}" for p in parts)


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
_PIVOT_KEYS = tuple((status, level) for status in RATING_STATUSES for level in LEVELS)
_PIVOT = ", ".join(
    f"sum(n) FILTER (WHERE status = '{status}' AND level = {level})::bigint AS {status}_{level}"
    for status, level in _PIVOT_KEYS
)
_PIVOT_COLUMNS = ", ".join(f"{status}_{level}" for status, level in _PIVOT_KEYS)

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


# --- work orders ---------------------------------------------------------------------------

# 差评工单 (opened from ratings), 投诉工单 (12345 complaints), 督查工单 (inspections): apart.
ORDER_SOURCES = ("rating", "complaint", "inspection")
_ORDER_COUNTS = (
    "opened",
    "withdrawn",
    "withdrawal_requested",
    "withdrawal_refused",
    "appealed",
    "appeal_upheld",
    "appeal_rejected",
    "counted",
    "closed",
    "deadline_due",
    "on_time",
    "overdue_now",
    "real_name",
    "real_name_called_back",
)


def order_block(counts: dict[str, int] | None) -> dict[str, Any]:
    """One kind of work order: its counts, each rate beside its numerator and denominator.

    Every rate is taken on `counted` (withdrawn and appeal-upheld orders reported apart):
    整改率 (差评整改率 for rating orders) = closed / counted; 按期整改率 = on_time /
    deadline_due; 实名回访率 (实名差评回访率) = real_name_called_back / real_name."""
    c = {name: (counts or {}).get(name, 0) for name in _ORDER_COUNTS}
    return {
        "opened": c["opened"],
        "withdrawn": c["withdrawn"],
        "withdrawal_requested": c["withdrawal_requested"],
        "withdrawal_refused": c["withdrawal_refused"],
        "appealed": c["appealed"],
        "appeal_upheld": c["appeal_upheld"],
        "appeal_rejected": c["appeal_rejected"],
        "counted": c["counted"],
        "closed": c["closed"],
        "rectification_rate": rate(c["closed"], c["counted"]),
        "deadline_due": c["deadline_due"],
        "on_time": c["on_time"],
        "on_time_rate": rate(c["on_time"], c["deadline_due"]),
        "overdue_now": c["overdue_now"],
        "real_name": c["real_name"],
        "real_name_called_back": c["real_name_called_back"],
        "real_name_callback_rate": rate(c["real_name_called_back"], c["real_name"]),
    }


def workorders_block(by_source: dict[str, dict[str, int]] | None) -> dict[str, Any]:
    """{rating, complaint, inspection}: each an order_block."""
    return {source: order_block((by_source or {}).get(source)) for source in ORDER_SOURCES}


async def _workorder_counts(
    session: AsyncSession, period: Period, *, now: datetime, by_department: bool
) -> dict[str, Any]:
    """Counts of the orders opened in the period, per source (and per department)."""
    from app.workorders import service as workorders  # the work-order domain imports ratings

    return await workorders.figures(
        session, start=period.start_at, end=period.end_at, now=now, by_department=by_department
    )


# --- the figures the API serves --------------------------------------------------------------


def authorise(principal: Principal, department_code: str | None = None) -> None:
    """Admin and reader read all; a department key its own department and the centre totals."""
    if principal.role not in READ_ROLES:
        raise Forbidden(f"Role {principal.role} cannot read statistics")
    if (
        principal.role == "department"
        and department_code is not None
        and department_code != principal.department_code
    ):
        raise Forbidden("A department key reads its own department's figures only")


# The dimensions integrity flags are counted by, as expressions on a rating `t` (the keys
# match those of the tallies: '' where the rollups have no window or staff member).
_FLAG_DIMENSIONS = {
    "department": "t.department_code",
    "channel": "t.channel",
    "rater_type": "t.rater_type",
    "month": _MONTH_KEY,
    "window": "coalesce(t.window_no, '')",
    "staff": "coalesce(t.staff_id, '')",
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


async def overview(
    session: AsyncSession, period: Period, *, now: datetime, exclude_flagged: bool = False
) -> dict[str, Any]:
    """Centre totals, split by rater type and channel, with the work-order figures (`now`
    decides which deadlines have passed). With `exclude_flagged`, the ratings figures (and
    departments_rated) leave the valid flagged ratings out; the work orders stay as they are."""
    total, by_rater, by_channel, departments_rated = await _overview_figures(
        session, period, exclude=exclude_flagged
    )
    orders = await _workorder_counts(session, period, now=now, by_department=False)
    flagged = await _flagged_counts(session, period, Filters(), ("channel", "rater_type"))
    excluded = exclude_flagged
    return {
        "period": period.as_json(),
        "exclude_flagged": exclude_flagged,
        "ratings": total.block(flagged=flagged.total, excluded=excluded),
        "by_rater_type": {
            rt: by_rater.get(rt, Tally()).block(
                flagged=flagged.of("rater_type", rt), excluded=excluded
            )
            for rt in RATER_TYPES
        },
        "by_channel": {
            ch: by_channel.get(ch, Tally()).block(
                flagged=flagged.of("channel", ch), excluded=excluded
            )
            for ch in CHANNELS
        },
        "workorders": workorders_block(orders),
        "departments_rated": departments_rated,
    }


SORTS = ("rank", "code", "name", "counted", "good", "bad", "good_rate", "bad_rate")


def _sort_rows(rows: list[dict[str, Any]], sort: str, order: str | None) -> list[dict[str, Any]]:
    descending = (order or ("asc" if sort in ("rank", "code", "name") else "desc")) == "desc"

    def value(row: dict[str, Any]) -> Any:
        if sort in ("code", "name"):
            return row[sort]
        if sort == "rank":
            return row["rank"]
        if sort == "good_rate":
            r = row["ratings"]
            return Fraction(r["good"], r["counted"]) if r["counted"] else None
        if sort == "bad_rate":
            r = row["ratings"]
            return Fraction(r["bad"], r["counted"]) if r["counted"] else None
        return row["ratings"][sort]

    present = [r for r in rows if value(r) is not None]
    absent = [r for r in rows if value(r) is None]
    present.sort(key=lambda r: (value(r), r["code"]), reverse=descending)
    return present + sorted(absent, key=lambda r: r["code"])


async def department_table(
    session: AsyncSession,
    period: Period,
    *,
    filters: Filters = Filters(),
    min_sample: int = 0,
    sort: str = "rank",
    order: str | None = None,
    only_department: str | None = None,
    now: datetime,
    exclude_flagged: bool = False,
) -> dict[str, Any]:
    """One row per department with rank and band, and the number of departments per band
    (with `exclude_flagged`: all of them taken on the unflagged ratings)."""
    # every active department and any other rated in the period, with its name: one statement
    departments = await _department_rows(
        session, period, filters, names=True, exclude=exclude_flagged
    )
    minimum = max(min_sample, 0)
    eligible = [(code, tally) for code, _, tally in departments if tally.counted >= minimum]
    names = {code: name for code, name, _ in departments}
    ranks = assign_ranks(eligible)
    orders = await _workorder_counts(session, period, now=now, by_department=True)
    flagged = await _flagged_counts(session, period, filters, ("department",))
    bands = dict.fromkeys(BANDS, 0)
    rows = []
    for code, tally in eligible:
        row_band = band(tally.good, tally.counted)
        if row_band:
            bands[row_band] += 1
        rows.append(
            {
                "code": code,
                "name": code if names[code] is None else names[code],
                "ratings": tally.block(
                    flagged=flagged.of("department", code), excluded=exclude_flagged
                ),
                "workorders": workorders_block(orders.get(code)),
                "rank": ranks.get(code),
                "band": row_band,
            }
        )
    rows = _sort_rows(rows, sort, order)
    if only_department is not None:
        rows = [r for r in rows if r["code"] == only_department]
    return {
        "period": period.as_json(),
        "exclude_flagged": exclude_flagged,
        "filters": {
            "channel": filters.channel,
            "rater_type": filters.rater_type,
            "min_sample": min_sample,
        },
        "bands": bands,
        "departments_ranked": len(ranks),
        "departments": rows,
    }


def _ranked_rows(
    tallies: dict[str, Tally], key_name: str, flagged: dict[str, int], *, excluded: bool
) -> list[dict[str, Any]]:
    ranks = assign_ranks(list(tallies.items()))
    rows = [
        {
            key_name: key or None,
            "ratings": tally.block(flagged=flagged.get(key or "", 0), excluded=excluded),
            "rank": ranks.get(key),
        }
        for key, tally in tallies.items()
    ]
    rows.sort(key=lambda r: (r["rank"] is None, r["rank"] or 0, r[key_name] or ""))
    return rows


def _reason_rows(counts: dict[str, int], limit: int | None = None) -> list[dict[str, Any]]:
    rows = [
        {"tag": tag, "name": REASON_NAMES.get(tag, tag), "count": n}
        for tag, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    ]
    return rows[:limit] if limit else rows


async def department_detail(
    session: AsyncSession,
    period: Period,
    department_code: str,
    *,
    now: datetime,
    exclude_flagged: bool = False,
) -> dict[str, Any]:
    """One department: figures, rank and band, monthly trend, windows, staff, top reasons
    (with `exclude_flagged`, all of them taken on the unflagged ratings, its rank among the
    departments so taken too)."""
    department = await registry.get_department(session, department_code)
    filters = Filters(department_code=department_code)
    exclude = exclude_flagged
    total, by_rater, by_channel, _ = await _overview_tallies(
        session, period, filters, exclude=exclude
    )
    all_departments = await _department_tallies(session, period, Filters(), exclude=exclude)
    ranks = assign_ranks(list(all_departments.items()))
    monthly = await _monthly_tallies(session, period, filters, exclude=exclude)
    windows, staff = await _staff_tallies(session, period, department_code, exclude=exclude)
    reasons = await _tag_counts(session, period, filters, exclude=exclude)
    orders = await _workorder_counts(session, period, now=now, by_department=True)
    flagged = await _flagged_counts(
        session, period, filters, ("channel", "rater_type", "month", "window", "staff")
    )
    window_names = {
        w.window_no: w.name for w in await registry.list_windows(session, department_code)
    }
    window_rows = _ranked_rows(windows, "window_no", flagged.by["window"], excluded=exclude)
    for row in window_rows:
        row["name"] = window_names.get(row["window_no"])
    return {
        "period": period.as_json(),
        "exclude_flagged": exclude_flagged,
        "department": {"code": department.code, "name": department.name},
        "ratings": total.block(flagged=flagged.total, excluded=exclude),
        "by_rater_type": {
            rt: by_rater.get(rt, Tally()).block(
                flagged=flagged.of("rater_type", rt), excluded=exclude
            )
            for rt in RATER_TYPES
        },
        "by_channel": {
            ch: by_channel.get(ch, Tally()).block(
                flagged=flagged.of("channel", ch), excluded=exclude
            )
            for ch in CHANNELS
        },
        "workorders": workorders_block(orders.get(department_code)),
        "rank": ranks.get(department_code),
        "departments_ranked": len(ranks),
        "band": band(total.good, total.counted),
        "trend": [
            {
                "month": month,
                "ratings": t.block(flagged=flagged.of("month", month), excluded=exclude),
            }
            for month, t in sorted(monthly.items())
        ],
        "windows": window_rows,
        "staff": _ranked_rows(staff, "staff_id", flagged.by["staff"], excluded=exclude),
        "reasons": _reason_rows(reasons.get(None, {}), limit=10),
    }


async def reasons(
    session: AsyncSession,
    period: Period,
    *,
    filters: Filters = Filters(),
    only_department: str | None = None,
    exclude_flagged: bool = False,
) -> dict[str, Any]:
    """差评 counts by reason tag, overall and per department; with `exclude_flagged`, the
    flagged 差评 and their tags left out (`excluded_flagged`: how many, per scope)."""
    counts = await _tag_counts(session, period, filters, exclude=exclude_flagged)
    tallies = await _department_tallies(session, period, filters, exclude=exclude_flagged)
    names = {d.code: d.name for d in await registry.list_departments(session)}
    flagged = (
        await _flagged_counts(session, period, filters, ("department",), bad_only=True)
        if exclude_flagged
        else Flagged(by={"department": {}})
    )
    total_bad = sum(t.bad for t in tallies.values())
    rows = []
    excluded_somewhere = {c for c, n in flagged.by["department"].items() if n}
    for code in sorted(
        set(counts) - {None} | {c for c, t in tallies.items() if t.bad} | excluded_somewhere
    ):
        if only_department is not None and code != only_department:
            continue
        rows.append(
            {
                "code": code,
                "name": names.get(code, code),
                "bad": tallies.get(code, Tally()).bad,
                "excluded_flagged": flagged.of("department", code),
                "reasons": _reason_rows(counts.get(code, {})),
            }
        )
    rows.sort(key=lambda r: (-r["bad"], r["code"]))
    return {
        "period": period.as_json(),
        "exclude_flagged": exclude_flagged,
        "bad": total_bad,
        "excluded_flagged": flagged.total,
        "reasons": _reason_rows(counts.get(None, {})),
        "departments": rows,
    }


# --- the background roll-up ------------------------------------------------------------------


def start_rollup_loop(app: Any) -> None:
    """Start the roll-up loop in the app's lifespan (HAOCHAPING_STATS_ROLLUP_ENABLED=false: off)."""
    import asyncio

    from app.stats.config import StatsSettings

    settings = getattr(app.state, "stats_settings", None) or StatsSettings()
    app.state.stats_rollup_task = None
    # The app's switch for every background job (off in tests) turns this one off too.
    jobs_on = getattr(getattr(app.state, "settings", None), "background_jobs", True)
    if settings.rollup_enabled and jobs_on:
        app.state.stats_rollup_task = asyncio.create_task(
            rollup.run_loop(app.state.engine, settings.rollup_interval_seconds),
            name="stats-rollup",
        )


async def stop_rollup_loop(app: Any) -> None:
    """Cancel the roll-up loop and wait for it (an open roll-up transaction rolls back)."""
    import asyncio
    import contextlib

    task = getattr(app.state, "stats_rollup_task", None)
    app.state.stats_rollup_task = None
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
