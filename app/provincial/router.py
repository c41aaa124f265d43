import uuid
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import JSONResponse, Response

from app.auth.dependencies import AdminPrincipal, CurrentPrincipal
from app.cases.schemas import CaseImportResult
from app.clock import Now
from app.config import AppSettings
from app.db import Session
from app.errors import Forbidden, ProblemError, ValidationProblem, errors_detail, field_error
from app.provincial import cases, gbt39046, inbound, service
from app.provincial.mapping import ProvincialRatingIn
from app.provincial.profile import Profile
from app.provincial.schemas import (
    ProfileOut,
    ProvincialBatchIn,
    ProvincialBatchResult,
    ProvincialResult,
    PushItemOut,
    Reconciliation,
    RepushIn,
    RepushOut,
    TargetIn,
    TargetOut,
    TargetUpdate,
)
from app.stats.periods import resolve_period

router = APIRouter(prefix="/v1/provincial", tags=["provincial"])
exports_router = APIRouter(prefix="/v1/exports", tags=["provincial"])
_PROBLEM = {"content": {"application/problem+json": {}}}
ProfileName = Annotated[
    str, Query(max_length=64, description="The profile of the sender's fields, e.g. zhejiang")
]


def _profile(request: Request, name: str) -> Profile:
    profiles = request.app.state.provincial_profiles
    service.known_profile(name, profiles)
    return profiles[name]


def _public(result: dict) -> dict:
    return {k: v for k, v in result.items() if k != "http_status"}


@router.get("/profiles", response_model=list[ProfileOut])
async def list_profiles(request: Request, _: CurrentPrincipal):
    """The profiles this server knows: shipped ones and the centre's own."""
    return [p.model_dump() for p in request.app.state.provincial_profiles.values()]


@router.post(
    "/ratings",
    status_code=status.HTTP_201_CREATED,
    response_model=ProvincialResult,
    responses={
        200: {"model": ProvincialResult, "description": "A retry of a stored rating"},
        403: {"description": "Not a portal or admin key, or another's data", **_PROBLEM},
        409: {"description": "A second follow-up rating (追评) of one case", **_PROBLEM},
        422: {"description": "Invalid (the provincial field is named)", **_PROBLEM},
    },
)
async def post_rating(
    body: ProvincialRatingIn,
    request: Request,
    session: Session,
    principal: CurrentPrincipal,
    settings: AppSettings,
    now: Now,
    profile: ProfileName = "generic",
):
    """One rating in a provincial interface's fields (办件评价), stored once per projectNo and
    assessNumber for this key. A default rating (e.g. Zhejiang's pf 7) is stored apart."""
    (result,) = await inbound.ingest(
        session, principal, [body], _profile(request, profile), settings=settings, now=now
    )
    if result["status"] == "rejected":
        errors = result["errors"]
        error = ProblemError(errors_detail(errors), errors=errors)
        error.status = result["http_status"]
        error.type = {403: "forbidden", 409: "follow-up-exists"}.get(
            error.status, ValidationProblem.type
        )
        error.title = {
            403: Forbidden.title,
            409: "This case already has its follow-up rating",
        }.get(error.status, ValidationProblem.title)
        raise error
    code = 201 if result["status"] == "created" else 200
    return JSONResponse(_public(result), status_code=code)


@router.post(
    "/ratings/batch",
    response_model=ProvincialBatchResult,
    responses={
        403: {"description": "Not a portal or admin key", **_PROBLEM},
        422: {"description": "Not a batch, or an unknown profile", **_PROBLEM},
    },
)
async def post_batch(
    body: ProvincialBatchIn,
    request: Request,
    session: Session,
    principal: CurrentPrincipal,
    settings: AppSettings,
    now: Now,
    profile: ProfileName = "generic",
):
    """Up to 1,000 provincial documents, each judged alone (a retried batch is stored once)."""
    results = await inbound.ingest(
        session, principal, body.ratings, _profile(request, profile), settings=settings, now=now
    )
    counts = {
        s: sum(r["status"] == s for r in results) for s in ("created", "duplicate", "rejected")
    }
    return {**counts, "results": [_public(r) for r in results]}


@router.post(
    "/cases",
    response_model=CaseImportResult,
    responses={
        403: {"description": "Not a portal or admin key", **_PROBLEM},
        422: {"description": "A bad case (cases.<i>.<provincial field>): none stored", **_PROBLEM},
    },
)
async def post_cases(
    body: cases.ProvincialCasesIn,
    request: Request,
    session: Session,
    principal: CurrentPrincipal,
    profile: ProfileName = "generic",
):
    """Up to 10,000 cases (办件) in a provincial interface's fields (projectNo, proStatus,
    acceptTime, …) into the case ledger, idempotent on projectNo; one bad case refuses all."""
    if principal.role not in inbound.POSTING_ROLES:
        raise Forbidden(f"Role {principal.role} cannot post provincial cases (portal, admin)")
    return await cases.import_cases(session, body.cases, _profile(request, profile))


def _target(target) -> dict:
    return {
        **{k: getattr(target, k) for k in TargetOut.model_fields if k != "has_credentials"},
        "has_credentials": target.credentials is not None,
    }


@router.post(
    "/targets",
    status_code=status.HTTP_201_CREATED,
    response_model=TargetOut,
    responses={403: _PROBLEM, 422: _PROBLEM},
)
async def create_target(
    body: TargetIn, request: Request, session: Session, _: AdminPrincipal, now: Now
):
    """A provincial platform to push to: every new rating and/or rectification result from now
    on, in its profile's format (older periods: re-push)."""
    _profile(request, body.profile)
    values = body.model_dump()
    values["url"] = str(body.url)
    return _target(await service.create_target(session, values, now=now))


@router.get("/targets", response_model=list[TargetOut], responses={403: _PROBLEM})
async def list_targets(session: Session, _: AdminPrincipal):
    return [_target(t) for t in await service.list_targets(session)]


@router.patch(
    "/targets/{target_id}", response_model=TargetOut, responses={403: _PROBLEM, 404: _PROBLEM}
)
async def update_target(
    target_id: uuid.UUID, body: TargetUpdate, session: Session, _: AdminPrincipal
):
    """Change the URL, credentials or events, or pause (active false: items wait)."""
    changes = {k: v for k, v in body.model_dump(exclude_unset=True).items() if v is not None}
    if "url" in changes:
        changes["url"] = str(body.url)
    return _target(await service.update_target(session, target_id, changes))


@router.get(
    "/targets/{target_id}/items",
    response_model=list[PushItemOut],
    responses={403: _PROBLEM, 404: _PROBLEM},
)
async def list_items(
    target_id: uuid.UUID,
    session: Session,
    _: AdminPrincipal,
    status_: Annotated[
        str | None, Query(alias="status", pattern="^(pending|acknowledged|failed)$")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
):
    """The push log (推送日志), newest first: sent, answered, the target's own code."""
    items = await service.list_items(session, target_id, status=status_, limit=limit)
    return [
        {
            **{k: getattr(i, k) for k in PushItemOut.model_fields if k != "status"},
            "status": service.item_status(i),
        }
        for i in items
    ]


@router.post(
    "/targets/{target_id}/repush",
    response_model=RepushOut,
    responses={403: _PROBLEM, 404: _PROBLEM},
)
async def repush(
    target_id: uuid.UUID, body: RepushIn, session: Session, _: AdminPrincipal, now: Now
):
    """Push again (重推) one item, or a period's items; a period's ratings never queued too."""
    return await service.repush(
        session, target_id, item_id=body.item_id, first=body.from_, last=body.to, now=now
    )


@router.get(
    "/targets/{target_id}/reconciliation",
    response_model=Reconciliation,
    responses={403: _PROBLEM, 404: _PROBLEM},
)
async def reconciliation(
    target_id: uuid.UUID,
    session: Session,
    _: AdminPrincipal,
    day: Annotated[date, Query(description="A day, YYYY-MM-DD (Beijing time)")],
):
    """The day's figure (对账): its ratings against those pushed and acknowledged."""
    if not 2000 <= day.year <= 2100:
        raise ValidationProblem(
            "day out of range", errors=[field_error("query.day", "2000 to 2100")]
        )
    return await service.reconciliation(session, target_id, day)


@exports_router.get(
    "/gbt39046",
    responses={
        200: {
            "content": {"text/csv": {"schema": {"type": "string"}}, "application/x-ndjson": {}},
            "description": "The period's valid ratings as GB/T 39046-2020 §6.6 fields",
        },
        403: _PROBLEM,
        422: {"description": "Bad period or format (the problem names it)", **_PROBLEM},
    },
)
async def export_gbt39046(
    session: Session,
    principal: CurrentPrincipal,
    period: Annotated[
        str | None, Query(max_length=20, description="2026Q4, 2026-10 or 2026")
    ] = None,
    from_: Annotated[str | None, Query(alias="from", max_length=10)] = None,
    to: Annotated[str | None, Query(max_length=10)] = None,
    format_: Annotated[str, Query(alias="format", pattern="^(csv|jsonl)$")] = "csv",
    area_code: Annotated[str | None, Query(pattern=r"^\d{6}(\d{3}|\d{6})?$")] = None,
):
    """评价数据 per GB/T 39046-2020: 满意度代码 1 = 非常满意 … 5 = 非常不满意 (the reverse of our
    level); 评价时间 YYYYMMDDThhmmss, Beijing time; the rater's name masked. Admins and readers."""
    if principal.role not in ("admin", "reader"):
        raise Forbidden("The GB/T 39046 export is for admin and reader keys")
    span = resolve_period(period, from_, to)
    items = await gbt39046.records(session, span.start_at, span.end_at, area_code)
    name = f"gbt39046-{span.label.replace('..', '_')}"
    if format_ == "jsonl":
        body, media, name = gbt39046.as_json_lines(items), "application/x-ndjson", name + ".jsonl"
    else:
        body, media, name = gbt39046.as_csv(items), "text/csv; charset=utf-8", name + ".csv"
    return Response(
        body, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )
