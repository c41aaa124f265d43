"""Webhook subscriptions and the outbox: rows written in the transaction of the change."""

from __future__ import annotations

import json
import secrets
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncSession

from app import privacy
from app.errors import NotFound
from app.notify.models import SECRET_CONTEXT, Outbox, WebhookSubscription
from app.timefmt import local_iso

EVENT_TYPES = (
    "ticket.opened",
    "ticket.due_soon",
    "ticket.overdue",
    "ticket.closed",
    "complaint.closed",
    "alert.raised",
    "alert.cleared",
)

_ENQUEUE = text(
    """
    INSERT INTO outbox (subscription_id, event_id, event_type, body, created_at, next_attempt_at)
    SELECT s.id, e.event_id, CAST(:event_type AS text), e.body, :now, :now
      FROM webhook_subscription s
     CROSS JOIN unnest(CAST(:event_ids AS uuid[]), CAST(:bodies AS text[])) AS e(event_id, body)
     WHERE s.active AND CAST(:event_type AS text) = ANY(s.event_types)
    """
)


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return local_iso(value)  # documents other systems read: Beijing time, as the API
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


async def enqueue(
    session: AsyncSession, event_type: str, items: list[dict[str, Any]], *, now: datetime
) -> None:
    """Queue one event per item for every active subscription to `event_type` (same transaction)."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {event_type}")
    if not items:
        return
    event_ids, bodies = [], []
    for data in items:
        event_id = uuid.uuid4()
        event_ids.append(event_id)
        envelope = {"id": event_id, "type": event_type, "occurred_at": now, "data": data}
        bodies.append(
            json.dumps(envelope, default=_default, ensure_ascii=False, separators=(",", ":"))
        )
    await session.execute(
        _ENQUEUE, {"event_type": event_type, "now": now, "event_ids": event_ids, "bodies": bodies}
    )


# --- subscriptions ------------------------------------------------------------------------------


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def seal_secret(secret: str) -> str:
    """The secret as stored: an AES-GCM envelope under the current data key."""
    return privacy.keyring().encrypt(secret, SECRET_CONTEXT)


def open_secret(stored: str) -> str:
    """The secret in clear. A value stored in clear before encryption (migration 0008 seals
    them; a row written by an older process since) is used as it is."""
    if not privacy.is_envelope(stored):
        return stored
    return privacy.keyring().decrypt(stored, SECRET_CONTEXT)


async def create_subscription(
    session: AsyncSession, *, name: str, url: str, event_types: list[str], secret: str
) -> WebhookSubscription:
    subscription = WebhookSubscription(
        name=name, url=url, event_types=list(event_types), secret=seal_secret(secret)
    )
    session.add(subscription)
    await session.flush()
    await session.refresh(subscription)
    return subscription


async def get_subscription(
    session: AsyncSession, subscription_id: uuid.UUID
) -> WebhookSubscription:
    subscription = await session.get(WebhookSubscription, subscription_id)
    if subscription is None:
        raise NotFound(f"No webhook subscription {subscription_id}")
    return subscription


async def update_subscription(
    session: AsyncSession, subscription_id: uuid.UUID, changes: dict[str, Any]
) -> WebhookSubscription:
    subscription = await get_subscription(session, subscription_id)
    for name, value in changes.items():
        if value is None:
            raise ValueError(f"{name}: null is not a value (the schema refuses it)")
        setattr(subscription, name, seal_secret(value) if name == "secret" else value)
    subscription.updated_at = func.now()
    await session.flush()
    await session.refresh(subscription)
    return subscription


async def list_subscriptions(session: AsyncSession) -> list[WebhookSubscription]:
    return list(
        (
            await session.execute(
                select(WebhookSubscription).order_by(WebhookSubscription.created_at)
            )
        ).scalars()
    )


async def delivery_status(
    session: AsyncSession, subscription_ids: list[uuid.UUID]
) -> dict[uuid.UUID, dict[str, Any]]:
    """Counts by status, the last success and the last error, per subscription."""
    if not subscription_ids:
        return {}
    rows = await session.execute(
        select(
            Outbox.subscription_id,
            func.count().filter(Outbox.delivered_at.is_not(None)).label("delivered"),
            func.count()
            .filter(Outbox.delivered_at.is_(None), Outbox.failed_at.is_(None))
            .label("pending"),
            func.count().filter(Outbox.failed_at.is_not(None)).label("failed"),
            func.max(Outbox.delivered_at).label("last_delivered_at"),
            func.max(Outbox.last_attempt_at).label("last_attempt_at"),
        )
        .where(Outbox.subscription_id.in_(subscription_ids))
        .group_by(Outbox.subscription_id)
    )
    out = {
        sid: {
            "delivered": 0,
            "pending": 0,
            "failed": 0,
            "last_delivered_at": None,
            "last_attempt_at": None,
            "last_error": None,
        }
        for sid in subscription_ids
    }
    for row in rows:
        out[row.subscription_id].update(
            delivered=row.delivered,
            pending=row.pending,
            failed=row.failed,
            last_delivered_at=row.last_delivered_at,
            last_attempt_at=row.last_attempt_at,
        )
    errors = await session.execute(
        select(Outbox.subscription_id, Outbox.last_error)
        .where(Outbox.subscription_id.in_(subscription_ids), Outbox.last_error.is_not(None))
        .order_by(Outbox.subscription_id, Outbox.last_attempt_at.desc())
        .ext(distinct_on(Outbox.subscription_id))
    )
    for sid, error in errors:
        out[sid]["last_error"] = error
    return out


async def list_deliveries(
    session: AsyncSession, subscription_id: uuid.UUID, *, limit: int, status: str | None
) -> list[Outbox]:
    query = select(Outbox).where(Outbox.subscription_id == subscription_id)
    if status == "delivered":
        query = query.where(Outbox.delivered_at.is_not(None))
    elif status == "pending":
        query = query.where(Outbox.delivered_at.is_(None), Outbox.failed_at.is_(None))
    elif status == "failed":
        query = query.where(Outbox.failed_at.is_not(None))
    return list((await session.execute(query.order_by(Outbox.id.desc()).limit(limit))).scalars())


async def retry_failed(session: AsyncSession, subscription_id: uuid.UUID, *, now: datetime) -> int:
    """Put the deliveries given up on back in the queue."""
    await get_subscription(session, subscription_id)
    result = await session.execute(
        text(
            "UPDATE outbox SET failed_at = NULL, attempts = 0, next_attempt_at = :now "
            "WHERE subscription_id = :sid AND failed_at IS NOT NULL AND delivered_at IS NULL"
        ),
        {"sid": subscription_id, "now": now},
    )
    return result.rowcount
