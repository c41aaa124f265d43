"""The figures the API serves: overview, department table, one department, reasons."""

from __future__ import annotations

from datetime import datetime
from fractions import Fraction
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.ratings.models import CHANNELS, RATER_TYPES
from app.ratings.schemas import TAG_NAMES
from app.registry import service as registry
from app.stats import rollup
from app.stats.hierarchy import complaint_sources, subtrees
from app.stats.periods import Period
from app.stats.queries import (
    Filters,
    Flagged,
    _default_ratings,
    _department_rows,
    _department_tallies,
    _flagged_counts,
    _monthly_tallies,
    _overview_figures,
    _overview_tallies,
    _staff_tallies,
    _tag_counts,
    _workorder_counts,
)
from app.stats.scope import covered

# the centre-wide tables, for other domains (reports, bulletin): service.window_table(...)
from app.stats.tables import TableFilters, staff_table, window_table  # noqa: F401
from app.stats.tally import BANDS, Tally, assign_ranks, band, rate, sample_group
from app.workorders.categories import COMPLAINT_SOURCES

REASON_NAMES = TAG_NAMES  # the reasons as the reports name them


async def rating_status_changed(
    session: AsyncSession, rating: dict[str, Any], old_status: str, new_status: str
) -> None:
    """Adjust the aggregates when a rating is withdrawn or invalidated (same transaction)."""
    await rollup.rating_status_changed(session, rating, old_status, new_status)


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
    "called_back",
    "callback_satisfied",
)


def order_block(counts: dict[str, int] | None) -> dict[str, Any]:
    """One kind of work order: its counts, each rate beside its numerator and denominator.

    Every rate is taken on `counted` (withdrawn and appeal-upheld orders reported apart):
    整改率 (差评整改率 for rating orders) = closed / counted; 按期整改率 = on_time /
    deadline_due; 实名回访率 (实名差评回访率) = real_name_called_back / real_name; 回访满意率 =
    callback_satisfied / called_back."""
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
        "called_back": c["called_back"],
        "callback_satisfied": c["callback_satisfied"],
        "callback_satisfaction_rate": rate(c["callback_satisfied"], c["called_back"]),
    }


def workorders_block(by_source: dict[str, dict[str, int]] | None) -> dict[str, Any]:
    """{rating, complaint, inspection}: each an order_block."""
    return {source: order_block((by_source or {}).get(source)) for source in ORDER_SOURCES}


# --- the figures the API serves --------------------------------------------------------------


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
        "default_ratings": await _default_ratings(session, period),
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
    include_children: bool = False,
    sample: str | None = None,
    region: str | None = None,
) -> dict[str, Any]:
    """One row per department with rank and band, and the number of departments per band
    (with `exclude_flagged`: all of them taken on the unflagged ratings; with
    `include_children`: each row's figures those of the department and all below it; with
    `sample`: only the rows of that sample-size group; with `region`: only the departments
    within that 行政区划, ranked among themselves)."""
    # every active department and any other rated in the period, with its name: one statement
    departments = await _department_rows(
        session, period, filters, names=True, exclude=exclude_flagged
    )
    orders = await _workorder_counts(session, period, now=now, by_department=True)
    flagged = await _flagged_counts(session, period, filters, ("department",))
    complaints = await complaint_sources(session, period)
    if include_children:
        departments, orders, flagged, complaints = await subtrees(
            session, departments, orders, flagged, complaints
        )
    minimum = max(min_sample, 0)
    eligible = [(code, tally) for code, _, tally in departments if tally.counted >= minimum]
    if sample is not None:
        eligible = [(code, t) for code, t in eligible if sample_group(t.counted) == sample]
    if region is not None:  # ranked among the region's departments
        inside = set(covered(await registry.department_tree(session), region=region) or ())
        eligible = [(code, t) for code, t in eligible if code in inside]
    names = {code: name for code, name, _ in departments}
    ranks = assign_ranks(eligible)
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
                "sample_group": sample_group(tally.counted),
                "complaints_by_source": complaints.get(code) or dict.fromkeys(COMPLAINT_SOURCES, 0),
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
            "include_children": include_children,
            "sample_group": sample,
            "region": region,
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
    names = {d.code: d.name for d in await registry.department_tree(session)}
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


async def monthly_ratings(session: AsyncSession, period: Period) -> list[dict[str, Any]]:
    """The centre's ratings per calendar month of the period (the console's trend chart): one
    query, the figures of GET /v1/stats/overview for each month (flags not counted apart)."""
    monthly = await _monthly_tallies(session, period, Filters())
    return [{"month": m, "ratings": t.block(flagged=0)} for m, t in sorted(monthly.items())]
