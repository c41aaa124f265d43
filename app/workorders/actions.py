"""Actions on an order (contact, verify, …, withdraw, transfer): who, when, what changes."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.service import Principal
from app.errors import Conflict, Forbidden, ValidationProblem, field_error
from app.notify import service as notify
from app.workorders import labels, states
from app.workorders.evidence import change_rating_status, evidence_record, requester
from app.workorders.history import Actor, append, event_data
from app.workorders.models import Complaint, WorkOrder
from app.workorders.opening import active_department
from app.workorders.reading import get_order
from app.workorders.repository import last_event
from app.workorders.rounds import close_round
from app.workorders.sweeper import flag_warnings
from app.workorders.timing import load_calendar, refresh_due, set_deadlines
from app.workorders.views import order_facts


class ActionConflict(Conflict):
    type, title = "action-not-allowed", "This action is not allowed in the order's current state"


def move(
    order: Any,
    step: states.Step,
    action: str,
    at: datetime,
    data: dict[str, Any],
    *,
    substantiated: bool | None,
    satisfied: bool | None,
) -> str:
    """The order's new state and the fields the step sets at `at` (a WorkOrder, or the demo's
    Order, which has the same fields), with what the event records added to `data`; returns
    the state before."""
    state_before = order.state
    order.state = step.state_after
    if action == "contact":
        order.contacted_at = at
    if action == "verify":
        order.substantiated = substantiated
        data["substantiated"] = substantiated
    if "extend" in step.effects:
        order.extended = True
    if "resolved" in step.effects and order.resolved_at is None:
        order.resolved_at = at
    if "appeal" in step.effects:
        order.appeal_from = state_before
        order.appealed_before = True
    if "appeal_rejected" in step.effects:
        order.appeal_from = None
    if "called_back" in step.effects:
        order.called_back_at = order.called_back_at or at
        order.callback_satisfied = satisfied
        data["satisfied"] = satisfied
    return state_before


def new_round(order: Any, at: datetime) -> None:
    """A reopened order's fresh round, counted from `at` (the ended round already closed;
    the caller sets the new deadlines)."""
    order.reopen_count += 1
    order.deadline_basis_at = at
    order.substantiated = None
    order.resolved_at = None
    order.contacted_at = None
    order.due_soon_at = None
    order.overdue_at = None


async def act(
    session: AsyncSession,
    principal: Principal,
    order_id: int,
    action: str,
    *,
    note: str | None,
    substantiated: bool | None = None,
    satisfied: bool | None = None,
    department_code: str | None = None,
    evidence: dict[str, Any] | None = None,
    now: datetime,
    future_tolerance: timedelta,
) -> tuple[WorkOrder, Complaint | None]:
    """Apply one action: check who and when, move the state, record it, notify."""
    order, complaint = await get_order(session, principal, order_id, for_update=True)
    return await take(
        session,
        Actor.of(principal),
        order,
        complaint,
        action,
        note=note,
        substantiated=substantiated,
        satisfied=satisfied,
        department_code=department_code,
        evidence=evidence,
        now=now,
        future_tolerance=future_tolerance,
    )


async def take(
    session: AsyncSession,
    actor: Actor,
    order: WorkOrder,
    complaint: Complaint | None,
    action: str,
    *,
    note: str | None,
    substantiated: bool | None = None,
    satisfied: bool | None = None,
    department_code: str | None = None,
    evidence: dict[str, Any] | None = None,
    now: datetime,
    future_tolerance: timedelta,
) -> tuple[WorkOrder, Complaint | None]:
    """One action on a locked order by `actor` (states.ROLE_ACTIONS decides whether it may)."""
    refused = states.refusal(actor.role, action, order.source)
    if refused:
        raise Forbidden(refused)
    if evidence is not None and action not in states.NEEDS_EVIDENCE:
        message = f"{action} takes no evidence (only {', '.join(sorted(states.NEEDS_EVIDENCE))})"
        raise ValidationProblem(message, errors=[field_error("evidence", message, "extra")])
    facts = order_facts(order)
    try:
        step = states.apply(
            facts,
            action,
            note=note,
            substantiated=substantiated,
            satisfied=satisfied,
            evidence=evidence,
        )
        kept_evidence = evidence_record(evidence, order, now=now, future_tolerance=future_tolerance)
    except states.ActionNotAllowed:
        allowed = states.allowed_for(facts, actor.role)
        raise ActionConflict(
            f"{action} is not allowed in state {order.state}; allowed: "
            f"{', '.join(allowed) or 'none'}",
            state=order.state,
            allowed_actions=allowed,
            zh_detail=labels.not_allowed_zh(action, order.state, allowed),
        ) from None
    except states.MissingInput as exc:
        raise ValidationProblem(
            exc.message,
            errors=[field_error(exc.field, exc.message, "missing")],
            zh_detail=labels.missing_zh(action, exc.field),
        ) from None

    cal = await load_calendar(session)
    soon_limit = cal.due_soon_limit(now)
    # Lateness is recorded before the action that comes too late.
    await flag_warnings(session, order, now=now, soon_limit=soon_limit)

    if "extend" in step.effects and order.resolve_due_at is not None and now > order.resolve_due_at:
        raise ActionConflict(
            "The rectify deadline has passed: an extension must be asked for before it",
            zh_detail="整改时限已过：延期须在时限届满前申请",
            state=order.state,
            allowed_actions=[a for a in states.allowed_for(facts, actor.role) if a != "extend"],
        )
    data: dict[str, Any] = {}
    if "transfer" in step.effects:
        if not department_code:
            raise ValidationProblem(
                "transfer needs the department to transfer to",
                errors=[field_error("department_code", "Field required", "missing")],
            )
        if department_code == order.department_code:
            raise ValidationProblem(
                "The order is already with this department",
                errors=[field_error("department_code", "same department", "same")],
            )
        await active_department(session, department_code, "department_code")
        data = {"from": order.department_code, "to": department_code}
        order.department_code = department_code

    state_before = move(
        order, step, action, now, data, substantiated=substantiated, satisfied=satisfied
    )
    if "reopen" in step.effects:
        # Still unsatisfied: a new round, with fresh deadlines counted from the callback; the
        # round that ends is kept with its deadlines and lateness.
        data["round_ended"] = close_round(order, now=now, ended_by="callback_unsatisfied")
        new_round(order, now)
        set_deadlines(order, cal)
    if step.outcome and "close" in step.effects:
        order.outcome = step.outcome
    if "close" in step.effects:
        order.closed_at = now
    if "withdrawal_requested" in step.effects:
        order.withdrawal_from = state_before
        order.withdrawal_requests += 1
        data["evidence"] = kept_evidence
    if "withdrawal_refused" in step.effects:
        order.withdrawal_from = None
        order.withdrawal_refusals += 1
    if action == "withdraw":
        data["evidence"] = kept_evidence
    if action == "confirm_withdrawal":
        request = await last_event(session, order.id, "request_withdrawal")
        data["evidence"] = {**request.data.get("evidence", {}), **requester(request)}
    if action in ("confirm_withdrawal", "withdraw", "refuse_withdrawal"):
        order.withdrawal_from = None
    if "invalidate_rating" in step.effects and order.rating_id is not None:
        appeal = await last_event(session, order.id, "appeal")
        evidence = {"kind": "appeal", "appeal_note": appeal.note, **requester(appeal)}
        data["evidence"] = evidence
        await change_rating_status(
            session, order, actor, action, "invalidated", now=now, reason=note, evidence=evidence
        )
    if "withdraw_rating" in step.effects and order.rating_id is not None:
        await change_rating_status(
            session,
            order,
            actor,
            action,
            "withdrawn",
            now=now,
            reason=note or data["evidence"].get("note"),
            evidence=data["evidence"],
        )
    refresh_due(order)
    if "reopen" in step.effects or "extend" in step.effects:
        data["deadlines"] = order.deadlines
    order.updated_at = now
    await append(
        session,
        order,
        actor,
        action,
        now=now,
        state_before=state_before,
        note=note,
        data=data,
    )
    if "close" in step.effects:
        await notify.enqueue(session, "ticket.closed", [event_data(order)], now=now)
        if complaint is not None:
            await notify.enqueue(
                session,
                "complaint.closed",
                [
                    {
                        "order_no": complaint.order_no,
                        "ticket_id": order.id,
                        "outcome": order.outcome,
                        "closed_at": now,
                        "note": note,
                    }
                ],
                now=now,
            )
    return order, complaint
