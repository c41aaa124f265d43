"""Satisfaction surveys: draw a callback list, record each attempt, count the samples.

What other domains call: `sample_figures(session, period, survey_id=None,
department_code=None)` (samples, invalid by reason, valid, 满意度 over counted valid samples, by
channel and department). A rated attempt posts its rating through the ratings' service with the
survey's channel (phone_callback or onsite_survey), from the key that records it (admin or
portal: both may post those channels, app/ratings/rules.py)."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.service import Principal
from app.cases import service as cases
from app.config import Settings
from app.errors import (
    Conflict,
    NotFound,
    ProblemError,
    ValidationProblem,
    errors_detail,
    field_error,
    pydantic_errors,
)
from app.ratings import service as ratings
from app.ratings.schemas import RatingIn
from app.registry import service as registry
from app.stats.periods import Period, parse_period_label
from app.stats.tally import rate
from app.surveys import repository, sampling
from app.surveys.models import INVALID_REASONS, Survey, SurveyItem
from app.surveys.schemas import AttemptIn, SurveyIn

_PLACE = ("department_code", "staff_id", "case_no", "service_item_code", "service_item_name")


def _period(survey: Survey) -> Period:
    return parse_period_label(survey.period_label)


async def _view(session: AsyncSession, survey: Survey) -> dict[str, Any]:
    return {
        "id": survey.id,
        "name": survey.name,
        "channel": survey.channel,
        "frame": survey.frame,
        "period": _period(survey).as_json(),
        "seed": survey.seed,
        "size": survey.size,
        "share": None if survey.share is None else float(survey.share),
        "frame_size": survey.frame_size,
        "strata": (strata := await repository.strata(session, survey.id)),
        "drawn": sum(strata.values()),
        "created_at": survey.created_at,
        "by_state": {
            "pending": 0,
            "rated": 0,
            "invalid": 0,
            **await repository.states(session, survey.id),
        },
    }


async def create_survey(
    session: AsyncSession, body: SurveyIn, principal: Principal, now: datetime
) -> dict[str, Any]:
    """A survey; with a frame, its task list drawn now (reproducible from seed and frame)."""
    period = parse_period_label(body.period, "period")
    seed = body.seed if body.frame == "none" else body.seed or secrets.token_hex(8)
    if body.frame == "cases":
        counts = await cases.frame_counts(session, period)
    elif body.frame == "ratings":
        counts = await ratings.real_name_counts(session, period.start_at, period.end_at)
    else:
        counts = {}
    frame_size = sum(counts.values())
    survey = Survey(
        name=body.name,
        channel=body.channel,
        frame=body.frame,
        period_label=period.label,
        period_start_at=period.start_at,
        period_end_at=period.end_at,
        seed=seed,
        size=body.size,
        share=body.share,
        frame_size=frame_size,
        created_by=principal.client_id,
        created_at=now,
    )
    session.add(survey)
    await session.flush()
    if body.frame != "none":
        quotas = sampling.allocate(counts, sampling.sample_size(frame_size, body.size, body.share))
        if body.frame == "cases":
            drawn = await cases.draw(session, period, quotas, seed)
        else:
            drawn = await ratings.draw_real_name(
                session, period.start_at, period.end_at, quotas, seed
            )
        rows = [
            {
                "survey_id": survey.id,
                "sample_no": f"D{position:05d}",
                "position": position,
                "department_code": row["department_code"],
                "window_no": row["window_no"],
                "staff_id": row["staff_id"],
                "case_no": row["case_no"],
                "service_item_code": row["service_item_code"],
                "service_item_name": row["service_item_name"],
                "source_rating_id": row.get("id"),
                "state": "pending",
            }
            for position, row in enumerate(drawn, start=1)
        ]
        if rows:
            await session.execute(insert(SurveyItem), rows)
    return await _view(session, survey)


async def get_survey(session: AsyncSession, survey_id: int) -> dict[str, Any]:
    return await _view(session, await _survey(session, survey_id))


async def _survey(session: AsyncSession, survey_id: int) -> Survey:
    survey = await session.get(Survey, survey_id)
    if survey is None:
        raise NotFound(f"No survey {survey_id}")
    return survey


async def list_items(
    session: AsyncSession, survey_id: int, state: str | None, after: int, limit: int
) -> tuple[list[SurveyItem], int | None]:
    """The task list in draw order (then samples added), `limit` after item id `after`."""
    await _survey(session, survey_id)
    query = select(SurveyItem).where(SurveyItem.survey_id == survey_id, SurveyItem.id > after)
    if state is not None:
        query = query.where(SurveyItem.state == state)
    items = list((await session.execute(query.order_by(SurveyItem.id).limit(limit + 1))).scalars())
    more = len(items) > limit
    return items[:limit], items[limit - 1].id if more else None


def _digest(attempt: AttemptIn) -> bytes:
    return hashlib.sha256(attempt.model_dump_json().encode()).digest()


async def record_attempts(
    session: AsyncSession,
    survey_id: int,
    attempts: list[AttemptIn],
    principal: Principal,
    *,
    settings: Settings,
    now: datetime,
) -> dict[str, int]:
    """Record each attempt on its sample (a drawn one, or a new one naming its department);
    all or nothing. An attempt sent again as recorded is a duplicate; another on a sample
    already attempted is a conflict (409)."""
    survey = await _survey(session, survey_id)
    numbers = [a.sample_no for a in attempts]
    errors = [
        field_error(
            f"attempts.{i}.sample_no", "repeats an earlier attempt of this call", "duplicate"
        )
        for i, no in enumerate(numbers)
        if no in numbers[:i]
    ]
    found = {
        item.sample_no: item
        for item in (
            await session.execute(
                select(SurveyItem)
                .where(SurveyItem.survey_id == survey.id, SurveyItem.sample_no.in_(numbers))
                .order_by(SurveyItem.id)
                .with_for_update()
            )
        ).scalars()
    }
    known = await registry.active_departments(
        session, {a.department_code for a in attempts if a.department_code}
    )
    for i, attempt in enumerate(attempts):
        item = found.get(attempt.sample_no)
        if item is None and attempt.department_code is None:
            errors.append(
                field_error(
                    f"attempts.{i}.department_code",
                    "no such sample on the list: a new sample names its department",
                    "missing",
                )
            )
        elif item is None and attempt.department_code not in known:
            errors.append(
                field_error(f"attempts.{i}.department_code", "unknown department", "unknown")
            )
        elif item is not None and any(getattr(attempt, f) is not None for f in _PLACE):
            errors.append(
                field_error(
                    f"attempts.{i}",
                    "a drawn sample's department, staff, case and item are fixed: send none",
                    "fixed",
                )
            )
    if errors:
        raise ValidationProblem(errors_detail(errors, 5), errors=errors)
    result = {"recorded": 0, "duplicate": 0, "rated": 0, "invalid": 0}
    for i, attempt in enumerate(attempts):
        digest = _digest(attempt)
        item = found.get(attempt.sample_no)
        if item is not None and item.state != "pending":
            if item.attempt_hash == digest:
                result["duplicate"] += 1
                continue
            raise Conflict(
                f"attempts.{i}: sample {attempt.sample_no} was already attempted "
                f"({item.state}); a sample is attempted once",
                errors=[field_error(f"attempts.{i}.sample_no", "already attempted", "attempted")],
            )
        if item is None:
            item = SurveyItem(
                survey_id=survey.id,
                sample_no=attempt.sample_no,
                state="pending",
                **{f: getattr(attempt, f) for f in _PLACE},
            )
            session.add(item)
        if attempt.outcome == "rated":
            item.rating_id = await _post_rating(
                session, survey, item, attempt, i, principal, settings=settings, now=now
            )
            item.state = "rated"
        else:
            item.state, item.invalid_reason = "invalid", attempt.reason
        item.surveyor, item.attempted_at = attempt.surveyor, attempt.attempted_at
        item.recorded_by, item.attempt_hash = principal.client_id, digest
        result["recorded"] += 1
        result[attempt.outcome] += 1
    await session.flush()
    return result


async def _post_rating(
    session: AsyncSession,
    survey: Survey,
    item: SurveyItem,
    attempt: AttemptIn,
    index: int,
    principal: Principal,
    *,
    settings: Settings,
    now: datetime,
) -> int:
    """The attempt's rating, posted as the recording key with the survey's channel."""
    try:
        event = RatingIn(
            event_id=f"survey-{survey.id}-{item.sample_no}",
            channel=survey.channel,
            department_code=item.department_code,
            staff_id=item.staff_id,
            case_no=item.case_no,
            service_item_code=item.service_item_code,
            service_item_name=item.service_item_name,
            level=attempt.level,
            tags=attempt.tags,
            comment=attempt.comment,
            rater=attempt.rater,
            rated_at=attempt.attempted_at,
        )
    except ValidationError as exc:
        errors = [
            {**e, "field": f"attempts.{index}.{e['field']}".replace(".rated_at", ".attempted_at")}
            for e in pydantic_errors(list(exc.errors()))
        ]
        raise ValidationProblem(errors_detail(errors), errors=errors) from None
    (outcome,) = await ratings.ingest(session, principal, [event], settings=settings, now=now)
    if outcome.status == "rejected":
        errors = [{**e, "field": f"attempts.{index}.{e['field']}"} for e in outcome.errors]
        error = ProblemError(errors_detail(errors), errors=errors)
        error.status, error.type = outcome.http_status, outcome.problem_type
        error.title = "The attempt's rating was refused"
        raise error
    return outcome.rating["id"]


# --- figures ------------------------------------------------------------------------------------


def _figures(row: dict[str, Any]) -> dict[str, Any]:
    def rater(kind: str) -> dict[str, Any]:
        counted, good = int(row[f"{kind}_counted"]), int(row[f"{kind}_good"])
        return {"counted": counted, "good": good, "good_rate": rate(good, counted)}

    counted, good = int(row["counted"]), int(row["good"])
    return {
        "samples": int(row["samples"]),
        "invalid": int(row["invalid"]),
        "invalid_by_reason": {r: int(row[f"invalid_{r}"]) for r in INVALID_REASONS},
        "valid": int(row["valid"]),
        "counted": counted,
        "good": good,
        "bad": counted - good,
        "good_rate": rate(good, counted),
        "enterprise": rater("enterprise"),
        "individual": rater("individual"),
        "pending": int(row["pending"]),
    }


def _summed(rows: list[dict[str, Any]], keys: list[str]) -> dict[str, int]:
    return {k: sum(int(r[k]) for r in rows) for k in keys}


async def sample_figures(
    session: AsyncSession,
    period: Period,
    survey_id: int | None = None,
    department_code: str | None = None,
) -> dict[str, Any]:
    """The samples of the surveys of the period (a survey of 2023Q1 counts in 2023Q1 and in
    2023): total, by channel, by department. Invalid samples never enter a rate."""
    rows = await repository.sample_counts(
        session, period.start_at, period.end_at, survey_id, department_code
    )
    keys = [k for k in (rows[0] if rows else {}) if k not in ("channel", "department_code")]
    names = {d.code: d.name for d in await registry.list_departments(session)}
    channels = sorted({r["channel"] for r in rows})
    departments = sorted({r["department_code"] for r in rows})
    empty = (
        {k: 0 for k in ["samples", "pending", "invalid", "valid", "counted", "good"]}
        | {f"invalid_{r}": 0 for r in INVALID_REASONS}
        | {f"{t}_{c}": 0 for t in ("enterprise", "individual") for c in ("counted", "good")}
    )
    return {
        "period": period.as_json(),
        "survey_id": survey_id,
        "total": _figures(_summed(rows, keys) if rows else empty),
        "by_channel": [
            {"channel": c, **_figures(_summed([r for r in rows if r["channel"] == c], keys))}
            for c in channels
        ],
        "by_department": [
            {
                "department_code": d,
                "department_name": names.get(d),
                **_figures(_summed([r for r in rows if r["department_code"] == d], keys)),
            }
            for d in departments
        ],
    }
