"""The work-order, 12345 complaint and calendar routes: parse, authorise, call, return."""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, status
from fastapi.responses import JSONResponse

from app.audit import service as audit
from app.auth.dependencies import AdminPrincipal, CurrentPrincipal
from app.clock import Now
from app.config import AppSettings
from app.db import Session
from app.errors import ValidationProblem, field_error
from app.workorders import actions, calendar_service, complaints, fate, opening, reading, views
from app.workorders.access import (
    ComplaintSender,
    OrderCounter,
    OrderReader,
    counted_filter,
    visible_filter,
)
from app.workorders.repository import OrderFilter
from app.workorders.schemas import (
    ActionIn,
    CalendarIn,
    CalendarOut,
    CitizenPersonalData,
    ComplaintIn,
    ComplaintTicket,
    InspectionIn,
    RatingWithdrawalIn,
    RatingWithdrawalOut,
    Source,
    State,
    TicketCounts,
    TicketDetail,
    TicketPage,
)
from app.workorders.timing import current_policy

_PROBLEM = {"content": {"application/problem+json": {}}}
OrderId = Annotated[int, Path(ge=1, le=2**63 - 1)]


def _aware(name: str, value: datetime | None) -> None:
    if value is not None and value.tzinfo is None:
        raise ValidationProblem(
            f"{name} needs a UTC offset",
            errors=[field_error(f"query.{name}", "ISO 8601 with offset, e.g. +08:00")],
        )


ticket_routes = APIRouter(prefix="/v1/tickets", tags=["work orders"])


@ticket_routes.get("", response_model=TicketPage, responses={403: _PROBLEM})
async def list_tickets(
    session: Session,
    principal: OrderReader,
    now: Now,
    department_code: str | None = Query(default=None, max_length=64),
    state: Annotated[list[State] | None, Query(max_length=10)] = None,
    source: Source | None = None,
    overdue: bool | None = None,
    due_soon: bool | None = None,
    due_before: datetime | None = Query(default=None, description="Pending deadline before"),
    opened_from: datetime | None = Query(default=None, description="Inclusive"),
    opened_to: datetime | None = Query(default=None, description="Exclusive"),
    sort: Annotated[str, Query(pattern="^(deadline|newest)$")] = "deadline",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: str | None = Query(default=None, max_length=300),
):
    """The queue of work orders, nearest deadline first. Department keys see their own only."""
    for name, value in (
        ("due_before", due_before),
        ("opened_from", opened_from),
        ("opened_to", opened_to),
    ):
        _aware(name, value)
    filters = visible_filter(
        principal,
        OrderFilter(
            department_code=department_code,
            state=state,
            source=source,
            overdue=overdue,
            due_soon=due_soon,
            due_before=due_before,
            opened_from=opened_from,
            opened_to=opened_to,
        ),
    )
    items, next_cursor = await reading.list_orders(
        session, filters, sort=sort, limit=limit, cursor=cursor, now=now, role=principal.role
    )
    return {"items": items, "next_cursor": next_cursor}


@ticket_routes.get("/counts", response_model=TicketCounts)
async def ticket_counts(
    session: Session,
    principal: OrderCounter,
    now: Now,
    department_code: str | None = Query(default=None, max_length=64),
):
    """How many orders by state, overdue and due soon (readers see counts, not orders)."""
    filters = counted_filter(principal, OrderFilter(department_code=department_code))
    return await reading.counts(session, filters, now=now)


@ticket_routes.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=TicketDetail,
    responses={403: _PROBLEM, 422: _PROBLEM},
)
async def open_inspection(
    body: InspectionIn,
    session: Session,
    principal: AdminPrincipal,
    settings: AppSettings,
    now: Now,
):
    """A supervisor opens an order by hand, from an inspection."""
    if body.found_at is not None and body.found_at > now + settings.future_tolerance:
        raise ValidationProblem(
            "found_at is in the future", errors=[field_error("found_at", "is in the future")]
        )
    order = await opening.open_inspection(
        session,
        principal,
        department_code=body.department_code,
        summary=body.summary,
        found_at=body.found_at or now,
        window_no=body.window_no,
        staff_id=body.staff_id,
        tags=list(body.tags),
        now=now,
        policy=current_policy(settings),
    )
    return await views.order_detail(session, principal, order, None, now=now)


@ticket_routes.get("/{order_id}", response_model=TicketDetail, responses={404: _PROBLEM})
async def get_ticket(order_id: OrderId, session: Session, principal: OrderReader, now: Now):
    """One order with its timeline and the rating or complaint it came from."""
    order, complaint = await reading.get_order(session, principal, order_id)
    return await views.order_detail(session, principal, order, complaint, now=now)


@ticket_routes.post(
    "/{order_id}/actions",
    response_model=TicketDetail,
    responses={
        403: _PROBLEM,
        404: _PROBLEM,
        409: {"description": "Not allowed now; lists allowed_actions", **_PROBLEM},
        422: _PROBLEM,
    },
)
async def act(
    order_id: OrderId,
    body: ActionIn,
    session: Session,
    principal: OrderReader,
    settings: AppSettings,
    now: Now,
):
    """Take one step: contact, verify, extend, rectify, callback, close, appeal, uphold,
    reject, request_withdrawal, confirm_withdrawal, refuse_withdrawal, withdraw or transfer.
    Each is recorded in the timeline. A withdrawal needs the rater's confirmation as
    `evidence`: a department asks (request_withdrawal, with its callback record) and a
    supervisor confirms or refuses; a supervisor, or the hotline for its own complaints,
    withdraws with the evidence directly."""
    order, complaint = await actions.act(
        session,
        principal,
        order_id,
        body.action,
        note=body.note,
        substantiated=body.substantiated,
        satisfied=body.satisfied,
        department_code=body.department_code,
        evidence=body.evidence.model_dump() if body.evidence else None,
        now=now,
        future_tolerance=settings.future_tolerance,
    )
    return await views.order_detail(session, principal, order, complaint, now=now)


# The rater's own withdrawal, under the rating it withdraws: an action on its work order. Not in
# `routers`: create_app includes it between the ratings routes (the contract's order).
rater_routes = APIRouter(prefix="/v1/ratings", tags=["ratings"])


@rater_routes.post(
    "/{rating_id}/withdraw",
    response_model=RatingWithdrawalOut,
    responses={
        403: {"description": "Not the rater's portal (a department asks a supervisor)", **_PROBLEM},
        404: _PROBLEM,
        409: {"description": "Not a 差评, or its fate already decided", **_PROBLEM},
        422: _PROBLEM,
    },
)
async def withdraw_rating(
    rating_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    body: RatingWithdrawalIn,
    session: Session,
    principal: CurrentPrincipal,
    settings: AppSettings,
    now: Now,
):
    """The rater withdraws their 差评 through the portal they rated on (the portal key that
    posted it): its work order closes as withdrawn, the rater's request kept as the evidence."""
    return await fate.withdraw_by_rater(
        session,
        principal,
        rating_id,
        reason=body.reason,
        now=now,
        future_tolerance=settings.future_tolerance,
    )


complaint_routes = APIRouter(prefix="/v1/complaints", tags=["12345 complaints"])


@complaint_routes.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ComplaintTicket,
    responses={
        200: {
            "model": ComplaintTicket,
            "description": "A retry: the stored complaint, with header Idempotent-Replayed: true",
        },
        403: _PROBLEM,
        422: {"description": "Invalid, or its order_no reused with another payload", **_PROBLEM},
    },
)
async def post_complaint(
    body: ComplaintIn,
    session: Session,
    principal: ComplaintSender,
    settings: AppSettings,
    now: Now,
):
    """The 12345 hotline pushes a complaint; it opens a work order for the department."""
    complaint, order, created = await complaints.receive_complaint(
        session, principal, body.model_dump(), now=now, settings=settings
    )
    result = {
        "complaint": complaints.complaint_view(complaint),
        "ticket": await views.order_detail(session, principal, order, complaint, now=now),
    }
    if created:
        return result
    return JSONResponse(
        ComplaintTicket.model_validate(result).model_dump(mode="json"),
        status_code=200,
        headers={"Idempotent-Replayed": "true"},
    )


@complaint_routes.get("/{order_no}", response_model=ComplaintTicket, responses={404: _PROBLEM})
async def get_complaint(
    order_no: Annotated[str, Path(max_length=64)],
    session: Session,
    principal: OrderReader,
    now: Now,
):
    """A complaint's state and timeline (the hotline sees its own complaints)."""
    complaint, order = await complaints.get_complaint(session, principal, order_no)
    return {
        "complaint": complaints.complaint_view(complaint),
        "ticket": await views.order_detail(session, principal, order, complaint, now=now),
    }


@complaint_routes.get(
    "/{order_no}/personal-data",
    response_model=CitizenPersonalData,
    responses={403: _PROBLEM, 404: _PROBLEM},
)
async def get_citizen_personal_data(
    order_no: Annotated[str, Path(max_length=64)], session: Session, principal: AdminPrincipal
):
    """The caller's name and phone in clear (admins only; every read is audited)."""
    complaint, _ = await complaints.get_complaint(session, principal, order_no)
    data = complaints.complaint_personal_data(complaint)
    await audit.record(session, "complaint.personal_data.read", f"complaint:{order_no}")
    return data


calendar_routes = APIRouter(prefix="/v1/calendar", tags=["calendar"])
Year = Annotated[int, Path(ge=2000, le=2100)]


@calendar_routes.get("/{year}", response_model=CalendarOut)
async def get_calendar(year: Year, session: Session, principal: CurrentPrincipal):
    """A year's working-day arrangement: entered, from the package, or none (provisional)."""
    return await calendar_service.get_calendar_year(session, year)


@calendar_routes.put(
    "/{year}", response_model=CalendarOut, responses={403: _PROBLEM, 422: _PROBLEM}
)
async def put_calendar(
    year: Year, body: CalendarIn, session: Session, principal: AdminPrincipal, now: Now
):
    """Enter a year's arrangement (overrides the package); open orders with provisional
    deadlines are recomputed."""
    view, recomputed = await calendar_service.put_calendar_year(
        session,
        principal,
        year,
        holidays=body.holidays,
        workdays=body.workdays,
        note=body.note,
        now=now,
    )
    return {**view, "recomputed_orders": recomputed}


routers = (ticket_routes, complaint_routes, calendar_routes)
