"""Where the bulletin and the score take their rows: one function per source of figures.

Each function returns what the current domains can tell truly, or None when the source is not
kept yet (the section then says 本期无数据 and the score marks the input unavailable); none of
them invents a number. The functions to connect when a domain grows a source are named in the
docstrings.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.stats import service as stats
from app.stats.periods import Period


async def overview(session: AsyncSession, period: Period, *, now: datetime) -> dict[str, Any]:
    """Centre totals: ratings by level, 好评率, the work orders by source."""
    return await stats.overview(session, period, now=now)


async def department_table(
    session: AsyncSession, period: Period, *, now: datetime
) -> dict[str, Any]:
    """Every department's ratings, work orders, rank and band."""
    return await stats.department_table(session, period, now=now)


async def case_rows(
    session: AsyncSession, period: Period
) -> dict[str | None, tuple[int, int]] | None:
    """办件量 and actively rated cases, {department_code or None (centre): (handled, rated)}.

    None: no case ledger yet (to connect: the case ledger's per-department counts)."""
    return None


def complaint_source_rows(overview: dict[str, Any]) -> list[tuple[str, int, int]]:
    """Complaints by the way they came: (name, received, closed). Today the service takes
    complaints from the 12345 hotline (POST /v1/complaints) and inspections (督查), each a work
    order source (to connect: the complaint `source` codes, when complaints carry them)."""
    orders = overview["workorders"]
    return [
        ("12345热线", orders["complaint"]["opened"], orders["complaint"]["closed"]),
        ("督查检查", orders["inspection"]["opened"], orders["inspection"]["closed"]),
    ]


def complaint_window_rows(table: dict[str, Any]) -> list[tuple[str, int, int]]:
    """Complaints by the window complained about: (name, received, closed), most first.
    Today by department, the unit the complaint orders are counted by (to connect: the
    per-window complaint counts of the windows table)."""
    rows = [
        (
            row["name"],
            row["workorders"]["complaint"]["opened"],
            row["workorders"]["complaint"]["closed"],
        )
        for row in table["departments"]
        if row["workorders"]["complaint"]["opened"]
    ]
    rows.sort(key=lambda r: (-r[1], r[0]))
    return rows


async def window_rows(session: AsyncSession, period: Period) -> list[dict[str, Any]] | None:
    """The windows leaderboard across the centre (name, department, counted, good rate, rank).
    None: no centre-wide windows table yet (to connect: GET /v1/stats/windows' service)."""
    return None


async def staff_rows(session: AsyncSession, period: Period) -> list[dict[str, Any]] | None:
    """The staff leaderboard across the centre. None: no staff register and table yet (to
    connect: GET /v1/stats/staff's service)."""
    return None


async def reason_rows(session: AsyncSession, period: Period) -> list[dict[str, Any]]:
    """Problems by class: [{tag, name, ratings, complaints, inspections}], most first. Today
    from the 差评 reasons only; complaints and inspections carry no class codes yet (None: not
    counted, never 0) (to connect: the reasons across ratings, complaints and inspections)."""
    figures = await stats.reasons(session, period)
    return [
        {
            "tag": row["tag"],
            "name": row["name"],
            "ratings": row["count"],
            "complaints": None,
            "inspections": None,
        }
        for row in figures["reasons"]
    ]
