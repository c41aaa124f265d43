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
from app.stats import people
from app.stats.periods import Period
from app.stats.queries import Filters, _flagged_counts, _params
from app.stats.scope import covered
from app.stats.tally import Tally, competition_ranks, rate, sample_group
from app.workorders import figures as workorders
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


def _sort_value(tally: Tally, complaints: int, sort: str) -> Any:
    if sort == "good_rate":
        return Fraction(tally.good, tally.counted) if tally.counted else None
    if sort == "level_5":
        return tally.valid(5)
    if sort == "complaints":
        return complaints
    return tally.counted if sort == "counted" else tally.bad


def ranked(
    entries: dict[Any, tuple[Tally, dict[str, Any] | None]],
    sort: str,
    *,
    sample: str | None = None,
) -> list[tuple[Any, int | None]]:
    """(key, rank) in listing order: competition ranks (1, 1, 3) by `sort`, highest first,
    among the keys of the sample-size group `sample` if given; ties listed by counted ratings
    (more first), then by key (ascending); unranked keys (a 好评率 with nothing counted) last."""
    keys = [
        k for k, (tally, _) in entries.items() if sample is None or
        sample_group(tally.counted) == sample
    ]  # fmt: skip
    complaints = {k: sum(o["by_source"].values()) if (o := entries[k][1]) else 0 for k in keys}
    ranks = competition_ranks([(k, _sort_value(entries[k][0], complaints[k], sort)) for k in keys])
    keys.sort(key=lambda k: (k not in ranks, ranks.get(k, 0), -entries[k][0].counted, k))
    return [(k, ranks.get(k)) for k in keys]


def _orders(targets: list[dict[str, Any]], key: Any) -> dict[Any, dict[str, Any]]:
    """Complaints by source, inspections, and deadline_due / on_time of all orders, per key."""
    out: dict[Any, dict[str, Any]] = {}
    for t in targets:
        k = key(t)
        if k is None:
            continue
        o = out.setdefault(
            k,
            {"by_source": dict.fromkeys(COMPLAINT_SOURCES, 0), "inspections": 0,
             "deadline_due": 0, "on_time": 0},
        )  # fmt: skip
        if t["source"] == "complaint":
            o["by_source"][t["complaint_source"]] += t["counted"]
        elif t["source"] == "inspection":
            o["inspections"] += t["counted"]
        o["deadline_due"] += t["deadline_due"]
        o["on_time"] += t["on_time"]
    return out


def _figures(
    tally: Tally, flagged: int, praise: dict[str, int], orders: dict[str, Any] | None
) -> dict[str, Any]:
    o = orders or {"by_source": dict.fromkeys(COMPLAINT_SOURCES, 0), "inspections": 0,
                   "deadline_due": 0, "on_time": 0}  # fmt: skip
    return {
        "ratings": tally.block(flagged=flagged),
        "praise": {tag: praise.get(tag, 0) for tag in PRAISE_TAGS},
        "complaints": {"counted": sum(o["by_source"].values()), "by_source": o["by_source"]},
        "inspections": o["inspections"],
        "deadline_due": o["deadline_due"],
        "on_time": o["on_time"],
        "on_time_rate": rate(o["on_time"], o["deadline_due"]),
        "sample_group": sample_group(tally.counted),
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
    targets = await workorders.target_figures(
        session, start=period.start_at, end=period.end_at, now=now
    )
    if codes is not None:
        targets = [t for t in targets if t["department_code"] in codes]
    dimension = "department_window" if by == "window" else "staff"
    flagged = await _flagged_counts(
        session, period, Filters(channel=filters.channel, rater_type=filters.rater_type),
        (dimension,),
    )  # fmt: skip
    names = {d.code: d.name for d in departments}
    return codes, tallies, praise, targets, flagged.by[dimension], names


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
    codes, tallies, praise, targets, flagged, names = await _common(
        session, period, filters, "window", now
    )
    orders = _orders(targets, lambda t: (t["department_code"], t["window_no"] or None))
    registered = {
        k: name
        for k, name in (await registry.all_window_names(session)).items()
        if codes is None or k[0] in codes
    }
    keys = set(tallies) | {k for k in orders if k[1] is not None}
    keys |= set() if filters.channel or filters.rater_type else set(registered)
    entries = {k: (tallies[k][0] if k in tallies else Tally(), orders.get(k)) for k in keys}
    listing = ranked(entries, sort, sample=filters.sample_group)
    rows = []
    for (dep, window_no), rank in listing[:limit] if limit else listing:
        tally, order_counts = entries[(dep, window_no)]
        rows.append(
            {
                "department_code": dep,
                "department_name": names.get(dep, dep),
                "window_no": window_no,
                "name": registered.get((dep, window_no)),
                **_figures(
                    tally,
                    flagged.get(f"{dep}|{window_no}", 0),
                    praise.get((dep, window_no), {}),
                    order_counts,
                ),
                "rank": rank,
            }
        )
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
    codes, tallies, praise, targets, flagged, names = await _common(
        session, period, filters, "staff", now
    )
    orders = _orders(targets, lambda t: (t["staff_id"],) if t["staff_id"] else None)
    register = await staff_register.staff_register(session)
    keys = set(tallies) | set(orders)
    if not (filters.channel or filters.rater_type):
        keys |= {
            (s.staff_id,)
            for s in register.values()
            if s.active and (codes is None or s.department_code in codes)
        }
    entries = {k: (tallies[k][0] if k in tallies else Tally(), orders.get(k)) for k in keys}
    listing = ranked(entries, sort, sample=filters.sample_group)
    rows = []
    for (staff_id,), rank in listing[:limit] if limit else listing:
        tally, order_counts = entries[(staff_id,)]
        rated_in = tallies[(staff_id,)][1] if (staff_id,) in tallies else None
        member = register.get(staff_id)
        department = member.department_code if member and member.department_code else rated_in
        rows.append(
            {
                "staff_id": staff_id,
                "name": member.name if member else staff_id,
                "registered": member is not None,
                "department_code": department,
                "department_name": names.get(department, department) if department else None,
                "window_no": member.window_no if member else None,
                **_figures(tally, flagged.get(staff_id, 0), praise.get((staff_id,), {}),
                           order_counts),
                "rank": rank,
            }
        )  # fmt: skip
    return _answer(period, filters, sort, len(listing), "staff", rows)
