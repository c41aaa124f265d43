"""Reading orders as a key may: one order, the queue and the counts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.service import Principal
from app.errors import NotFound
from app.workorders import repository
from app.workorders.access import visible_filter
from app.workorders.models import Complaint, WorkOrder
from app.workorders.repository import OrderFilter
from app.workorders.timing import load_calendar
from app.workorders.views import order_view


async def get_order(
    session: AsyncSession, principal: Principal, order_id: int, *, for_update: bool = False
) -> tuple[WorkOrder, Complaint | None]:
    """The order if this key may see it; 404 otherwise (another department's included)."""
    filters = visible_filter(principal, OrderFilter())
    order = await repository.order_by_id(session, filters, order_id, for_update=for_update)
    if order is None:
        raise NotFound(f"No work order {order_id}")
    complaint = None
    if order.complaint_id is not None:
        complaint = await session.get(Complaint, order.complaint_id)
    return order, complaint


async def list_orders(
    session: AsyncSession,
    filters: OrderFilter,
    *,
    sort: str,
    limit: int,
    cursor: str | None,
    now: datetime,
    role: str | None,
) -> tuple[list[dict[str, Any]], str | None]:
    """The queue: nearest deadline first (orders without one last), or newest first; each
    order's allowed_actions are those a key of `role` may take."""
    cal = await load_calendar(session)
    soon_limit = cal.due_soon_limit(now)
    rows, next_cursor = await repository.page(
        session, filters, sort=sort, limit=limit, cursor=cursor, now=now, soon_limit=soon_limit
    )
    complaints = await repository.complaints_of(session, rows)
    items = [
        order_view(
            o, role=role, now=now, soon_limit=soon_limit, complaint=complaints.get(o.complaint_id)
        )
        for o in rows
    ]
    return items, next_cursor


async def counts(session: AsyncSession, filters: OrderFilter, *, now: datetime) -> dict[str, Any]:
    """How many orders by state, and how many due soon and overdue now (for readers too)."""
    cal = await load_calendar(session)
    return await repository.counts(session, filters, now=now, soon_limit=cal.due_soon_limit(now))
