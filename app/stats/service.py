"""Satisfaction figures. Filled in by the statistics work."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession


async def rating_status_changed(
    session: AsyncSession, rating: dict[str, Any], old_status: str, new_status: str
) -> None:
    """Adjust the aggregates when a rating is withdrawn or invalidated (same transaction)."""
    return None
