"""The rater's own withdrawal of a 差评, relayed by the portal it was rated on."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.service import Principal
from app.errors import Conflict, NotFound
from app.workorders import repository
from app.workorders.access import require_rater_portal
from app.workorders.actions import take
from app.workorders.evidence import evidence_record
from app.workorders.history import Actor


class RatingNotWithdrawable(Conflict):
    type, title = "rating-not-withdrawable", "This rating cannot be withdrawn now"


async def withdraw_by_rater(
    session: AsyncSession,
    principal: Principal,
    rating_id: int,
    *,
    reason: str,
    now: datetime,
    future_tolerance: timedelta,
) -> dict[str, Any]:
    """The rater's own withdrawal of a 差评, relayed by the portal it was rated on (the same
    client): the order closes as withdrawn, the request kept as the evidence."""
    from app.ratings import service as ratings

    require_rater_portal(principal)
    rating = await ratings.get_rating(session, rating_id)
    if rating.client_id != principal.client_id:
        raise NotFound(f"No rating {rating_id}")  # another client's: not shown to exist
    order = await repository.order_of_rating_for_update(session, rating_id)
    if order is None:
        raise RatingNotWithdrawable(
            f"Rating {rating_id} is not a 差评: only a 差评 (level 1–2) is withdrawn",
            rating_status=rating.status,
        )
    if rating.status != "valid" or order.state == "closed":
        raise RatingNotWithdrawable(
            f"Rating {rating_id} is {rating.status} and its work order {order.state}: "
            "its fate is decided",
            rating_status=rating.status,
            ticket_state=order.state,
        )
    evidence = {"kind": "rater_request", "requested_at": now, "note": reason, "channel": "portal"}
    await take(
        session,
        Actor.of(principal),
        order,
        None,
        "withdraw",
        note=reason,
        evidence=evidence,
        now=now,
        future_tolerance=future_tolerance,
    )
    return {
        "rating_id": rating_id,
        "status": "withdrawn",
        "ticket_id": order.id,
        "withdrawn_at": now,
        "evidence": evidence_record(evidence, order, now=now, future_tolerance=future_tolerance),
    }
