"""The order as the API shows it: the state machine's facts, the summary, the detail."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app import privacy
from app.auth.service import Principal
from app.config import BUSINESS_TZ
from app.privacy.masking import mask_text
from app.workorders import states
from app.workorders.complaints import complaint_view
from app.workorders.evidence import status_change_view
from app.workorders.history import event_view
from app.workorders.models import Complaint, WorkOrder
from app.workorders.repository import history, rating_status_changes
from app.workorders.rounds import current_round, round_out
from app.workorders.timing import flags, load_calendar

log = logging.getLogger(__name__)


def order_facts(order: Any) -> states.Facts:
    """What the state machine needs of an order (a WorkOrder, or the demo's Order, which has
    the same fields)."""
    return states.Facts(
        state=order.state,
        source=order.source,
        real_name=order.real_name,
        extended=order.extended,
        can_extend="complex" in order.policy,
        appeal_from=order.appeal_from,
        appealed_before=order.appealed_before,
        substantiated=order.substantiated,
        withdrawal_from=order.withdrawal_from,
    )


def summary_view(order: WorkOrder) -> str | None:
    """The summary as every response shows it (masked again: rows stored before migration
    0009 were whole and in clear)."""
    try:
        return mask_text(privacy.keyring().open_text(order.summary, "work_order.summary"))
    except privacy.DataKeyError as exc:
        log.error("work order %s: summary unreadable: %s", order.id, exc)
        return "***"


def order_view(
    order: WorkOrder,
    *,
    role: str | None,
    now: datetime,
    soon_limit: datetime,
    complaint: Complaint | None = None,
) -> dict[str, Any]:
    """The order as the API shows it; allowed_actions: those a key of `role` may take now."""
    due_soon, overdue = flags(order, now=now, soon_limit=soon_limit)
    current = current_round(order, now=now)
    # What was late stays late: an earlier round's lateness is never cleared by a reopen.
    late = overdue or current["late"] or order.late_rounds > 0
    return {
        "id": order.id,
        "source": order.source,
        "state": order.state,
        "department_code": order.department_code,
        "window_no": order.window_no,
        "staff_id": order.staff_id,
        "summary": summary_view(order),
        "real_name": order.real_name,
        "tags": list(order.tags or []),
        "rating_id": order.rating_id,
        "complaint_order_no": complaint.order_no if complaint is not None else None,
        "opened_at": order.opened_at,
        "policy": order.policy,
        "deadlines": {k: datetime.fromisoformat(v) for k, v in order.deadlines.items()},
        "provisional": order.provisional,
        "current_stage": order.current_stage,
        "next_due_at": order.next_due_at.astimezone(BUSINESS_TZ) if order.next_due_at else None,
        "due_soon": due_soon,
        "overdue": overdue,
        "late": late,
        "extended": order.extended,
        "substantiated": order.substantiated,
        "callback_satisfied": order.callback_satisfied,
        "outcome": order.outcome,
        "resolved_at": order.resolved_at,
        "closed_at": order.closed_at,
        "due_soon_at": order.due_soon_at,
        "overdue_at": order.overdue_at,
        "reopen_count": order.reopen_count,
        "round": current["round"],
        "late_rounds": order.late_rounds + int(current["late"]),
        "rounds": [round_out(r) for r in order.rounds or []] + [current],
        "withdrawal_requests": order.withdrawal_requests,
        "withdrawal_refusals": order.withdrawal_refusals,
        "allowed_actions": states.allowed_for(order_facts(order), role),
    }


async def order_detail(
    session: AsyncSession,
    principal: Principal,
    order: WorkOrder,
    complaint: Complaint | None,
    *,
    now: datetime,
) -> dict[str, Any]:
    """The order with its timeline and the rating or complaint it came from."""
    cal = await load_calendar(session)
    body = order_view(
        order,
        role=principal.role,
        now=now,
        soon_limit=cal.due_soon_limit(now),
        complaint=complaint,
    )
    body["history"] = [event_view(e) for e in await history(session, order.id)]
    body["rating_status_changes"] = [
        status_change_view(c) for c in await rating_status_changes(session, order)
    ]
    body["rating"] = None
    body["complaint"] = complaint_view(complaint) if complaint is not None else None
    if order.rating_id is not None:
        from app.ratings import service as ratings

        body["rating"] = ratings.view(
            await ratings.get_rating(session, order.rating_id),
            with_flags=ratings.sees_flags(principal),
        )
    return body
