"""Satisfaction figures per period: overview, department table (JSON, CSV, XLSX), one
department, reasons."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Path, Query
from fastapi.responses import Response
from pydantic_core import to_json

from app.auth.dependencies import require_roles
from app.auth.service import Principal
from app.db import Session
from app.ratings.schemas import Channel
from app.stats import exports, service
from app.stats.periods import Period, resolve_period
from app.stats.schemas import DepartmentDetail, DepartmentTable, Overview, Reasons

router = APIRouter(prefix="/v1/stats", tags=["statistics"])

StatsReader = Annotated[Principal, Depends(require_roles(*service.READ_ROLES))]
RaterType = Literal["individual", "enterprise", "anonymous"]
_PROBLEM = {"content": {"application/problem+json": {}}}
_ERRORS = {
    403: {"description": "Another department's figures", **_PROBLEM},
    422: {"description": "Bad period (the problem names the parameter)", **_PROBLEM},
}


def period_param(
    period: Annotated[
        str | None,
        Query(
            max_length=20,
            description="A quarter (2023Q4), a month (2023-10) or a year (2023), Asia/Shanghai",
        ),
    ] = None,
    from_: Annotated[
        str | None,
        Query(alias="from", max_length=10, description="First day YYYY-MM-DD (with `to`)"),
    ] = None,
    to: Annotated[
        str | None, Query(max_length=10, description="Last day YYYY-MM-DD, inclusive")
    ] = None,
) -> Period:
    return resolve_period(period, from_, to)


ThePeriod = Annotated[Period, Depends(period_param)]


def _json(content: dict) -> Response:
    """The figures, already in the response model's shape, serialised directly.

    `response_model` stays on each route for the OpenAPI contract; validating a hundred
    department rows through it on every call cost more than computing them. The tests check
    that each body validates against its model and dumps back to itself.
    """
    return Response(to_json(content), media_type="application/json")


@router.get("/overview", response_model=Overview, responses=_ERRORS)
async def overview(session: Session, principal: StatsReader, period: ThePeriod):
    """Centre totals: counted ratings by level, 好评率 and 差评率, by rater type and channel,
    with the work-order and 12345 complaint figures."""
    service.authorise(principal)
    return _json(await service.overview(session, period))


def _export_format(format_: str | None, accept: str | None) -> str:
    if format_:
        return format_
    accept = (accept or "").lower()
    if exports.XLSX_MEDIA_TYPE in accept:
        return "xlsx"
    if "text/csv" in accept:
        return "csv"
    return "json"


@router.get(
    "/departments",
    response_model=DepartmentTable,
    responses={
        **_ERRORS,
        200: {
            "description": "The table as JSON, CSV or XLSX (Chinese headings)",
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                exports.XLSX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}},
            },
        },
    },
)
async def departments(
    session: Session,
    principal: StatsReader,
    period: ThePeriod,
    channel: Channel | None = None,
    rater_type: RaterType | None = None,
    min_sample: Annotated[
        int, Query(ge=0, description="Leave out departments with fewer counted ratings")
    ] = 0,
    sort: Annotated[Literal[service.SORTS], Query()] = "rank",  # type: ignore[valid-type]
    order: Literal["asc", "desc"] | None = Query(
        default=None, description="Default: ascending for rank, code, name; else descending"
    ),
    format_: Annotated[
        Literal["json", "csv", "xlsx"] | None,
        Query(alias="format", description="Or send Accept: text/csv or the XLSX media type"),
    ] = None,
    accept: Annotated[str | None, Header(include_in_schema=False)] = None,
):
    """Each department's figures with rank (by 好评率, then volume) and band, and the number of
    departments per band. A department key gets its own row (ranked among all)."""
    service.authorise(principal)
    table = await service.department_table(
        session,
        period,
        filters=service.Filters(channel=channel, rater_type=rater_type),
        min_sample=min_sample,
        sort=sort,
        order=order,
        only_department=principal.department_code if principal.role == "department" else None,
    )
    kind = _export_format(format_, accept)
    filename = f"departments-{period.label.replace('..', '_')}"
    if kind == "csv":
        return Response(
            exports.to_csv(table),
            media_type=exports.CSV_MEDIA_TYPE,
            headers={"Content-Disposition": f'attachment; filename="{filename}.csv"'},
        )
    if kind == "xlsx":
        return Response(
            exports.to_xlsx(table),
            media_type=exports.XLSX_MEDIA_TYPE,
            headers={"Content-Disposition": f'attachment; filename="{filename}.xlsx"'},
        )
    return _json(table)


@router.get(
    "/departments/{code}",
    response_model=DepartmentDetail,
    responses={**_ERRORS, 404: {"description": "No such department", **_PROBLEM}},
)
async def department(
    session: Session,
    principal: StatsReader,
    period: ThePeriod,
    code: Annotated[str, Path(max_length=64)],
):
    """One department: figures, rank and band, monthly trend, per-window and per-staff rows
    (ranked, for the quarterly 服务标兵), and the top 差评 reasons."""
    service.authorise(principal, code)
    return _json(await service.department_detail(session, period, code))


@router.get("/reasons", response_model=Reasons, responses=_ERRORS)
async def reasons(
    session: Session,
    principal: StatsReader,
    period: ThePeriod,
    channel: Channel | None = None,
    rater_type: RaterType | None = None,
):
    """Counted 差评 by reason tag, overall and per department (差评一件事, 改好一类事)."""
    service.authorise(principal)
    figures = await service.reasons(
        session,
        period,
        filters=service.Filters(channel=channel, rater_type=rater_type),
        only_department=principal.department_code if principal.role == "department" else None,
    )
    return _json(figures)
