"""The work orders beside the window and staff tables, counted by PostgreSQL per row.

The same counts as app.workorders.figures.target_figures (counted orders opened in the period,
deadline_due and on_time as figures() counts them), summed per window or staff member in the
statement: complaints by source (COMPLAINT_SOURCES' order), inspections, deadline_due and
on_time, one row per key, instead of a row per (department, window, staff, source) to add up
in Python.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.workorders.categories import COMPLAINT_SOURCES
from app.workorders.models import Complaint, WorkOrder


async def order_counts(
    session: AsyncSession,
    *,
    start: datetime,
    end: datetime,
    now: datetime,
    by: str,
    departments: tuple[str, ...] | None,
) -> dict[tuple[str, ...], tuple[int, ...]]:
    """{key: (complaints by source …, inspections, deadline_due, on_time)}: key
    (department_code, window_no) by window, (staff_id,) by staff member; orders without one
    left out."""
    excluded = WorkOrder.outcome.in_(("withdrawn", "appeal_upheld"))
    counted = or_(WorkOrder.outcome.is_(None), ~excluded)
    late_before = WorkOrder.late_rounds > 0
    due = and_(
        counted, or_(WorkOrder.resolve_due_at < now, WorkOrder.state == "closed", late_before)
    )
    on_time = and_(
        due,
        ~late_before,
        WorkOrder.resolved_at.is_not(None),
        WorkOrder.resolved_at <= WorkOrder.resolve_due_at,
    )
    if by == "window":
        keys = (WorkOrder.department_code, WorkOrder.window_no)
        present = and_(WorkOrder.window_no.is_not(None), WorkOrder.window_no != "")
    else:
        keys = (WorkOrder.staff_id,)
        present = and_(WorkOrder.staff_id.is_not(None), WorkOrder.staff_id != "")
    complaint = WorkOrder.source == "complaint"
    columns = [
        func.count().filter(counted, complaint, Complaint.source == source)
        for source in COMPLAINT_SOURCES
    ]
    columns += [
        func.count().filter(counted, WorkOrder.source == "inspection"),
        func.count().filter(due),
        func.count().filter(on_time),
    ]
    query = (
        select(*keys, *columns)
        .outerjoin(Complaint, Complaint.id == WorkOrder.complaint_id)
        .where(WorkOrder.opened_at >= start, WorkOrder.opened_at < end, present)
        .group_by(*keys)
    )
    if departments is not None:
        query = query.where(WorkOrder.department_code.in_(departments))
    width = len(keys)
    return {tuple(row[:width]): tuple(row[width:]) for row in await session.execute(query)}
