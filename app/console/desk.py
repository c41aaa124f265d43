"""The department desk: the queue of work orders nearest deadline first, one order with its
timeline, and forms for exactly the actions the API allows this key now (the same service
functions and role rules as /v1/tickets)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Path, Request
from pydantic import ValidationError

from app import errors_zh
from app.console import alerts as alert_panel
from app.console.pages import (
    ConsoleRoute,
    ConsoleUser,
    User,
    check_csrf,
    problem_text,
    read_form,
    render,
    see_other,
)
from app.db import Session
from app.errors import ProblemError
from app.workorders import actions, reading, states, views
from app.workorders.access import require_order_reader, visible_filter
from app.workorders.repository import OrderFilter
from app.workorders.schemas import ActionIn

router = APIRouter(prefix="/console", include_in_schema=False, route_class=ConsoleRoute)

PAGE_SIZE = 50
# Which form fields each action takes on the desk (the API's ActionIn, in a person's terms).
ACTION_FIELDS = {
    "contact": ("note",),
    "verify": ("substantiated", "note"),
    "extend": ("note",),
    "rectify": ("note",),
    "callback": ("satisfied", "note"),
    "close": ("note",),
    "appeal": ("note",),
    "uphold": ("note",),
    "reject": ("note",),
    "confirm_withdrawal": ("note",),
    "refuse_withdrawal": ("note",),
    "request_withdrawal": ("evidence", "note"),
    "withdraw": ("evidence", "note"),
    "transfer": ("department_code", "note"),
}
EVIDENCE_AT = {"callback": "called_at", "rater_request": "requested_at"}
_YES_NO = {"yes": True, "no": False}
# The evidence's own refusals (app.workorders.evidence), in a person's words.
_MORE_ZH = {"future": "不能晚于现在", "early": "不能早于工单生成之时"}


def _opt(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


def _evidence(form: dict[str, str]) -> dict[str, Any] | None:
    """The rater's confirmation from the form's evidence fields (none filled: None); the time
    a person enters (datetime-local) is Beijing time."""
    kind, at = _opt(form.get("evidence_kind")), _opt(form.get("evidence_at"))
    note, reference = _opt(form.get("evidence_note")), _opt(form.get("evidence_reference"))
    if not any((kind, at, note, reference)):
        return None
    evidence: dict[str, Any] = {"kind": kind, "note": note, "reference": reference}
    if at is not None:
        stamp = at if len(at) > 16 else at + ":00"
        evidence[EVIDENCE_AT.get(kind or "", "called_at")] = stamp + "+08:00"
    return evidence


@router.get("/desk")
async def desk(request: Request, session: Session, user: User):
    """The queue: the key's orders (a department its own; an admin any, or one department)."""
    require_order_reader(user.principal)
    q = request.query_params
    now = request.app.state.clock()
    state = _opt(q.get("state"))
    source = _opt(q.get("source"))
    overdue = {"yes": True, "no": False}.get(q.get("overdue", ""))
    filters = visible_filter(
        user.principal,
        OrderFilter(
            department_code=_opt(q.get("department")) if user.role == "admin" else None,
            state=[state] if state in states.STATES else None,
            source=source if source in states.SOURCES else None,
            overdue=overdue,
            window_no=_opt(q.get("window")),
            staff_id=_opt(q.get("staff")),
        ),
    )
    if state is None and q.get("closed") != "yes":
        filters.state = list(states.NOT_CLOSED)
    items, next_cursor = await reading.list_orders(
        session,
        filters,
        sort="deadline",
        limit=PAGE_SIZE,
        cursor=_opt(q.get("cursor")),
        now=now,
        role=user.role,
    )
    counts = await reading.counts(
        session,
        visible_filter(user.principal, OrderFilter(state=list(states.NOT_CLOSED))),
        now=now,
    )
    context = {
        "alerts": None
        if request.headers.get("hx-request")
        else await alert_panel.panel(
            session,
            user.principal,
            department_code=filters.department_code if user.role == "admin" else None,
        ),
        "items": items,
        "next_cursor": next_cursor,
        "counts": counts,
        "q": dict(q),
        "states": states.STATES,
        "sources": states.SOURCES,
        "now": now,
    }
    template = (
        "console/desk_rows.html" if request.headers.get("hx-request") else "console/desk.html"
    )
    return render(request, template, context, user=user)


async def _order_page(
    request: Request,
    session,
    user: ConsoleUser,
    order_id: int,
    *,
    error: dict[str, Any] | None = None,
    status_code: int = 200,
):
    now = request.app.state.clock()
    order, complaint = await reading.get_order(session, user.principal, order_id)
    detail = await views.order_detail(session, user.principal, order, complaint, now=now)
    forms = [a for a in detail["allowed_actions"] if a in ACTION_FIELDS]
    context = {
        "order": detail,
        "forms": forms,
        "fields": ACTION_FIELDS,
        "error": error,
        "done": request.query_params.get("done"),
    }
    return render(request, "console/order.html", context, user=user, status_code=status_code)


@router.get("/orders/{order_id}")
async def order_page(
    request: Request, session: Session, user: User, order_id: int = Path(ge=1, le=2**63 - 1)
):
    """One order: the rating or complaint (masked), deadlines, timeline, the allowed forms."""
    require_order_reader(user.principal)
    return await _order_page(request, session, user, order_id)


@router.post("/orders/{order_id}/actions")
async def take_action(
    request: Request, session: Session, user: User, order_id: int = Path(ge=1, le=2**63 - 1)
):
    """One action through a form; refused: the order page again, the reason in Chinese beside
    the form (and nothing changed)."""
    form = await read_form(request)
    check_csrf(request, user, form)
    action = form.get("action", "")
    error: dict[str, Any] = {"action": action, "fields": {}}
    try:
        body = ActionIn.model_validate(
            {
                "action": action,
                "note": _opt(form.get("note")),
                "substantiated": _YES_NO.get(form.get("substantiated", "")),
                "satisfied": _YES_NO.get(form.get("satisfied", "")),
                "department_code": _opt(form.get("department_code")),
                "evidence": _evidence(form),
            }
        )
    except ValidationError as exc:
        for entry in exc.errors():
            field = ".".join(str(p) for p in entry["loc"]) or "action"
            error["fields"][field] = errors_zh.field_message(
                entry["type"], entry.get("ctx")
            ) or str(entry["msg"])
        error["detail"] = "填写的内容有误"
        return await _order_page(request, session, user, order_id, error=error, status_code=422)
    try:
        await actions.act(
            session,
            user.principal,
            order_id,
            body.action,
            note=body.note,
            substantiated=body.substantiated,
            satisfied=body.satisfied,
            department_code=body.department_code,
            evidence=body.evidence.model_dump() if body.evidence else None,
            now=request.app.state.clock(),
            future_tolerance=request.app.state.settings.future_tolerance,
        )
    except ProblemError as exc:
        # Whatever the refused action flushed is undone, as the API's request would be.
        await session.rollback()
        if exc.status == 404:
            raise
        error["title"], error["detail"] = problem_text(exc)
        for entry in exc.errors or []:
            code = entry.get("code", "")
            error["fields"][entry["field"]] = (
                errors_zh.field_message(code) or _MORE_ZH.get(code) or entry.get("message")
            )
        return await _order_page(
            request, session, user, order_id, error=error, status_code=exc.status
        )
    return see_other(f"/console/orders/{order_id}?done={body.action}")
