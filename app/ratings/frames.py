"""What the case ledger and the surveys read of ratings: counts per case, real-name frames.

Survey ratings (电话回访, 现场拦访) answer a surveyor's call, not the applicant's own wish to
rate: they are left out of a case's active ratings (主动评价)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

SURVEY_CHANNELS = frozenset({"phone_callback", "onsite_survey"})


async def active_by_case(session: AsyncSession, case_nos: list[str]) -> dict[str, int]:
    """case_no -> counted applicant ratings naming it (follow-ups included; default ratings,
    系统默认评价, are not the applicant's)."""
    if not case_nos:
        return {}
    rows = await session.execute(
        text(
            "SELECT case_no, count(*) FROM rating WHERE case_no = ANY(:nos) AND status = 'valid' "
            "AND NOT is_default AND channel <> ALL(:survey) GROUP BY case_no"
        ),
        {"nos": case_nos, "survey": sorted(SURVEY_CHANNELS)},
    )
    return {case_no: n for case_no, n in rows.all()}


async def applicant_ratings(session: AsyncSession, case_no: str) -> int:
    """The applicant's ratings of a case from every sender (withdrawn ones too: they were
    given; survey and default ratings are not the applicant's): at most two per case."""
    return (
        await session.execute(
            text(
                "SELECT count(*) FROM rating WHERE case_no = :no AND NOT is_default "
                "AND channel <> ALL(:survey)"
            ),
            {"no": case_no, "survey": sorted(SURVEY_CHANNELS)},
        )
    ).scalar_one()


_REAL_NAME = (
    "FROM rating WHERE rated_at >= :start AND rated_at < :end AND status = 'valid' "
    "AND assess_number = 1 AND rater_phone IS NOT NULL AND channel <> ALL(:survey)"
)


async def real_name_counts(session: AsyncSession, start: datetime, end: datetime) -> dict[str, int]:
    """department -> counted first real-name ratings (with a phone) of [start, end)."""
    rows = await session.execute(
        text(f"SELECT department_code, count(*) {_REAL_NAME} GROUP BY department_code"),
        {"start": start, "end": end, "survey": sorted(SURVEY_CHANNELS)},
    )
    return {code: n for code, n in rows.all()}


async def draw_real_name(
    session: AsyncSession, start: datetime, end: datetime, quotas: dict[str, int], seed: str
) -> list[dict[str, Any]]:
    """The first `quotas[department]` real-name ratings of each department in the order of
    md5(seed, id): a reproducible random draw without replacement."""
    if not quotas:
        return []
    codes = sorted(quotas)
    rows = await session.execute(
        text(
            "SELECT id, department_code, window_no, staff_id, case_no, service_item_code, "
            "service_item_name, rater_type FROM ("
            "SELECT *, row_number() OVER (PARTITION BY department_code "
            "ORDER BY md5(:seed || ':' || id::text), id) AS draw "
            f"{_REAL_NAME} AND department_code = ANY(:codes)) AS ranked "
            "JOIN unnest(CAST(:codes AS text[]), CAST(:quotas AS int[])) AS q(code, quota) "
            "ON q.code = ranked.department_code WHERE draw <= q.quota "
            "ORDER BY department_code, draw"
        ),
        {
            "start": start,
            "end": end,
            "survey": sorted(SURVEY_CHANNELS),
            "seed": seed,
            "codes": codes,
            "quotas": [quotas[c] for c in codes],
        },
    )
    return [dict(r._mapping) for r in rows]
