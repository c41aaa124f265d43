"""An order's deadlines in force: the calendar as entered, the policy, the due instants."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import BUSINESS_TZ, Settings
from app.workorders import states
from app.workorders.calendar import WorkCalendar, YearArrangement
from app.workorders.deadlines import DeadlinePolicy
from app.workorders.models import CalendarYear, WorkOrder


async def load_calendar(session: AsyncSession) -> WorkCalendar:
    """The package's years overridden by the years administrators entered."""
    rows = (await session.execute(select(CalendarYear))).scalars()
    return WorkCalendar(
        YearArrangement(r.year, frozenset(r.holidays), frozenset(r.workdays)) for r in rows
    )


def current_policy(settings: Settings) -> DeadlinePolicy:
    """The deadline policy new orders get: the app's settings' (HAOCHAPING_DEADLINE_POLICY)."""
    return DeadlinePolicy.parse(settings.deadline_policy)


def iso(value: datetime) -> str:
    return value.astimezone(BUSINESS_TZ).isoformat()


def _stage_names(order: WorkOrder) -> tuple[str, ...]:
    return tuple(order.policy)


def _deadline(order: WorkOrder, stage: str | None) -> datetime | None:
    if stage is None:
        return None
    return datetime.fromisoformat(order.deadlines[stage])


def refresh_due(order: WorkOrder) -> None:
    """Derive the stage being worked against and its deadline from the state."""
    stage = states.current_stage(
        order.state,
        extended=order.extended,
        stages=_stage_names(order),
        appeal_from=order.appeal_from,
        withdrawal_from=order.withdrawal_from,
    )
    order.current_stage = stage
    order.next_due_at = _deadline(order, stage)
    resolution = "complex" if order.extended and "complex" in order.policy else "rectify"
    order.resolve_due_at = _deadline(order, resolution)


def set_deadlines(order: WorkOrder, cal: WorkCalendar) -> None:
    policy = DeadlinePolicy.parse(order.policy)
    deadlines, provisional = policy.deadlines(cal, order.deadline_basis_at)
    order.deadlines = {name: iso(due) for name, due in deadlines.items()}
    order.provisional = provisional
    refresh_due(order)


def flags(order: WorkOrder, *, now: datetime, soon_limit: datetime) -> tuple[bool, bool]:
    """(due_soon, overdue) at `now`, whatever the sweeper has recorded."""
    due = order.next_due_at
    if due is None:
        return False, False
    overdue = now > due
    return (not overdue and due <= soon_limit), overdue
