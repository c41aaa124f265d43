"""Opening orders: for every new 差评, by hand from an inspection; the parts complaints share."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app import privacy
from app.auth.service import Principal
from app.errors import ValidationProblem, field_error
from app.notify import service as notify
from app.privacy.masking import mask_text
from app.workorders.calendar import WorkCalendar
from app.workorders.deadlines import DeadlinePolicy
from app.workorders.history import SYSTEM, Actor, event_data
from app.workorders.models import Complaint, WorkOrder, WorkOrderEvent
from app.workorders.timing import load_calendar, set_deadlines


def _new_order(
    *,
    source: str,
    department_code: str,
    opened_at: datetime,
    real_name: bool,
    policy: DeadlinePolicy,
    cal: WorkCalendar,
    tags: list[str] | None = None,
    window_no: str | None = None,
    staff_id: str | None = None,
    summary: str | None = None,
    rating_id: int | None = None,
    complaint_id: int | None = None,
    created_by: uuid.UUID | None = None,
) -> WorkOrder:
    order = WorkOrder(
        source=source,
        rating_id=rating_id,
        complaint_id=complaint_id,
        department_code=department_code,
        window_no=window_no,
        staff_id=staff_id,
        summary=summary,
        real_name=real_name,
        tags=list(tags or []),
        state="open",
        extended=False,
        appealed_before=False,
        reopen_count=0,
        rounds=[],
        late_rounds=0,
        withdrawal_requests=0,
        withdrawal_refusals=0,
        opened_at=opened_at,
        deadline_basis_at=opened_at,
        policy=policy.as_dict(),
        created_by=created_by,
    )
    set_deadlines(order, cal)
    return order


async def _insert_orders(
    session: AsyncSession, orders: list[WorkOrder], actor: Actor, *, now: datetime, note: str | None
) -> None:
    """Store new orders with their first history entry and their ticket.opened events."""
    session.add_all(orders)
    await session.flush()
    await session.execute(
        insert(WorkOrderEvent),
        [
            {
                "work_order_id": o.id,
                "seq": 1,
                "action": "open",
                "at": now,
                "actor_key_id": actor.key_id,
                "actor_client_id": actor.client_id,
                "actor_name": actor.name,
                "actor_role": actor.role,
                "note": note,
                "state_before": None,
                "state_after": "open",
                "data": {"deadlines": o.deadlines, "provisional": o.provisional},
            }
            for o in orders
        ],
    )
    await notify.enqueue(session, "ticket.opened", [event_data(o) for o in orders], now=now)


def _is_real_name(name: str | None, phone: str | None) -> bool:
    return bool(name or phone)


async def open_for_ratings(
    session: AsyncSession,
    records: list[dict[str, Any]],
    *,
    policy: DeadlinePolicy,
) -> list[WorkOrder]:
    """Open a work order for every new 差评, in the rating's own transaction.

    Counted from receipt; an imported historical rating is counted from when it was rated, so
    that an order late then is late now."""
    bad = [r for r in records if r["level"] <= 2]
    if not bad:
        return []
    cal = await load_calendar(session)
    orders = [
        _new_order(
            source="rating",
            rating_id=r["id"],
            department_code=r["department_code"],
            window_no=r.get("window_no"),
            staff_id=r.get("staff_id"),
            opened_at=r["rated_at"] if r.get("historical") else r["received_at"],
            real_name=_is_real_name(r.get("rater_name"), r.get("rater_phone")),
            tags=r.get("tags"),
            summary=_summary(r.get("comment"), r.get("rater_name")),
            policy=policy,
            cal=cal,
        )
        for r in bad
    ]
    now = max(r["received_at"] for r in bad)
    await _insert_orders(session, orders, SYSTEM, now=now, note="差评")
    return orders


async def open_inspection(
    session: AsyncSession,
    principal: Principal,
    *,
    department_code: str,
    summary: str,
    found_at: datetime,
    window_no: str | None,
    staff_id: str | None,
    tags: list[str],
    now: datetime,
    policy: DeadlinePolicy,
) -> WorkOrder:
    """A supervisor opens an order by hand, from an inspection (nobody to call back)."""
    await active_department(session, department_code, "department_code")
    cal = await load_calendar(session)
    order = _new_order(
        source="inspection",
        department_code=department_code,
        opened_at=found_at,
        real_name=False,
        policy=policy,
        cal=cal,
        tags=tags,
        window_no=window_no,
        staff_id=staff_id,
        summary=_summary(summary, None),
        created_by=principal.client_id,
    )
    # The history is never rewritten: its note holds the summary masked, as it is shown.
    await _insert_orders(session, [order], Actor.of(principal), now=now, note=mask_text(summary))
    return order


async def open_for_complaint(
    session: AsyncSession,
    principal: Principal,
    complaint: Complaint,
    values: dict[str, Any],
    *,
    now: datetime,
    policy: DeadlinePolicy,
) -> WorkOrder:
    """Open the order of a 12345 complaint just stored (`values`: as sent, in clear)."""
    cal = await load_calendar(session)
    order = _new_order(
        source="complaint",
        complaint_id=complaint.id,
        department_code=complaint.department_code,
        window_no=complaint.window_no,
        staff_id=complaint.staff_id,
        opened_at=complaint.received_at,
        real_name=_is_real_name(values["citizen_name"], values["citizen_phone"]),
        summary=_summary(values["content"], values["citizen_name"]),
        policy=policy,
        cal=cal,
        created_by=principal.client_id,
    )
    await _insert_orders(
        session, [order], Actor.of(principal), now=now, note=f"12345 {complaint.order_no}"
    )
    return order


async def active_department(session: AsyncSession, code: str, field: str) -> None:
    from app.registry import service as registry

    active = await registry.active_departments(session, {code})
    if code not in active:
        raise ValidationProblem(
            f"Unknown department {code!r}", errors=[field_error(field, "unknown department")]
        )
    if not active[code]:
        raise ValidationProblem(
            f"Department {code!r} is inactive",
            errors=[field_error(field, "the department is inactive", "inactive")],
        )


def _summary(text: str | None, name: str | None) -> str | None:
    """An order's summary as stored: the comment or content it was opened from, masked with
    the rater's or caller's name (the whole text stays with the rating or complaint, for the
    audited read), and sealed."""
    return privacy.keyring().seal_text(mask_text(text, (name,)), "work_order.summary")
