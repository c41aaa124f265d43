"""The surveys' SQL: the task list's pages and the sample figures."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.surveys.models import INVALID_REASONS

# Counts of one group of samples; a valid sample's rating counts while its status is valid.
_COUNTS = ", ".join(
    [
        "count(*) FILTER (WHERE i.state <> 'pending') AS samples",
        "count(*) FILTER (WHERE i.state = 'pending') AS pending",
        "count(*) FILTER (WHERE i.state = 'invalid') AS invalid",
        *(
            f"count(*) FILTER (WHERE i.invalid_reason = '{reason}') AS invalid_{reason}"
            for reason in INVALID_REASONS
        ),
        "count(*) FILTER (WHERE i.state = 'rated') AS valid",
        "count(r.id) FILTER (WHERE r.status = 'valid') AS counted",
        "count(r.id) FILTER (WHERE r.status = 'valid' AND r.level >= 3) AS good",
        "count(r.id) FILTER (WHERE r.status = 'valid' AND r.rater_type = 'enterprise') "
        "AS enterprise_counted",
        "count(r.id) FILTER (WHERE r.status = 'valid' AND r.rater_type = 'enterprise' "
        "AND r.level >= 3) AS enterprise_good",
        "count(r.id) FILTER (WHERE r.status = 'valid' AND r.rater_type = 'individual') "
        "AS individual_counted",
        "count(r.id) FILTER (WHERE r.status = 'valid' AND r.rater_type = 'individual' "
        "AND r.level >= 3) AS individual_good",
    ]
)


async def sample_counts(
    session: AsyncSession,
    start: datetime,
    end: datetime,
    survey_id: int | None,
    department_code: str | None,
) -> list[dict[str, Any]]:
    """Counts per (channel, department) of the samples of the surveys of [start, end)."""
    where = "s.period_start_at >= :start AND s.period_end_at <= :end"
    if survey_id is not None:
        where += " AND s.id = :survey_id"
    if department_code is not None:
        where += " AND i.department_code = :code"
    rows = await session.execute(
        text(
            f"SELECT s.channel, i.department_code, {_COUNTS} FROM survey_item i "
            "JOIN survey s ON s.id = i.survey_id LEFT JOIN rating r ON r.id = i.rating_id "
            f"WHERE {where} GROUP BY s.channel, i.department_code "
            "ORDER BY s.channel, i.department_code"
        ),
        {"start": start, "end": end, "survey_id": survey_id, "code": department_code},
    )
    return [dict(r._mapping) for r in rows]


async def states(session: AsyncSession, survey_id: int) -> dict[str, int]:
    rows = await session.execute(
        text("SELECT state, count(*) FROM survey_item WHERE survey_id = :id GROUP BY state"),
        {"id": survey_id},
    )
    return dict(rows.all())


async def strata(session: AsyncSession, survey_id: int) -> dict[str, int]:
    rows = await session.execute(
        text(
            "SELECT department_code, count(*) FROM survey_item WHERE survey_id = :id "
            "AND position IS NOT NULL GROUP BY department_code ORDER BY department_code"
        ),
        {"id": survey_id},
    )
    return dict(rows.all())
