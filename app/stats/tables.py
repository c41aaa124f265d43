"""The centre-wide tables of windows and staff members (seed 002: 窗口/工作人员 排名).

One call gives every window (or staff member) of the centre, or of a department (with its
children) or region: counted ratings by level, 非常满意, 好评率, 差评, praise tags, the
complaints (by source) and inspections against it, 按期整改率 of its orders, a competition
rank by the chosen sort, and its sample-size group. Other domains call window_table() and
staff_table() directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.ratings.schemas import PRAISE_TAGS
from app.registry import service as registry
from app.registry import staff as staff_register
from app.stats import people, table_orders
from app.stats.periods import Period
from app.stats.queries import Filters, _flagged_counts, _params
from app.stats.scope import covered
from app.stats.tally import competition_ranks, rate, sample_group
from app.workorders.categories import COMPLAINT_SOURCES

# sort → what ranks (highest first): 评价量, 非常满意数, 好评率, 差评数, 投诉数
TABLE_SORTS = ("counted", "level_5", "good_rate", "bad", "complaints")


@dataclass(frozen=True, slots=True)
class TableFilters:
    """A department (with its children), a region (行政区划 prefix), a channel, a rater type,
    a sample-size group."""

    department: str | None = None
    include_children: bool = False
    region: str | None = None
    channel: str | None = None
    rater_type: str | None = None
    sample_group: str | None = None


# a key's counts: valid 5, 4, 3, 2, 1, withdrawn, invalidated (app/stats/people.py)
_NONE = (0, 0, 0, 0, 0, 0, 0)
_NO_PRAISE = (0,) * len(PRAISE_TAGS)
_NO_ORDERS = (0,) * (len(COMPLAINT_SOURCES) + 3)  # by source, inspections, due, on time
# Below this many counted ratings, good / counted as a float orders rows exactly as the
# fractions do (app/stats/tally.py: _FLOAT_EXACT_BELOW).
_FLOAT_EXACT_BELOW = 1 << 26


def ranked(
    entries: dict[Any, tuple[tuple[int, ...], tuple[int, ...]]],
    sort: str,
    *,
    sample: str | None = None,
) -> list[tuple[Any, int | None]]:
    """(key, rank) in listing order: competition ranks (1, 1, 3) by `sort`, highest first,
    among the keys of the sample-size group `sample` if given; ties listed by counted ratings
    (more first), then by key (ascending); unranked keys (a 好评率 with nothing counted) last.
    `entries`: key → (counts, orders)."""
    rows = []  # (key, counted, good, sort value)
    for k, (c, o) in entries.items():
        good = c[0] + c[1] + c[2]
        counted = good + c[3] + c[4]
        if sample is not None and sample_group(counted) != sample:
            continue
        rows.append((k, counted, good, c, o))
    exact = all(r[1] < _FLOAT_EXACT_BELOW for r in rows)
    n_sources = len(COMPLAINT_SOURCES)
    values = []
    for k, counted, good, c, o in rows:
        if sort == "counted":
            value = counted
        elif sort == "level_5":
            value = c[0]
        elif sort == "bad":
            value = c[3] + c[4]
        elif sort == "complaints":
            value = sum(o[:n_sources])
        elif counted:  # good_rate
            value = good / counted if exact else Fraction(good, counted)
        else:
            value = None
        values.append((k, value))
    ranks = competition_ranks(values)
    counted_of = {r[0]: r[1] for r in rows}
    keys = sorted(counted_of, key=lambda k: (k not in ranks, ranks.get(k, 0), -counted_of[k], k))
    return [(k, ranks.get(k)) for k in keys]


def _figures(
    c: tuple[int, ...], flagged: int, praise: tuple[int, ...], o: tuple[int, ...]
) -> dict[str, Any]:
    """A row's figures from its counts (as Tally.block and the rates give them, built
    directly: the tables have a thousand rows and more)."""
    v5, v4, v3, v2, v1, withdrawn, invalidated = c
    good, bad = v5 + v4 + v3, v2 + v1
    counted = good + bad
    n = len(COMPLAINT_SOURCES)
    by_source = dict(zip(COMPLAINT_SOURCES, o[:n], strict=True))
    due, on_time = o[n + 1], o[n + 2]
    return {
        "ratings": {
            "counted": counted,
            "by_level": {"5": v5, "4": v4, "3": v3, "2": v2, "1": v1},
            "good": good,
            "bad": bad,
            "good_rate": rate(good, counted),
            "bad_rate": rate(bad, counted),
            "withdrawn": withdrawn,
            "invalidated_on_appeal": invalidated,
            "flagged": flagged,
            "excluded_flagged": 0,
        },
        "praise": dict(zip(PRAISE_TAGS, praise, strict=True)),
        "complaints": {"counted": sum(o[:n]), "by_source": by_source},
        "inspections": o[n],
        "deadline_due": due,
        "on_time": on_time,
        "on_time_rate": rate(on_time, due),
        "sample_group": sample_group(counted),
    }


async def _common(
    session: AsyncSession, period: Period, filters: TableFilters, by: str, now: datetime
) -> tuple[Any, ...]:
    departments = await registry.department_tree(session)
    codes = covered(
        departments,
        department=filters.department,
        include_children=filters.include_children,
        region=filters.region,
    )
    scope = people.Scope(codes, filters.channel, filters.rater_type)
    params = await _params(session, period)  # one round trip for both statements
    tallies = await people.tallies(session, period, scope, by, params)
    praise = await people.praise(session, period, scope, by, params)
    orders = await table_orders.order_counts(
        session, start=period.start_at, end=period.end_at, now=now, by=by,
        departments=tuple(codes) if codes is not None else None,
    )  # fmt: skip
    dimension = "department_window" if by == "window" else "staff"
    flagged = await _flagged_counts(
        session, period, Filters(channel=filters.channel, rater_type=filters.rater_type),
        (dimension,),
    )  # fmt: skip
    names = {d.code: d.name for d in departments}
    return codes, tallies, praise, orders, flagged.by[dimension], names


def _answer(
    period: Period, filters: TableFilters, sort: str, total: int, key: str, rows: list
) -> dict[str, Any]:
    return {
        "period": period.as_json(),
        "filters": {
            "department": filters.department,
            "include_children": filters.include_children,
            "region": filters.region,
            "channel": filters.channel,
            "rater_type": filters.rater_type,
            "sample_group": filters.sample_group,
        },
        "sort": sort,
        "total": total,
        key: rows,
    }


async def window_table(
    session: AsyncSession,
    period: Period,
    filters: TableFilters = TableFilters(),
    *,
    sort: str = "counted",
    limit: int | None = None,
    now: datetime,
) -> dict[str, Any]:
    """Every window with ratings or orders in the period, and every active registered one,
    of the centre or the filtered departments; ranked by `sort`, the top `limit` kept."""
    codes, tallies, praise, orders, flagged, names = await _common(
        session, period, filters, "window", now
    )
    registered = {
        k: name
        for k, name in (await registry.all_window_names(session)).items()
        if codes is None or k[0] in codes
    }
    keys = set(tallies) | set(orders)
    keys |= set() if filters.channel or filters.rater_type else set(registered)
    entries = {k: (tallies[k][:7] if k in tallies else _NONE, orders.get(k, _NO_ORDERS))
               for k in keys}  # fmt: skip
    listing = ranked(entries, sort, sample=filters.sample_group)
    rows = []
    for key, rank in listing[:limit] if limit else listing:
        dep, window_no = key
        counts, order_counts = entries[key]
        row = {
            "department_code": dep,
            "department_name": names.get(dep, dep),
            "window_no": window_no,
            "name": registered.get(key),
            **_figures(
                counts, flagged.get(f"{dep}|{window_no}", 0), praise.get(key, _NO_PRAISE),
                order_counts,
            ),
        }  # fmt: skip
        row["rank"] = rank
        rows.append(row)
    return _answer(period, filters, sort, len(listing), "windows", rows)


async def staff_table(
    session: AsyncSession,
    period: Period,
    filters: TableFilters = TableFilters(),
    *,
    sort: str = "counted",
    limit: int | None = None,
    now: datetime,
) -> dict[str, Any]:
    """Every staff member (工号) with ratings or orders in the period, and every active
    registered one, named from the register (an unregistered id shown as itself)."""
    codes, tallies, praise, orders, flagged, names = await _common(
        session, period, filters, "staff", now
    )
    register = await staff_register.staff_register(session)
    keys = set(tallies) | set(orders)
    if not (filters.channel or filters.rater_type):
        keys |= {
            (s.staff_id,)
            for s in register.values()
            if s.active and (codes is None or s.department_code in codes)
        }
    entries = {k: (tallies[k][:7] if k in tallies else _NONE, orders.get(k, _NO_ORDERS))
               for k in keys}  # fmt: skip
    listing = ranked(entries, sort, sample=filters.sample_group)
    rows = []
    for key, rank in listing[:limit] if limit else listing:
        staff_id = key[0]
        counts, order_counts = entries[key]
        rated_in = tallies[key][7] if key in tallies else None
        member = register.get(staff_id)
        department = member.department_code if member and member.department_code else rated_in
        row = {
            "staff_id": staff_id,
            "name": member.name if member else staff_id,
            "registered": member is not None,
            "department_code": department,
            "department_name": names.get(department, department) if department else None,
            "window_no": member.window_no if member else None,
            **_figures(counts, flagged.get(staff_id, 0), praise.get(key, _NO_PRAISE),
                       order_counts),
        }  # fmt: skip
        row["rank"] = rank
        rows.append(row)
    return _answer(period, filters, sort, len(listing), "staff", rows)
