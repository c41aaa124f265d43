"""Work orders (整改工单). Filled in by the rectification pipeline."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession


async def open_for_ratings(session: AsyncSession, records: list[dict[str, Any]]) -> None:
    """Open a work order for every new 差评, in the rating's own transaction."""
    return None
