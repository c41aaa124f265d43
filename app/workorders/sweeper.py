"""The sweeper: due-soon and overdue warnings recorded once, in batches (SKIP LOCKED)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.notify import service as notify
from app.workorders.history import SYSTEM, append, event_data
from app.workorders.models import WorkOrder
from app.workorders.timing import flags, iso, load_calendar


async def flag_warnings(
    session: AsyncSession, order: WorkOrder, *, now: datetime, soon_limit: datetime
) -> list[str]:
    """Record (once) that the order became due soon or overdue, with history and webhooks."""
    due_soon, overdue = flags(order, now=now, soon_limit=soon_limit)
    raised = []
    detail = (
        {"stage": order.current_stage, "due_at": iso(order.next_due_at)}
        if (order.next_due_at)
        else {}
    )
    if overdue and order.overdue_at is None:
        order.overdue_at = now
        raised.append("overdue")
    elif due_soon and order.due_soon_at is None and order.overdue_at is None:
        order.due_soon_at = now
        raised.append("due_soon")
    for kind in raised:
        await append(session, order, SYSTEM, kind, now=now, state_before=order.state, data=detail)
        await notify.enqueue(session, f"ticket.{kind}", [event_data(order)], now=now)
    return raised


async def sweep(session: AsyncSession, *, now: datetime, batch_size: int = 200) -> dict[str, int]:
    """Record the first due-soon and overdue moments of one batch of orders (SKIP LOCKED).

    Safe with any number of processes: each row is taken by one sweeper, and a recorded
    warning is never given twice. Returns how many of each were raised."""
    cal = await load_calendar(session)
    soon_limit = cal.due_soon_limit(now)
    candidates = list(
        (
            await session.execute(
                select(WorkOrder)
                .where(
                    WorkOrder.next_due_at.is_not(None),
                    WorkOrder.overdue_at.is_(None),
                    or_(
                        WorkOrder.next_due_at < now,
                        and_(WorkOrder.due_soon_at.is_(None), WorkOrder.next_due_at <= soon_limit),
                    ),
                )
                .order_by(WorkOrder.next_due_at, WorkOrder.id)
                .limit(batch_size)
                .with_for_update(skip_locked=True)
            )
        ).scalars()
    )
    raised = {"due_soon": 0, "overdue": 0, "seen": 0}
    for order in candidates:
        raised["seen"] += 1
        for kind in await flag_warnings(session, order, now=now, soon_limit=soon_limit):
            raised[kind] += 1
    return raised


async def sweep_all(sessionmaker, *, now: datetime, batch_size: int = 200) -> dict[str, int]:
    """Sweep in committed batches until nothing is left (the job's entry point)."""
    total = {"due_soon": 0, "overdue": 0, "seen": 0}
    while True:
        async with sessionmaker() as session, session.begin():
            done = await sweep(session, now=now, batch_size=batch_size)
        for k, v in done.items():
            total[k] += v
        if done["seen"] < batch_size:
            return total
