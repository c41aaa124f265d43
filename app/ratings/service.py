"""The rating domain's interface for the other domains: read, change status, show, erase."""

from __future__ import annotations

from app.ratings.access import sees_flags
from app.ratings.ingest import ingest
from app.ratings.repository import erase_rater_data, flagged_counts, get_rating
from app.ratings.status import set_status
from app.ratings.views import rating_view, view

__all__ = [
    "erase_rater_data",
    "flagged_counts",
    "get_rating",
    "ingest",
    "rating_view",
    "sees_flags",
    "set_status",
    "view",
]
