"""The surveys' routes: create (and draw), read, the task list, attempts, sample figures."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, status

from app.auth.dependencies import AdminPrincipal, require_roles
from app.auth.service import Principal
from app.clock import Now
from app.config import AppSettings
from app.db import Session
from app.stats.access import StatsReader, authorise, only_department
from app.stats.router import ThePeriod
from app.surveys import service
from app.surveys.schemas import (
    AttemptsIn,
    AttemptsResult,
    ItemPage,
    ItemState,
    SampleTable,
    SurveyIn,
    SurveyOut,
)

router = APIRouter(tags=["surveys"])

_PROBLEM = {"content": {"application/problem+json": {}}}
# Surveyors record attempts with a portal key (a callback system) or an admin key.
Surveyor = Annotated[Principal, Depends(require_roles("admin", "portal"))]
SurveyId = Annotated[int, Path(ge=1, le=2**63 - 1)]


@router.post(
    "/v1/surveys",
    status_code=status.HTTP_201_CREATED,
    response_model=SurveyOut,
    responses={403: _PROBLEM, 422: {"description": "Bad survey or period", **_PROBLEM}},
)
async def create_survey(body: SurveyIn, session: Session, principal: AdminPrincipal, now: Now):
    """Create a survey (admins). With frame `cases` or `ratings`, a random sample of the
    period's cases or real-name ratings is drawn now, stratified by department (in proportion,
    largest remainder), of `size` or `share` %: the same seed and frame draw the same list."""
    return await service.create_survey(session, body, principal, now)


@router.get(
    "/v1/surveys/{survey_id}", response_model=SurveyOut, responses={403: _PROBLEM, 404: _PROBLEM}
)
async def get_survey(survey_id: SurveyId, session: Session, principal: Surveyor):
    """A survey, its strata and how far it has been worked through."""
    return await service.get_survey(session, survey_id)


@router.get(
    "/v1/surveys/{survey_id}/items",
    response_model=ItemPage,
    responses={403: _PROBLEM, 404: _PROBLEM, 422: _PROBLEM},
)
async def list_items(
    survey_id: SurveyId,
    session: Session,
    principal: Surveyor,
    state: ItemState | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[str | None, Query(max_length=20, pattern=r"^\d{1,19}$")] = None,
):
    """The task list in draw order: what the surveyors work through (state=pending)."""
    items, next_id = await service.list_items(session, survey_id, state, int(cursor or 0), limit)
    return {"items": items, "next_cursor": None if next_id is None else str(next_id)}


@router.post(
    "/v1/surveys/{survey_id}/attempts",
    response_model=AttemptsResult,
    responses={
        403: _PROBLEM,
        404: _PROBLEM,
        409: {"description": "A sample already attempted otherwise: nothing recorded", **_PROBLEM},
        422: {"description": "A bad attempt (named by its index): nothing recorded", **_PROBLEM},
    },
)
async def record_attempts(
    survey_id: SurveyId,
    body: AttemptsIn,
    session: Session,
    principal: Surveyor,
    settings: AppSettings,
    now: Now,
):
    """Record up to 1,000 attempts, all or nothing: rated (the rating is posted with the
    survey's channel, from this key) or invalid with its reason (无效样本). A sample not on
    the list (an on-site interview) is added with its department."""
    return await service.record_attempts(
        session, survey_id, body.attempts, principal, settings=settings, now=now
    )


@router.get(
    "/v1/stats/samples",
    response_model=SampleTable,
    tags=["statistics"],
    responses={403: _PROBLEM, 422: {"description": "Bad period", **_PROBLEM}},
)
async def sample_table(
    period: ThePeriod,
    session: Session,
    principal: StatsReader,
    survey_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    department_code: str | None = Query(default=None, min_length=1, max_length=64),
):
    """测评样本: samples, invalid (by reason), valid and 满意度 over counted valid samples, by
    channel and department, for the surveys of the period. Invalid samples never enter a rate."""
    authorise(principal, department_code)
    code = department_code or only_department(principal)
    return await service.sample_figures(session, period, survey_id, code)
