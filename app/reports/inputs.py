"""Where the bulletin and the score take their rows: one function per source of figures, each
through the owning domain's service (statistics, case ledger, surveys). None of them invents a
number: a source with nothing for the period answers None (the section then says 本期无数据 and
the score marks the input unavailable)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.cases import service as cases
from app.stats import regions
from app.stats import service as stats
from app.stats.periods import Period
from app.stats.tables import TableFilters, staff_table, window_table
from app.surveys import service as surveys
from app.workorders.categories import COMPLAINT_SOURCE_NAMES, COMPLAINT_SOURCES

# How many windows the complaints-by-window table lists.
COMPLAINT_WINDOWS = 10


async def overview(session: AsyncSession, period: Period, *, now: datetime) -> dict[str, Any]:
    """Centre totals: ratings by level, 好评率, the work orders by source."""
    return await stats.overview(session, period, now=now)


async def department_table(
    session: AsyncSession, period: Period, *, now: datetime
) -> dict[str, Any]:
    """Every department's ratings, work orders, complaints by source, rank and band."""
    return await stats.department_table(session, period, now=now)


CaseCounts = dict[str | None, tuple[int, int]]


async def case_rows(
    session: AsyncSession, period: Period, group: str = "department"
) -> CaseCounts | None:
    """办件量 and actively rated cases from the case ledger (GET /v1/stats/cases):
    {department_code (or window / staff key) or None (centre): (cases, rated)}; windows keyed
    "department|window_no". None when the ledger holds no case of the period."""
    figures = await cases.case_figures(session, period, group=group)
    if not figures["total"]["cases"]:
        return None
    out: CaseCounts = {None: (figures["total"]["cases"], figures["total"]["rated"])}
    for row in figures["rows"]:
        if group == "department":
            key = row["department_code"]
        elif row["key"] is None:
            continue  # cases without a window / staff member: in the total only
        else:
            key = f"{row['department_code']}|{row['key']}" if group == "window" else row["key"]
        handled, rated = out.get(key, (0, 0))
        out[key] = (handled + row["cases"], rated + row["rated"])
    return out


def complaint_source_rows(table: dict[str, Any]) -> list[tuple[str, int]]:
    """Complaints received by the way they came (the complaint `source`), (name, count), from
    the department table's complaints_by_source; every source listed."""
    totals = dict.fromkeys(COMPLAINT_SOURCES, 0)
    for row in table["departments"]:
        for source, n in row["complaints_by_source"].items():
            totals[source] += n
    return [(COMPLAINT_SOURCE_NAMES[s], totals[s]) for s in COMPLAINT_SOURCES]


def window_name(row: dict[str, Any]) -> str:
    return f"{row['department_name']}{row['name'] or row['window_no']}"


async def complaint_window_rows(
    session: AsyncSession, period: Period, *, now: datetime
) -> list[tuple[str, int, int]]:
    """Complaints by the window complained about, most first (the windows table sorted by
    complaints): (department and window, complaints, of them from 12345)."""
    table = await window_table(
        session, period, TableFilters(), sort="complaints", limit=COMPLAINT_WINDOWS, now=now
    )
    return [
        (
            window_name(row),
            row["complaints"]["counted"],
            row["complaints"]["by_source"]["hotline_12345"],
        )
        for row in table["windows"]
        if row["complaints"]["counted"]
    ]


async def window_rows(
    session: AsyncSession, period: Period, *, now: datetime
) -> list[dict[str, Any]]:
    """The windows table across the centre (GET /v1/stats/windows), rated windows only."""
    table = await window_table(session, period, TableFilters(), now=now)
    return [row for row in table["windows"] if row["ratings"]["counted"]]


async def staff_rows(
    session: AsyncSession, period: Period, *, now: datetime
) -> list[dict[str, Any]]:
    """The staff table across the centre (GET /v1/stats/staff), rated staff only, named from
    the staff register."""
    table = await staff_table(session, period, TableFilters(), now=now)
    return [row for row in table["staff"] if row["ratings"]["counted"]]


async def reason_rows(session: AsyncSession, period: Period) -> dict[str, Any]:
    """Problems by class across 差评, complaints and inspections (GET /v1/stats/reasons?
    source=all): rows [{tag, name, count, ratings, complaints, inspections}], most first, and
    the complaints without a category code."""
    figures = await regions.reasons(session, period, source="all")
    return {
        "rows": figures["reasons"],
        "uncategorised_complaints": figures["uncategorised_complaints"],
    }


async def sample_rows(session: AsyncSession, period: Period) -> dict[str, Any] | None:
    """The survey samples of the period (GET /v1/stats/samples): total and by channel; None
    when there were none."""
    figures = await surveys.sample_figures(session, period)
    return figures if figures["total"]["samples"] else None
