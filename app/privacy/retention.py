"""Retention of personal data: raters' and 12345 callers' names and phones are erased after
HAOCHAPING_PERSONAL_DATA_RETENTION_DAYS (3 years); the ratings and complaints stay.

Runs as a loop inside the server (hourly), from `haochaping privacy erase-expired`, or when an
admin posts /v1/privacy/retention. Safe to rerun and to run in several processes (batches with
SKIP LOCKED); each run that erased something writes one audit entry.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.audit import service as audit
from app.config import PrivacySettings
from app.jobs import JobContext, Jobs
from app.ratings import service as ratings
from app.workorders import complaints as workorders

BATCH = 5000


async def erase_expired(
    session: AsyncSession, *, now: datetime, retention_days: int, batch: int = BATCH
) -> dict[str, int]:
    """Erase one batch of expired personal data in the session's transaction; the counts."""
    before = now - timedelta(days=retention_days)
    erased = {
        "ratings": await ratings.erase_rater_data(session, before=before, now=now, limit=batch),
        "complaints": await workorders.erase_citizen_data(
            session, before=before, now=now, limit=batch
        ),
    }
    if any(erased.values()):
        await audit.record(
            session,
            "personal_data.erase_expired",
            None,
            detail={**erased, "before": before, "retention_days": retention_days},
        )
    return erased


async def erase_all_expired(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    now: datetime,
    retention_days: int,
    batch: int = BATCH,
) -> dict[str, int]:
    """Erase everything expired, one committed batch at a time (a job of its own)."""
    total = {"ratings": 0, "complaints": 0}
    with audit.acting("system:retention"):
        while True:
            async with sessionmaker() as session:
                erased = await erase_expired(
                    session, now=now, retention_days=retention_days, batch=batch
                )
                await session.commit()
            for name, n in erased.items():
                total[name] += n
            if max(erased.values()) < batch:
                return total


def register(jobs: Jobs, settings: PrivacySettings) -> None:
    """The retention job, every HAOCHAPING_RETENTION_INTERVAL_SECONDS (hourly)."""

    async def erase_expired(context: JobContext) -> None:
        await erase_all_expired(
            context.sessionmaker,
            now=context.now(),
            retention_days=settings.personal_data_retention_days,
        )

    jobs.add(
        "personal data retention",
        erase_expired,
        every=settings.retention_interval_seconds,
        first="run",
    )
