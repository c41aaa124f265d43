"""Who may see and do what with work orders: the typed guards and the filter of what a key sees.

Which role may take which action is states.ROLE_ACTIONS (app/workorders/states.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from app.auth.dependencies import CurrentPrincipal
from app.auth.service import Principal
from app.errors import Forbidden
from app.workorders import states
from app.workorders.repository import OrderFilter

# Who may see work orders at all (reader sees counts only).
ORDER_ROLES = ("admin", "department", "hotline")
COUNT_ROLES = (*ORDER_ROLES, "reader")
COMPLAINT_ROLES = ("hotline", "admin")


def require_order_reader(principal: Principal) -> None:
    if principal.role not in ORDER_ROLES:
        raise Forbidden(f"Role {principal.role} does not see work orders")


def require_order_counter(principal: Principal) -> None:
    if principal.role not in COUNT_ROLES:
        raise Forbidden(f"Role {principal.role} does not see work orders")


def require_complaint_sender(principal: Principal) -> None:
    if principal.role not in COMPLAINT_ROLES:
        raise Forbidden("Only the 12345 hotline posts complaints")


def require_rater_portal(principal: Principal) -> None:
    """A rater's own withdrawal comes only through a portal key (the route's rule)."""
    if principal.role != "portal":
        raise Forbidden(
            "A rater's own withdrawal comes through the portal key that posted the rating; "
            + (
                states.refusal(principal.role, "withdraw", "rating")
                or "a supervisor withdraws with the rater's confirmation as evidence through "
                "POST /v1/tickets/{id}/actions"
            )
        )


async def _order_reader(principal: CurrentPrincipal) -> Principal:
    require_order_reader(principal)
    return principal


async def _order_counter(principal: CurrentPrincipal) -> Principal:
    require_order_counter(principal)
    return principal


async def _complaint_sender(principal: CurrentPrincipal) -> Principal:
    require_complaint_sender(principal)
    return principal


OrderReader = Annotated[Principal, Depends(_order_reader)]
OrderCounter = Annotated[Principal, Depends(_order_counter)]
ComplaintSender = Annotated[Principal, Depends(_complaint_sender)]


def visible_filter(principal: Principal, filters: OrderFilter) -> OrderFilter:
    """Narrow the filter to what the key may see (asking for another department is 403)."""
    require_order_reader(principal)
    if principal.role == "department":
        if filters.department_code not in (None, principal.department_code):
            raise Forbidden("A department key sees its own department's orders only")
        filters.department_code = principal.department_code
    if principal.role == "hotline":
        filters.hotline_client_id = principal.client_id
        filters.source = filters.source or "complaint"
    return filters


def counted_filter(principal: Principal, filters: OrderFilter) -> OrderFilter:
    """What the key counts: a reader every order, the others what they may see."""
    if principal.role == "reader":
        return filters
    return visible_filter(principal, filters)
