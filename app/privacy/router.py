"""/v1/privacy: an admin runs the retention now."""

from typing import Annotated

from fastapi import APIRouter, Query

from app.auth.dependencies import AdminPrincipal
from app.clock import Now
from app.config import AppSettings
from app.db import Session
from app.privacy.retention import BATCH, erase_expired
from app.privacy.schemas import RetentionRun

router = APIRouter(prefix="/v1/privacy", tags=["privacy"])


@router.post("/retention", response_model=RetentionRun)
async def run_retention(
    session: Session,
    principal: AdminPrincipal,
    now: Now,
    settings: AppSettings,
    limit: Annotated[int, Query(ge=1, le=BATCH)] = BATCH,
):
    """Erase expired personal data now (one batch of up to `limit` of each; `more` says whether
    to call again). The hourly job does the same."""
    days = settings.privacy.personal_data_retention_days
    erased = await erase_expired(session, now=now, retention_days=days, batch=limit)
    return {**erased, "retention_days": days, "more": max(erased.values()) >= limit}
