import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status

from app.auth.dependencies import AdminPrincipal
from app.clock import Now
from app.db import Session
from app.notify import service
from app.notify.models import Outbox, WebhookSubscription
from app.notify.schemas import DeliveryOut, SubscriptionIn, SubscriptionOut, SubscriptionUpdate

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])
_PROBLEM = {"content": {"application/problem+json": {}}}


def _view(sub: WebhookSubscription, deliveries: dict, *, secret: str | None = None) -> dict:
    return {
        "id": sub.id,
        "name": sub.name,
        "url": sub.url,
        "event_types": list(sub.event_types),
        "active": sub.active,
        "secret": secret,
        "created_at": sub.created_at,
        "deliveries": deliveries[sub.id],
    }


def _delivery(row: Outbox) -> dict:
    state = "delivered" if row.delivered_at else "failed" if row.failed_at else "pending"
    return {
        **{c.key: getattr(row, c.key) for c in Outbox.__table__.columns if c.key != "body"},
        "status": state,
    }


@router.post("", status_code=status.HTTP_201_CREATED, response_model=SubscriptionOut)
async def create_subscription(body: SubscriptionIn, session: Session, _: AdminPrincipal):
    """Subscribe a URL to event types. The secret (for the HMAC signature) is shown once."""
    secret = body.secret or service.new_secret()
    sub = await service.create_subscription(
        session, name=body.name, url=str(body.url), event_types=body.event_types, secret=secret
    )
    return _view(sub, await service.delivery_status(session, [sub.id]), secret=secret)


@router.get("", response_model=list[SubscriptionOut])
async def list_subscriptions(session: Session, _: AdminPrincipal):
    """Every subscription with its delivery status."""
    subs = await service.list_subscriptions(session)
    status_ = await service.delivery_status(session, [s.id for s in subs])
    return [_view(s, status_) for s in subs]


@router.get("/{subscription_id}", response_model=SubscriptionOut, responses={404: _PROBLEM})
async def get_subscription(subscription_id: uuid.UUID, session: Session, _: AdminPrincipal):
    sub = await service.get_subscription(session, subscription_id)
    return _view(sub, await service.delivery_status(session, [sub.id]))


@router.patch(
    "/{subscription_id}",
    response_model=SubscriptionOut,
    responses={404: _PROBLEM, 422: {"description": "A field is invalid, or null", **_PROBLEM}},
)
async def update_subscription(
    subscription_id: uuid.UUID, body: SubscriptionUpdate, session: Session, _: AdminPrincipal
):
    """Change the URL, events or secret, or deactivate (deliveries wait while inactive).

    Partial: a field left out keeps its value; null is refused (422 naming the field)."""
    changes = body.model_dump(exclude_unset=True)
    if "url" in changes:
        changes["url"] = str(body.url)
    sub = await service.update_subscription(session, subscription_id, changes)
    return _view(sub, await service.delivery_status(session, [sub.id]))


@router.get(
    "/{subscription_id}/deliveries", response_model=list[DeliveryOut], responses={404: _PROBLEM}
)
async def list_deliveries(
    subscription_id: uuid.UUID,
    session: Session,
    _: AdminPrincipal,
    status_: Annotated[
        str | None, Query(alias="status", pattern="^(pending|delivered|failed)$")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
):
    """The latest deliveries: attempts, last status code and error."""
    await service.get_subscription(session, subscription_id)
    rows = await service.list_deliveries(session, subscription_id, limit=limit, status=status_)
    return [_delivery(r) for r in rows]


@router.post("/{subscription_id}/retry", responses={404: _PROBLEM})
async def retry_failed(
    subscription_id: uuid.UUID, session: Session, _: AdminPrincipal, now: Now
) -> dict:
    """Queue again the deliveries that were given up on."""
    requeued = await service.retry_failed(session, subscription_id, now=now)
    return {"requeued": requeued}
