"""The working-day calendar as administrators enter it, and the deadlines it recounts."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.service import Principal
from app.errors import ValidationProblem, field_error
from app.workorders.calendar import YearArrangement, package_arrangement
from app.workorders.history import Actor, append
from app.workorders.models import CalendarYear, WorkOrder
from app.workorders.timing import load_calendar, set_deadlines


def calendar_view(year: int, entered: CalendarYear | None) -> dict[str, Any]:
    if entered is not None:
        return {
            "year": year,
            "source": "entered",
            "provisional": False,
            "holidays": sorted(entered.holidays),
            "workdays": sorted(entered.workdays),
            "note": entered.note,
            "updated_at": entered.updated_at,
        }
    arrangement = package_arrangement(year)
    if arrangement is not None:
        return {
            "year": year,
            "source": "package",
            "provisional": False,
            "holidays": sorted(arrangement.holidays),
            "workdays": sorted(arrangement.workdays),
            "note": None,
            "updated_at": None,
        }
    return {
        "year": year,
        "source": "none",
        "provisional": True,
        "holidays": [],
        "workdays": [],
        "note": "Not published yet: deadlines in this year count Monday to Friday, provisionally",
        "updated_at": None,
    }


async def get_calendar_year(session: AsyncSession, year: int) -> dict[str, Any]:
    return calendar_view(year, await session.get(CalendarYear, year))


async def put_calendar_year(
    session: AsyncSession,
    principal: Principal,
    year: int,
    *,
    holidays: list[date],
    workdays: list[date],
    note: str | None,
    now: datetime,
) -> tuple[dict[str, Any], int]:
    """Enter a year's arrangement; recompute the open orders whose deadlines were provisional."""
    try:
        YearArrangement(year, frozenset(holidays), frozenset(workdays))
    except ValueError as exc:
        raise ValidationProblem(str(exc), errors=[field_error("holidays", str(exc))]) from None
    await session.execute(
        text(
            """
            INSERT INTO calendar_year (year, holidays, workdays, note, updated_at, updated_by)
            VALUES (:year, :holidays, :workdays, :note, :now, :by)
            ON CONFLICT (year) DO UPDATE SET holidays = EXCLUDED.holidays,
                workdays = EXCLUDED.workdays, note = EXCLUDED.note,
                updated_at = EXCLUDED.updated_at, updated_by = EXCLUDED.updated_by
            """
        ),
        {
            "year": year,
            "holidays": sorted(set(holidays)),
            "workdays": sorted(set(workdays)),
            "note": note,
            "now": now,
            "by": principal.client_id,
        },
    )
    session.expire_all()
    recomputed = await recompute_provisional(session, Actor.of(principal), now=now)
    return await get_calendar_year(session, year), recomputed


async def recompute_provisional(session: AsyncSession, actor: Actor, *, now: datetime) -> int:
    """Recount the deadlines of open orders that were provisional (closed orders keep theirs)."""
    cal = await load_calendar(session)
    orders = list(
        (
            await session.execute(
                select(WorkOrder)
                .where(WorkOrder.provisional, WorkOrder.state != "closed")
                .order_by(WorkOrder.id)
                .with_for_update()
            )
        ).scalars()
    )
    changed = 0
    for order in orders:
        before = dict(order.deadlines)
        set_deadlines(order, cal)
        changed += 1
        await append(
            session,
            order,
            actor,
            "recompute_deadlines",
            now=now,
            state_before=order.state,
            note="the calendar of a year was entered",
            data={"before": before, "after": order.deadlines, "provisional": order.provisional},
        )
    return changed
