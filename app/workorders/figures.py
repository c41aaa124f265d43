"""Counts of work orders for the statistics (their rates and rounding: app/stats/tally.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from app.workorders import states
from app.workorders.models import Complaint, WorkOrder


async def figures(
    session: AsyncSession,
    *,
    start: datetime,
    end: datetime,
    now: datetime,
    by_department: bool = False,
) -> dict[str, Any]:
    """Raw counts of the orders opened in [start, end), per source (rating, complaint,
    inspection): {source: counts}, or {department_code: {source: counts}} (sources without
    orders left out there). The rates are the statistics' to compute and round.

    Counts: opened; withdrawn and appeal_upheld (reported apart); who asked for what
    (withdrawal_requested, withdrawal_refused: orders with a department's withdrawal request,
    with one refused; appealed, appeal_rejected); counted (the others, the set every rate below
    is taken on); closed (counted and closed); deadline_due (counted, whose deadline in force
    has passed at `now`, that are closed, or that had a late round) and on_time (of those,
    resolved by that deadline in every round: a late round stays late); overdue_now;
    real_name and real_name_called_back."""
    excluded = WorkOrder.outcome.in_(("withdrawn", "appeal_upheld"))
    counted = or_(WorkOrder.outcome.is_(None), ~excluded)
    closed = WorkOrder.state == "closed"
    late_before = WorkOrder.late_rounds > 0
    due = and_(counted, or_(WorkOrder.resolve_due_at < now, closed, late_before))
    upheld = WorkOrder.outcome == "appeal_upheld"
    columns = {
        "opened": func.count(),
        "withdrawn": func.count().filter(WorkOrder.outcome == "withdrawn"),
        "withdrawal_requested": func.count().filter(WorkOrder.withdrawal_requests > 0),
        "withdrawal_refused": func.count().filter(WorkOrder.withdrawal_refusals > 0),
        "appealed": func.count().filter(WorkOrder.appealed_before),
        "appeal_upheld": func.count().filter(upheld),
        "appeal_rejected": func.count().filter(
            WorkOrder.appealed_before,
            WorkOrder.state != "appealed",
            or_(WorkOrder.outcome.is_(None), ~upheld),
        ),
        "counted": func.count().filter(counted),
        "closed": func.count().filter(counted, closed),
        "deadline_due": func.count().filter(due),
        "on_time": func.count().filter(
            due,
            ~late_before,
            WorkOrder.resolved_at.is_not(None),
            WorkOrder.resolved_at <= WorkOrder.resolve_due_at,
        ),
        "overdue_now": func.count().filter(counted, WorkOrder.next_due_at < now),
        "real_name": func.count().filter(counted, WorkOrder.real_name),
        "real_name_called_back": func.count().filter(
            counted, WorkOrder.real_name, WorkOrder.called_back_at.is_not(None)
        ),
        # 回访满意率: of the counted orders called back, those the caller was satisfied with
        "called_back": func.count().filter(counted, WorkOrder.called_back_at.is_not(None)),
        "callback_satisfied": func.count().filter(
            counted, WorkOrder.called_back_at.is_not(None), WorkOrder.callback_satisfied
        ),
    }
    names = list(columns)
    keys = (WorkOrder.department_code, WorkOrder.source) if by_department else (WorkOrder.source,)
    query = (
        select(*keys, *columns.values())
        .where(WorkOrder.opened_at >= start, WorkOrder.opened_at < end)
        .group_by(*keys)
    )
    rows = await session.execute(query)
    if not by_department:
        totals = {source: dict.fromkeys(names, 0) for source in states.SOURCES}
        for source, *values in rows:
            totals[source] = dict(zip(names, values, strict=True))
        return totals
    out: dict[str, dict[str, Any]] = {}
    for code, source, *values in rows:
        out.setdefault(code, {})[source] = dict(zip(names, values, strict=True))
    return out


async def target_figures(
    session: AsyncSession, *, start: datetime, end: datetime, now: datetime
) -> list[dict[str, Any]]:
    """Counted orders opened in [start, end) per department, window, staff member, source and
    complaint source (NULL but for complaints), with deadline_due and on_time as figures()
    counts them: the rows of the window and staff tables' complaints and 按期整改率."""
    excluded = WorkOrder.outcome.in_(("withdrawn", "appeal_upheld"))
    counted = or_(WorkOrder.outcome.is_(None), ~excluded)
    late_before = WorkOrder.late_rounds > 0
    due = and_(
        counted, or_(WorkOrder.resolve_due_at < now, WorkOrder.state == "closed", late_before)
    )
    keys = (
        WorkOrder.department_code,
        func.coalesce(WorkOrder.window_no, "").label("window_no"),
        func.coalesce(WorkOrder.staff_id, "").label("staff_id"),
        WorkOrder.source,
        Complaint.source.label("complaint_source"),
    )
    query = (
        select(
            *keys,
            func.count().filter(counted).label("counted"),
            func.count().filter(due).label("deadline_due"),
            func.count()
            .filter(
                due,
                ~late_before,
                WorkOrder.resolved_at.is_not(None),
                WorkOrder.resolved_at <= WorkOrder.resolve_due_at,
            )
            .label("on_time"),
        )
        .outerjoin(Complaint, Complaint.id == WorkOrder.complaint_id)
        .where(WorkOrder.opened_at >= start, WorkOrder.opened_at < end)
        .group_by(*keys)
    )
    return [dict(row._mapping) for row in await session.execute(query)]


async def complaint_reasons(
    session: AsyncSession, *, start: datetime, end: datetime, departments: list[str] | None
) -> list[tuple[str, str | None, str, int]]:
    """Complaints received in [start, end): (department_code, category_code, source, n)."""
    query = select(
        Complaint.department_code, Complaint.category_code, Complaint.source, func.count()
    ).where(Complaint.received_at >= start, Complaint.received_at < end)
    if departments is not None:
        query = query.where(Complaint.department_code.in_(departments))
    query = query.group_by(Complaint.department_code, Complaint.category_code, Complaint.source)
    return [tuple(row) for row in await session.execute(query)]


async def inspection_tags(
    session: AsyncSession, *, start: datetime, end: datetime, departments: list[str] | None
) -> list[tuple[str, str, int]]:
    """Counted inspection orders opened in [start, end) per department and tag."""
    excluded = WorkOrder.outcome.in_(("withdrawn", "appeal_upheld"))
    tag = func.unnest(WorkOrder.tags).table_valued("tag").render_derived()
    query = (
        select(WorkOrder.department_code, tag.c.tag, func.count())
        .select_from(WorkOrder)
        .join(tag, true())
        .where(
            WorkOrder.source == "inspection",
            WorkOrder.opened_at >= start,
            WorkOrder.opened_at < end,
            or_(WorkOrder.outcome.is_(None), ~excluded),
        )
        .group_by(WorkOrder.department_code, tag.c.tag)
    )
    if departments is not None:
        query = query.where(WorkOrder.department_code.in_(departments))
    return [tuple(row) for row in await session.execute(query)]
