"""Rating queries: the listing (its filters, visibility among them), one rating, counts, erasure."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app import privacy
from app.errors import NotFound
from app.pagination import decode_cursor, encode_cursor, row_id
from app.privacy.masking import mask_text
from app.ratings.models import Rating
from app.ratings.views import rating_view, row_dict

log = logging.getLogger(__name__)


def in_range(instant: datetime) -> bool:
    """Whether an aware datetime can be converted to UTC (years 1 and 9999 may not)."""
    try:
        instant.astimezone(UTC)
    except OverflowError:
        return False
    return True


def _rating_key(fields: list[str]) -> tuple[datetime, int]:
    stamp, rating_id = fields
    rated_at = datetime.fromisoformat(stamp)
    if rated_at.tzinfo is None or not in_range(rated_at):
        raise ValueError(stamp)
    return rated_at, row_id(rating_id)


@dataclass(slots=True)
class RatingFilter:
    department_code: str | None = None
    channel: str | None = None
    level: int | None = None
    bad: bool | None = None
    rated_from: datetime | None = None
    rated_to: datetime | None = None
    status: str | None = None
    client_id: uuid.UUID | None = None
    flagged: bool | None = None
    # HMACs of one phone number under every data key (an admin's lookup).
    phone_hashes: list[bytes] | None = None


async def list_ratings(
    session: AsyncSession,
    filters: RatingFilter,
    *,
    limit: int,
    cursor: str | None,
    with_flags: bool = False,
) -> tuple[list[dict[str, Any]], str | None]:
    """Newest first by rated_at, keyset-paginated."""
    query = select(Rating)
    if filters.department_code:
        query = query.where(Rating.department_code == filters.department_code)
    if filters.channel:
        query = query.where(Rating.channel == filters.channel)
    if filters.level is not None:
        query = query.where(Rating.level == filters.level)
    if filters.bad is not None:
        query = query.where(Rating.is_bad == filters.bad)
    if filters.rated_from:
        query = query.where(Rating.rated_at >= filters.rated_from)
    if filters.rated_to:
        query = query.where(Rating.rated_at < filters.rated_to)
    if filters.status:
        query = query.where(Rating.status == filters.status)
    if filters.client_id:
        query = query.where(Rating.client_id == filters.client_id)
    if filters.flagged is not None:
        query = query.where(
            Rating.flags.is_not(None) if filters.flagged else Rating.flags.is_(None)
        )
    if filters.phone_hashes is not None:
        query = query.where(Rating.rater_phone_hash.in_(filters.phone_hashes))
    if cursor:
        after_at, after_id = decode_cursor(cursor, _rating_key)
        query = query.where(
            (Rating.rated_at < after_at) | ((Rating.rated_at == after_at) & (Rating.id < after_id))
        )
    query = query.order_by(Rating.rated_at.desc(), Rating.id.desc()).limit(limit + 1)
    rows = list((await session.execute(query)).scalars())
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor(rows[-1].rated_at, rows[-1].id)
    return [rating_view(row_dict(r), with_flags=with_flags) for r in rows], next_cursor


async def get_rating(session: AsyncSession, rating_id: int) -> Rating:
    rating = await session.get(Rating, rating_id)
    if rating is None:
        raise NotFound(f"No rating {rating_id}")
    return rating


_FLAGGED_COUNTS = text(
    """
    SELECT department_code, count(*) AS n
      FROM rating
     WHERE flags IS NOT NULL AND rated_at >= :start_at AND rated_at < :end_at
       AND status = 'valid'
     GROUP BY department_code
    """
)


async def flagged_counts(
    session: AsyncSession, start_at: datetime, end_at: datetime
) -> dict[str, int]:
    """Counted (valid) ratings carrying integrity flags, per department, rated in [start, end).

    For the statistics' `flagged` beside the rates; reads the small partial index of flagged
    ratings, not the rollups."""
    rows = await session.execute(_FLAGGED_COUNTS, {"start_at": start_at, "end_at": end_at})
    return {row.department_code: row.n for row in rows}


# Expired ratings with personal data left: the rater's name or phone, or a comment not yet
# reduced to its masked form (comment_hash is cleared when it is), oldest first; rows other
# transactions hold are left for the next batch.
_EXPIRED = text(
    """
    SELECT id, rater_name, comment FROM rating
     WHERE (rater_name IS NOT NULL OR rater_phone IS NOT NULL OR comment_hash IS NOT NULL)
       AND rated_at < :before
     ORDER BY rated_at
     LIMIT :limit
       FOR UPDATE SKIP LOCKED
    """
)


_ERASE = text(
    """
    UPDATE rating r
       SET rater_name = NULL, rater_phone = NULL, rater_phone_hash = NULL,
           rater_erased_at = CASE WHEN r.rater_name IS NOT NULL OR r.rater_phone IS NOT NULL
                                  THEN CAST(:now AS timestamptz) ELSE r.rater_erased_at END,
           comment = e.comment, comment_hash = NULL
      FROM unnest(CAST(:ids AS bigint[]), CAST(:comments AS text[])) AS e(id, comment)
     WHERE r.id = e.id
    """
)


async def erase_rater_data(
    session: AsyncSession, *, before: datetime, now: datetime, limit: int = 5000
) -> int:
    """Erase the rater's name and phone of up to `limit` ratings made before `before`, and
    reduce their comments to the masked form (phones, 身份证号 and the rater's name masked,
    sealed again): what every response showed of them is what is kept.

    The rating stays (and counts); `rater_erased_at` says that it was real-name."""
    rows = (await session.execute(_EXPIRED, {"before": before, "limit": limit})).all()
    if not rows:
        return 0
    ring = privacy.keyring()
    comments = []
    for row in rows:
        try:
            name = ring.decrypt(row.rater_name, "rating.rater_name")
            comment = ring.open_text(row.comment, "rating.comment")
        except privacy.DataKeyError as exc:
            # Unreadable: nothing of it can be shown or kept; the comment goes with the rest.
            log.error("rating %s: personal data unreadable, erased whole: %s", row.id, exc)
            name, comment = None, None
        comments.append(ring.seal_text(mask_text(comment, (name,)), "rating.comment"))
    await session.execute(_ERASE, {"ids": [r.id for r in rows], "comments": comments, "now": now})
    return len(rows)


_WHEN_SQL = text(
    """
    SELECT extract(isodow FROM rated_at AT TIME ZONE 'Asia/Shanghai')::int AS weekday,
           extract(hour FROM rated_at AT TIME ZONE 'Asia/Shanghai')::int AS hour,
           count(*) AS ratings, count(*) FILTER (WHERE level <= 2) AS bad
      FROM rating
     WHERE rated_at >= :start AND rated_at < :end AND status = 'valid'
     GROUP BY 1, 2
    """
)


async def when_rated(
    session: AsyncSession, start: datetime, end: datetime
) -> list[tuple[int, int, int, int]]:
    """Counted ratings and 差评 by ISO weekday (1 Monday) and hour, Beijing time, rated in
    [start, end): when in the week it goes wrong."""
    rows = await session.execute(_WHEN_SQL, {"start": start, "end": end})
    return [(r.weekday, r.hour, r.ratings, r.bad) for r in rows]
