"""The rating domain's interface for the other domains: read, change status, show, erase."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from app.ratings.access import sees_flags
from app.ratings.frames import (
    active_by_case,
    applicant_ratings,
    draw_real_name,
    real_name_counts,
)
from app.ratings.ingest import _assessed, _stored, ingest
from app.ratings.repository import erase_rater_data, flagged_counts, get_rating, when_rated
from app.ratings.status import set_status
from app.ratings.views import rating_view, view

__all__ = [
    "active_by_case",
    "applicant_ratings",
    "assessed",
    "draw_real_name",
    "ingest",
    "real_name_counts",
    "stored_event",
    "erase_rater_data",
    "flagged_counts",
    "get_rating",
    "ingest",
    "rating_view",
    "sees_flags",
    "set_status",
    "view",
    "when_rated",
]


async def assessed(session: AsyncSession, client_id: uuid.UUID, case_no: str) -> set[int]:
    """The assess_numbers (1 first, 2 follow-up) a client has stored for a case."""
    return (await _assessed(session, client_id, {case_no})).get(case_no, set())


async def stored_event(session: AsyncSession, client_id: uuid.UUID, event_id: str) -> dict | None:
    """A client's stored event as the API shows it (masked), or None."""
    row = (await _stored(session, client_id, {event_id})).get(event_id)
    return None if row is None else rating_view(row._mapping)
