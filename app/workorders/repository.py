"""The work-order queries, each narrowed by what the key may see (`visible`)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import BUSINESS_TZ
from app.pagination import decode_cursor, encode_cursor, row_id
from app.workorders import states
from app.workorders.models import Complaint, RatingStatusChange, WorkOrder, WorkOrderEvent


@dataclass(slots=True)
class OrderFilter:
    department_code: str | None = None
    state: list[str] | None = None
    source: str | None = None
    overdue: bool | None = None
    due_soon: bool | None = None
    due_before: datetime | None = None
    opened_from: datetime | None = None
    opened_to: datetime | None = None
    hotline_client_id: uuid.UUID | None = None
    window_no: str | None = None
    staff_id: str | None = None


SORTS = ("deadline", "newest")
_FAR = datetime(9999, 1, 1, tzinfo=BUSINESS_TZ)


def _decode(cursor: str, sort: str) -> tuple[datetime, int]:
    def order_key(fields: list[str]) -> tuple[datetime, int]:
        kind, stamp, order_id = fields
        key = datetime.fromisoformat(stamp)
        if kind != sort or key.tzinfo is None:
            raise ValueError(kind)
        return key, row_id(order_id)

    return decode_cursor(cursor, order_key, message="not a cursor this API returned for this sort")


def visible(filters: OrderFilter) -> list[Any]:
    """Who sees what, as conditions: the department, source and hotline client the filter was
    narrowed to for the key (app/workorders/access.py, `visible_filter`)."""
    conditions: list[Any] = []
    if filters.department_code:
        conditions.append(WorkOrder.department_code == filters.department_code)
    if filters.source:
        conditions.append(WorkOrder.source == filters.source)
    if filters.hotline_client_id:
        conditions.append(
            WorkOrder.complaint_id.in_(
                select(Complaint.id).where(Complaint.client_id == filters.hotline_client_id)
            )
        )
    return conditions


def where(filters: OrderFilter, *, now: datetime, soon_limit: datetime) -> list[Any]:
    conditions = visible(filters)
    if filters.state:
        conditions.append(WorkOrder.state.in_(filters.state))
    if filters.overdue is True:
        conditions.append(WorkOrder.next_due_at < now)
    elif filters.overdue is False:
        conditions.append(or_(WorkOrder.next_due_at.is_(None), WorkOrder.next_due_at >= now))
    if filters.due_soon is not None:
        soon = and_(WorkOrder.next_due_at >= now, WorkOrder.next_due_at <= soon_limit)
        conditions.append(soon if filters.due_soon else ~func.coalesce(soon, False))
    if filters.window_no:
        conditions.append(WorkOrder.window_no == filters.window_no)
    if filters.staff_id:
        conditions.append(WorkOrder.staff_id == filters.staff_id)
    if filters.due_before:
        conditions.append(WorkOrder.next_due_at < filters.due_before)
    if filters.opened_from:
        conditions.append(WorkOrder.opened_at >= filters.opened_from)
    if filters.opened_to:
        conditions.append(WorkOrder.opened_at < filters.opened_to)
    return conditions


async def order_by_id(
    session: AsyncSession, filters: OrderFilter, order_id: int, *, for_update: bool = False
) -> WorkOrder | None:
    """The order, if the filter lets it be seen (locked for an action)."""
    query = select(WorkOrder).where(WorkOrder.id == order_id, *visible(filters))
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def order_of_complaint(
    session: AsyncSession, complaint_id: int, filters: OrderFilter
) -> WorkOrder | None:
    """The order a complaint opened, if the filter lets it be seen."""
    query = select(WorkOrder).where(WorkOrder.complaint_id == complaint_id, *visible(filters))
    return (await session.execute(query)).scalar_one_or_none()


async def order_of_rating_for_update(session: AsyncSession, rating_id: int) -> WorkOrder | None:
    """The order a 差评 opened, locked (for its rater's withdrawal, through the rating's client)."""
    query = select(WorkOrder).where(WorkOrder.rating_id == rating_id).with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def complaint_by_no(session: AsyncSession, order_no: str) -> Complaint | None:
    return (
        await session.execute(select(Complaint).where(Complaint.order_no == order_no))
    ).scalar_one_or_none()


async def complaints_of(session: AsyncSession, orders: list[WorkOrder]) -> dict[int, Complaint]:
    """The complaints the orders came from, by id."""
    ids = [o.complaint_id for o in orders if o.complaint_id is not None]
    if not ids:
        return {}
    return {
        c.id: c
        for c in (await session.execute(select(Complaint).where(Complaint.id.in_(ids)))).scalars()
    }


async def page(
    session: AsyncSession,
    filters: OrderFilter,
    *,
    sort: str,
    limit: int,
    cursor: str | None,
    now: datetime,
    soon_limit: datetime,
) -> tuple[list[WorkOrder], str | None]:
    """One page of the queue: nearest deadline first (orders without one last), or newest
    first; and the cursor of the next page."""
    query = select(WorkOrder).where(*where(filters, now=now, soon_limit=soon_limit))
    if sort == "deadline":
        key = func.coalesce(WorkOrder.next_due_at, _FAR)
        if cursor:
            after, after_id = _decode(cursor, sort)
            query = query.where(or_(key > after, and_(key == after, WorkOrder.id > after_id)))
        query = query.order_by(key, WorkOrder.id)
    else:
        if cursor:
            after, after_id = _decode(cursor, sort)
            query = query.where(
                or_(
                    WorkOrder.opened_at < after,
                    and_(WorkOrder.opened_at == after, WorkOrder.id < after_id),
                )
            )
        query = query.order_by(WorkOrder.opened_at.desc(), WorkOrder.id.desc())
    rows = list((await session.execute(query.limit(limit + 1))).scalars())
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        stamp = (last.next_due_at or _FAR) if sort == "deadline" else last.opened_at
        next_cursor = encode_cursor(sort, stamp, last.id)
    return rows, next_cursor


async def counts(
    session: AsyncSession, filters: OrderFilter, *, now: datetime, soon_limit: datetime
) -> dict[str, Any]:
    """How many orders by state, and how many due soon and overdue now."""
    conditions = where(filters, now=now, soon_limit=soon_limit)
    rows = await session.execute(
        select(WorkOrder.state, func.count()).where(*conditions).group_by(WorkOrder.state)
    )
    by_state = {state: 0 for state in states.STATES}
    by_state.update({state: n for state, n in rows.all()})
    row = (
        await session.execute(
            select(
                func.count().filter(WorkOrder.next_due_at < now),
                func.count().filter(
                    WorkOrder.next_due_at >= now, WorkOrder.next_due_at <= soon_limit
                ),
            ).where(*conditions)
        )
    ).one()
    return {
        "total": sum(by_state.values()),
        "by_state": by_state,
        "overdue": row[0],
        "due_soon": row[1],
    }


async def history(session: AsyncSession, order_id: int) -> list[WorkOrderEvent]:
    return list(
        (
            await session.execute(
                select(WorkOrderEvent)
                .where(WorkOrderEvent.work_order_id == order_id)
                .order_by(WorkOrderEvent.seq)
            )
        ).scalars()
    )


async def last_event(session: AsyncSession, order_id: int, action: str) -> WorkOrderEvent | None:
    return (
        await session.execute(
            select(WorkOrderEvent)
            .where(WorkOrderEvent.work_order_id == order_id, WorkOrderEvent.action == action)
            .order_by(WorkOrderEvent.seq.desc())
            .limit(1)
        )
    ).scalar_one_or_none()


async def rating_status_changes(
    session: AsyncSession, order: WorkOrder
) -> list[RatingStatusChange]:
    if order.rating_id is None:
        return []
    query = (
        select(RatingStatusChange)
        .where(RatingStatusChange.rating_id == order.rating_id)
        .order_by(RatingStatusChange.id)
    )
    return list((await session.execute(query)).scalars())
