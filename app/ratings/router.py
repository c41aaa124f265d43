from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, status
from fastapi.responses import Response
from pydantic_core import to_json

from app import privacy
from app.audit import service as audit
from app.auth.dependencies import AdminPrincipal, CurrentPrincipal
from app.clock import Now
from app.config import AppSettings
from app.db import Session
from app.errors import Forbidden, ProblemError, ValidationProblem, errors_detail, field_error
from app.observability import count_ratings
from app.privacy.masking import mask_phone
from app.ratings import access, ingest, repository, views
from app.ratings.schemas import (
    BatchResult,
    Channel,
    PhoneLookupIn,
    RaterPersonalData,
    RatingBatchIn,
    RatingIn,
    RatingOut,
    RatingPage,
)

router = APIRouter(prefix="/v1/ratings", tags=["ratings"])
# The clear read of a rater's personal data; included after the work orders' withdraw route
# (rater_routes, POST /v1/ratings/{id}/withdraw), where the published contract has it.
personal_data_routes = APIRouter(prefix="/v1/ratings", tags=["ratings"])

_PROBLEM = {"content": {"application/problem+json": {}}}


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=RatingOut,
    responses={
        200: {
            "model": RatingOut,
            "description": "A retry of a stored event: the stored rating, with header "
            "Idempotent-Replayed: true",
        },
        403: {"description": "Another department's or window's data", **_PROBLEM},
        409: {"description": "A second follow-up rating (追评) of one case", **_PROBLEM},
        422: {
            "description": "Invalid event, or its event_id reused with another payload",
            **_PROBLEM,
        },
    },
)
async def post_rating(
    body: RatingIn, session: Session, principal: CurrentPrincipal, settings: AppSettings, now: Now
):
    """Post one rating event. Retrying with the same event_id is safe: it is stored once."""
    (outcome,) = await ingest.ingest(session, principal, [body], settings=settings, now=now)
    count_ratings((outcome,))
    if outcome.status == "rejected":
        error = ProblemError(
            errors_detail(outcome.errors),
            errors=outcome.errors,
        )
        error.status, error.type = outcome.http_status, outcome.problem_type
        error.title = {
            "event-id-reused": "This event_id was already used with a different payload",
            "forbidden": "Not allowed for this key",
            "follow-up-exists": "This case already has its follow-up rating",
        }.get(outcome.problem_type, ValidationProblem.title)
        raise error
    # Serialised straight from the service's dict (shaped as RatingOut): re-validating it
    # through the response model would cost the hot path a fifth of its time.
    if outcome.status == "duplicate":
        return _json(outcome.rating, 200, {"Idempotent-Replayed": "true"})
    return _json(outcome.rating, 201)


@router.post(
    "/batch",
    response_model=BatchResult,
    responses={
        422: {"description": "Not a batch (each event is judged in the results)", **_PROBLEM}
    },
)
async def post_batch(
    body: RatingBatchIn,
    session: Session,
    principal: CurrentPrincipal,
    settings: AppSettings,
    now: Now,
):
    """Post up to 1,000 events, as a tablet flushes its offline buffer. Each is judged alone."""
    outcomes = await ingest.ingest(session, principal, body.events, settings=settings, now=now)
    count_ratings(outcomes)
    results = [
        {
            "index": o.index,
            "event_id": o.event_id,
            "status": o.status,
            "rating": o.rating,
            "errors": o.errors or None,
        }
        for o in outcomes
    ]
    counts = {
        "created": sum(o.status == "created" for o in outcomes),
        "duplicate": sum(o.status == "duplicate" for o in outcomes),
        "rejected": sum(o.status == "rejected" for o in outcomes),
    }
    # One audit row for the whole batch (app/audit/service.py), with these counts.
    audit.note(**counts)
    return _json({**counts, "results": results}, 200)


def _json(content: object, status_code: int, headers: dict[str, str] | None = None) -> Response:
    return Response(
        to_json(content), status_code=status_code, headers=headers, media_type="application/json"
    )


@router.get("", response_model=RatingPage)
async def list_ratings(
    session: Session,
    principal: CurrentPrincipal,
    department_code: str | None = Query(default=None, max_length=64),
    channel: Channel | None = None,
    level: Annotated[int | None, Query(ge=1, le=5)] = None,
    bad: bool | None = Query(default=None, description="Only 差评 (true) or only 好评 (false)"),
    rated_from: datetime | None = Query(
        default=None, description="Inclusive, ISO 8601 with offset"
    ),
    rated_to: datetime | None = Query(default=None, description="Exclusive, ISO 8601 with offset"),
    status_: Annotated[
        str | None, Query(alias="status", pattern="^(valid|withdrawn|invalidated)$")
    ] = None,
    flagged: bool | None = Query(
        default=None,
        description="Only ratings with integrity flags (true) or only those without (false); "
        "admin, reader and department keys",
    ),
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: str | None = Query(default=None, max_length=200),
):
    """Ratings, newest first, with keyset pagination. Phone numbers and names are masked.

    To find one phone number's ratings, an admin posts it to /v1/ratings/by-phone (kept out
    of URLs, hence out of access logs)."""
    for name, value in (("rated_from", rated_from), ("rated_to", rated_to)):
        if value is not None and value.tzinfo is None:
            raise ValidationProblem(
                f"{name} needs a UTC offset",
                errors=[field_error(f"query.{name}", "ISO 8601 with offset, e.g. +08:00")],
            )
        if value is not None and not repository.in_range(value):
            raise ValidationProblem(
                f"{name} is out of range",
                errors=[field_error(f"query.{name}", "out of range", "out_of_range")],
            )
    filters = repository.RatingFilter(
        department_code=access.visible_department(principal, department_code),
        channel=channel,
        level=level,
        bad=bad,
        rated_from=rated_from,
        rated_to=rated_to,
        status=status_,
        flagged=flagged,
    )
    if flagged is not None and not access.sees_flags(principal):
        raise Forbidden("Integrity flags are for admin, reader and department keys")
    filters.client_id = access.own_ratings_only(principal)
    items, next_cursor = await repository.list_ratings(
        session, filters, limit=limit, cursor=cursor, with_flags=access.sees_flags(principal)
    )
    return {"items": items, "next_cursor": next_cursor}


@router.post("/by-phone", response_model=RatingPage, responses={403: _PROBLEM})
async def ratings_by_phone(body: PhoneLookupIn, session: Session, principal: AdminPrincipal):
    """One phone number's ratings, newest first (admins; audited). The phone goes in the body,
    never in a URL; it is matched by its keyed hash, and the results are masked."""
    filters = repository.RatingFilter(phone_hashes=privacy.keyring().phone_hashes(body.phone))
    items, next_cursor = await repository.list_ratings(
        session, filters, limit=body.limit, cursor=body.cursor, with_flags=True
    )
    await audit.record(
        session,
        "rating.lookup_by_phone",
        "rating",
        detail={"phone": mask_phone(body.phone), "found": len(items)},
    )
    return {"items": items, "next_cursor": next_cursor}


@router.get("/{rating_id}", response_model=RatingOut)
async def get_rating(
    rating_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    session: Session,
    principal: CurrentPrincipal,
):
    """One rating, personal data masked."""
    rating = await repository.get_rating(session, rating_id)
    access.readable(principal, rating)
    return views.view(rating, with_flags=access.sees_flags(principal))


@personal_data_routes.get(
    "/{rating_id}/personal-data",
    response_model=RaterPersonalData,
    responses={403: _PROBLEM, 404: _PROBLEM},
)
async def get_rater_personal_data(
    rating_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    session: Session,
    principal: AdminPrincipal,
):
    """The rater's name and phone in clear, for a callback (admins only; every read is audited)."""
    rating = await repository.get_rating(session, rating_id)
    data = views.personal_data(rating)
    await audit.record(session, "rating.personal_data.read", f"rating:{rating_id}")
    return data
