"""Delivers the outbox: signed POSTs with httpx, retried with backoff, safe with many processes.

A row is locked (FOR UPDATE SKIP LOCKED) while it is being sent and updated in the same
transaction: a process that dies mid-send leaves the row undelivered for the next one. Delivery
is at least once; receivers deduplicate on the X-Haochaping-Delivery header.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.notify.models import Outbox, WebhookSubscription
from app.notify.service import open_secret
from app.notify.signing import DELIVERY_HEADER, EVENT_HEADER, signed_headers

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 25
    base_seconds: float = 10.0
    cap_seconds: float = 3600.0

    def delay(self, attempts: int) -> timedelta:
        """Wait after the `attempts`-th failure: 10 s, 20 s, 40 s ... at most an hour."""
        return timedelta(seconds=min(self.base_seconds * 2 ** (attempts - 1), self.cap_seconds))


async def deliver_due(
    sessionmaker: async_sessionmaker[AsyncSession],
    http: httpx.AsyncClient,
    *,
    now: datetime,
    retry: RetryPolicy = RetryPolicy(),
    batch_size: int = 20,
    max_batches: int = 50,
) -> int:
    """Send what is due at `now`; returns the number of attempts made."""
    attempts = 0
    for _ in range(max_batches):
        async with sessionmaker() as session, session.begin():
            rows = (
                await session.execute(
                    select(Outbox, WebhookSubscription)
                    .join(WebhookSubscription, WebhookSubscription.id == Outbox.subscription_id)
                    .where(
                        Outbox.delivered_at.is_(None),
                        Outbox.failed_at.is_(None),
                        Outbox.next_attempt_at <= now,
                        WebhookSubscription.active,
                    )
                    .order_by(Outbox.next_attempt_at, Outbox.id)
                    .limit(batch_size)
                    .with_for_update(of=Outbox, skip_locked=True)
                )
            ).all()
            if not rows:
                break
            for row, subscription in rows:
                await _attempt(http, row, subscription, now=now, retry=retry)
                attempts += 1
        # No early stop on a short batch: SKIP LOCKED, and rows that another dispatcher sent
        # while this query waited, make a batch short while due rows remain.
    return attempts


async def _attempt(
    http: httpx.AsyncClient,
    row: Outbox,
    subscription: WebhookSubscription,
    *,
    now: datetime,
    retry: RetryPolicy,
) -> None:
    body = row.body.encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "haochaping-webhooks/1",
        EVENT_HEADER: row.event_type,
        DELIVERY_HEADER: str(row.id),
        **signed_headers(open_secret(subscription.secret), int(now.timestamp()), body),
    }
    row.attempts += 1
    row.last_attempt_at = now
    error: str | None = None
    try:
        response = await http.post(subscription.url, content=body, headers=headers)
        row.last_status_code = response.status_code
        if 200 <= response.status_code < 300:
            row.delivered_at = now
            row.last_error = None
            return
        error = f"HTTP {response.status_code}"
    except httpx.HTTPError as exc:
        row.last_status_code = None
        error = f"{type(exc).__name__}: {exc}"[:500]
    row.last_error = error
    if row.attempts >= retry.max_attempts:
        row.failed_at = now
        log.warning("webhook delivery %s given up after %s attempts", row.id, row.attempts)
    else:
        row.next_attempt_at = now + retry.delay(row.attempts)
