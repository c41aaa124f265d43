"""Push targets, the push log, re-push (重推) and the daily reconciliation (对账)."""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from app import privacy
from app.errors import NotFound, ValidationProblem, field_error
from app.provincial.models import CREDENTIALS_CONTEXT, PushItem, PushTarget
from app.provincial.push import queue
from app.timefmt import BUSINESS_TZ

EVENTS = ("ratings", "rectifications")


def day_span(first: date, last: date) -> tuple[datetime, datetime]:
    """[00:00 of `first`, 24:00 of `last`) in Beijing time."""
    start = datetime.combine(first, time(), tzinfo=BUSINESS_TZ)
    return start, datetime.combine(last + timedelta(days=1), time(), tzinfo=BUSINESS_TZ)


def known_profile(name: str, profiles: dict) -> None:
    if name not in profiles:
        raise ValidationProblem(
            f"unknown profile {name}",
            errors=[field_error("profile", f"one of {', '.join(sorted(profiles))}", "unknown")],
        )


async def create_target(
    session: AsyncSession, values: dict[str, Any], *, now: datetime
) -> PushTarget:
    """A new target: it receives what is new from now on (a re-push sends older periods)."""
    credentials = values.pop("credentials", None)
    target = PushTarget(**values, rectification_since=now)
    if credentials:
        target.credentials = privacy.keyring().encrypt(json.dumps(credentials), CREDENTIALS_CONTEXT)
    target.rating_cursor = (
        await session.execute(text("SELECT coalesce(max(id), 0) FROM rating"))
    ).scalar_one()
    session.add(target)
    await session.flush()
    await session.refresh(target)
    return target


async def get_target(session: AsyncSession, target_id: uuid.UUID) -> PushTarget:
    target = await session.get(PushTarget, target_id)
    if target is None:
        raise NotFound(f"No push target {target_id}")
    return target


async def list_targets(session: AsyncSession) -> list[PushTarget]:
    return list(
        (await session.execute(select(PushTarget).order_by(PushTarget.created_at))).scalars()
    )


async def update_target(
    session: AsyncSession, target_id: uuid.UUID, changes: dict[str, Any]
) -> PushTarget:
    target = await get_target(session, target_id)
    for name, value in changes.items():
        if name == "credentials":
            value = privacy.keyring().encrypt(json.dumps(value), CREDENTIALS_CONTEXT)
        setattr(target, name, value)
    await session.flush()
    return target


async def list_items(
    session: AsyncSession, target_id: uuid.UUID, *, status: str | None, limit: int
) -> list[PushItem]:
    await get_target(session, target_id)
    query = select(PushItem).where(PushItem.target_id == target_id)
    if status == "acknowledged":
        query = query.where(PushItem.acknowledged_at.is_not(None))
    elif status == "failed":
        query = query.where(PushItem.failed_at.is_not(None))
    elif status == "pending":
        query = query.where(PushItem.acknowledged_at.is_(None), PushItem.failed_at.is_(None))
    return list((await session.execute(query.order_by(PushItem.id.desc()).limit(limit))).scalars())


def item_status(item: PushItem) -> str:
    if item.acknowledged_at is not None:
        return "acknowledged"
    return "failed" if item.failed_at is not None else "pending"


_UNQUEUED = text(
    """
    SELECT r.id, r.rated_at FROM rating r
     WHERE r.rated_at >= :start AND r.rated_at < :end AND NOT r.is_default
       AND NOT EXISTS (SELECT 1 FROM push_item p WHERE p.target_id = :target_id
                         AND p.kind = 'rating' AND p.ref_id = r.id)
    """
)


async def repush(
    session: AsyncSession,
    target_id: uuid.UUID,
    *,
    item_id: int | None,
    first: date | None,
    last: date | None,
    now: datetime,
) -> dict[str, int]:
    """Send again one item, or every item of a period (by rated_at or closed_at, Beijing days);
    a period's ratings never queued (a gap) are queued too."""
    target = await get_target(session, target_id)
    again = update(PushItem).where(PushItem.target_id == target_id)
    if item_id is not None:
        again = again.where(PushItem.id == item_id)
    else:
        start, end = day_span(first, last)
        again = again.where(PushItem.ref_at >= start, PushItem.ref_at < end)
    result = await session.execute(
        again.values(
            acknowledged_at=None,
            failed_at=None,
            attempts=0,
            next_attempt_at=now,
            repushes=PushItem.repushes + 1,
        )
    )
    requeued, queued = result.rowcount, 0
    if item_id is not None and not requeued:
        raise NotFound(f"No push item {item_id} for this target")
    if item_id is None and "ratings" in target.events:
        gaps = (
            await session.execute(_UNQUEUED, {"start": start, "end": end, "target_id": target_id})
        ).all()
        await queue(session, target_id, "rating", [tuple(r) for r in gaps], now)
        queued = len(gaps)
    return {"requeued": requeued, "queued": queued}


_RECONCILE = text(
    """
    SELECT count(*) FILTER (WHERE NOT r.is_default) AS ratings,
           count(*) FILTER (WHERE r.is_default) AS default_ratings,
           count(p.id) AS queued,
           count(p.sent_at) AS pushed,
           count(p.acknowledged_at) AS acknowledged,
           count(p.failed_at) AS failed
      FROM rating r
      LEFT JOIN push_item p ON p.target_id = :target_id AND p.kind = 'rating' AND p.ref_id = r.id
     WHERE r.rated_at >= :start AND r.rated_at < :end
    """
)


async def reconciliation(session: AsyncSession, target_id: uuid.UUID, day: date) -> dict:
    """One day's ratings (Beijing time) against what was pushed to the target and taken."""
    await get_target(session, target_id)
    start, end = day_span(day, day)
    row = (
        await session.execute(_RECONCILE, {"target_id": target_id, "start": start, "end": end})
    ).one()
    figures = dict(row._mapping)
    figures["missing"] = figures["ratings"] - figures["acknowledged"]
    return {"day": day, **figures}


async def pending_count(session: AsyncSession) -> int:
    return (
        await session.execute(
            select(func.count()).where(
                PushItem.acknowledged_at.is_(None), PushItem.failed_at.is_(None)
            )
        )
    ).scalar_one()
