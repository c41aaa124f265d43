"""Retention of personal data: raters' and 12345 callers' names and phones are erased after
HAOCHAPING_PERSONAL_DATA_RETENTION_DAYS (3 years); the ratings and complaints stay.

Runs as a loop inside the server (hourly), from `haochaping privacy erase-expired`, or when an
admin posts /v1/privacy/retention. Safe to rerun and to run in several processes (batches with
SKIP LOCKED); each run that erased something writes one audit entry.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.audit import service as audit
from app.auth.dependencies import AdminPrincipal
from app.clock import Now
from app.db import Session
from app.privacy import PrivacySettings
from app.ratings import service as ratings
from app.workorders import service as workorders

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
    retention_days: int | None = None,
    batch: int = BATCH,
) -> dict[str, int]:
    """Erase everything expired, one committed batch at a time (a job of its own)."""
    days = retention_days or PrivacySettings().personal_data_retention_days
    total = {"ratings": 0, "complaints": 0}
    with audit.acting("system:retention"):
        while True:
            async with sessionmaker() as session:
                erased = await erase_expired(session, now=now, retention_days=days, batch=batch)
                await session.commit()
            for name, n in erased.items():
                total[name] += n
            if max(erased.values()) < batch:
                return total


router = APIRouter(prefix="/v1/privacy", tags=["privacy"])


class RetentionRun(BaseModel):
    ratings: int
    complaints: int
    retention_days: int
    more: bool


@router.post("/retention", response_model=RetentionRun)
async def run_retention(
    session: Session,
    principal: AdminPrincipal,
    now: Now,
    limit: Annotated[int, Query(ge=1, le=BATCH)] = BATCH,
):
    """Erase expired personal data now (one batch of up to `limit` of each; `more` says whether
    to call again). The hourly job does the same."""
    days = PrivacySettings().personal_data_retention_days
    erased = await erase_expired(session, now=now, retention_days=days, batch=limit)
    return {**erased, "retention_days": days, "more": max(erased.values()) >= limit}
