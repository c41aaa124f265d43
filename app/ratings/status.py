"""Status changes of a rating (withdrawn, invalidated, restored), with their hooks."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import NotFound
from app.ratings import hooks
from app.ratings.models import Rating
from app.ratings.views import row_dict


async def set_status(session: AsyncSession, rating_id: int, new_status: str) -> dict[str, Any]:
    """Withdraw or invalidate a rating (or restore it), adjusting what depends on it."""
    rating = (
        await session.execute(select(Rating).where(Rating.id == rating_id).with_for_update())
    ).scalar_one_or_none()
    if rating is None:
        raise NotFound(f"No rating {rating_id}")
    old_status = rating.status
    if old_status == new_status:
        return row_dict(rating)
    rating.status = new_status
    rating.status_changed_at = func.now()
    await session.flush()
    await session.refresh(rating)
    record = row_dict(rating)
    await hooks.status_changed(session, record, old_status, new_status)
    return record
