"""The statistics routes: overview, department table, one department, reasons (JSON, CSV, XLSX)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Path, Query
from fastapi.responses import Response
from pydantic_core import to_json

from app.clock import Now
from app.config import AppSettings
from app.db import Session
from app.ratings.schemas import Channel
from app.stats import exports, regions, service, spreadsheet
from app.stats.access import StatsReader, authorise, only_department
from app.stats.periods import Period, resolve_period
from app.stats.schemas import (
    SAMPLE_GROUP_TEXT,
    DepartmentDetail,
    DepartmentTable,
    Overview,
    Reasons,
)
from app.stats.tally import SAMPLE_GROUPS

router = APIRouter(prefix="/v1/stats", tags=["statistics"])

RaterType = Literal["individual", "enterprise", "anonymous"]
_PROBLEM = {"content": {"application/problem+json": {}}}


def _responses(what: str, extra: dict[int | str, Any] | None = None) -> dict[int | str, Any]:
    return {
        200: {
            "description": f"{what} as JSON, CSV (UTF-8 with BOM) or XLSX, Chinese headings",
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                exports.XLSX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}},
            },
        },
        403: {"description": "Another department's figures", **_PROBLEM},
        406: {
            "description": "Accept names none of application/json, text/csv, the XLSX type",
            **_PROBLEM,
        },
        422: {
            "description": "Bad period or format (the problem names the parameter)",
            **_PROBLEM,
        },
        **(extra or {}),
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
IncludeChildren = Annotated[
    bool,
    Query(
        description="true: each department's figures include those of every department below "
        "it (parent_code), rates taken on the sums"
    ),
]
Region = Annotated[
    str | None,
    Query(
        pattern=r"^[0-9]{6,12}$",
        description="Only departments within this 行政区划 (GB/T 2260): 421100 selects every "
        "region code starting 4211",
    ),
]
SampleGroup = Annotated[
    Literal[SAMPLE_GROUPS] | None,  # type: ignore[valid-type]
    Query(description="Only the rows of this sample-size group: " + SAMPLE_GROUP_TEXT),
]


def format_param(
    format_: Annotated[
        Literal["json", "csv", "xlsx"] | None,
        Query(
            alias="format",
            description="json, csv or xlsx (any other: 422); or send Accept: application/json, "
            "text/csv or the XLSX media type (none of them: 406)",
        ),
    ] = None,
    accept: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> str:
    """Decided before any figure is computed."""
    return exports.negotiate(format_, accept)


Format = Annotated[str, Depends(format_param)]

ExcludeFlagged = Annotated[
    bool,
    Query(
        description="true: leave the valid ratings carrying integrity flags (刷好评/恶意差评 "
        "suspicions, GET /v1/ratings?flagged=true) out of every ratings count, rate, rank and "
        "band, ranks and bands taken after the exclusion; each ratings block says how many in "
        "excluded_flagged (the sheets: 已剔除疑似异常评价数, the file name ends in "
        "-excluding-flagged). Work orders are unchanged (a 差评 order is opened whatever the "
        "rating's flags). Default false: every valid rating counted, flagged ones reported in "
        "`flagged`"
    ),
]


def centre_param(settings: AppSettings) -> str:
    return settings.centre_name


# The centre's name, for the title row of the XLSX sheets
Centre = Annotated[str, Depends(centre_param)]


def _answer(
    kind: str,
    content: dict,
    sheet: Callable[[dict], spreadsheet.Sheet],
    filename: str,
    centre: str | None = None,
) -> Response:
    """The figures, already in the response model's shape: JSON serialised directly, or the
    same figures as a CSV or XLSX sheet.

    `response_model` stays on each route for the OpenAPI contract; validating a hundred
    department rows through it on every call cost more than computing them. The tests check
    that each body validates against its model and dumps back to itself.
    """
    if kind == "json":
        return Response(to_json(content), media_type=exports.JSON_MEDIA_TYPE)
    excluding = "-excluding-flagged" if content.get("exclude_flagged") else ""
    filename = f"{filename}-{content['period']['label'].replace('..', '_')}{excluding}.{kind}"
    disposition = {"Content-Disposition": f'attachment; filename="{filename}"'}
    if kind == "csv":
        body, media_type = spreadsheet.to_csv(sheet(content)), exports.CSV_MEDIA_TYPE
    else:
        table = sheet(content)
        caption = f"{centre} {table.title}" if centre else table.title
        body, media_type = spreadsheet.to_xlsx(table, caption), exports.XLSX_MEDIA_TYPE
    return Response(body, media_type=media_type, headers=disposition)


@router.get("/overview", response_model=Overview, responses=_responses("The centre's figures"))
async def overview(
    session: Session,
    principal: StatsReader,
    period: ThePeriod,
    kind: Format,
    centre: Centre,
    now: Now,
    exclude_flagged: ExcludeFlagged = False,
):
    """Centre totals: counted ratings by level, 好评率 and 差评率, by rater type and channel,
    with the work orders (差评, 12345 投诉 and 督查 counted apart)."""
    authorise(principal)
    figures = await service.overview(session, period, now=now, exclude_flagged=exclude_flagged)
    return _answer(kind, figures, exports.overview_sheet, "overview", centre)


@router.get("/departments", response_model=DepartmentTable, responses=_responses("The table"))
async def departments(
    session: Session,
    principal: StatsReader,
    period: ThePeriod,
    kind: Format,
    centre: Centre,
    now: Now,
    channel: Channel | None = None,
    rater_type: RaterType | None = None,
    min_sample: Annotated[
        int, Query(ge=0, description="Leave out departments with fewer counted ratings")
    ] = 0,
    sort: Annotated[Literal[service.SORTS], Query()] = "rank",  # type: ignore[valid-type]
    order: Literal["asc", "desc"] | None = Query(
        default=None, description="Default: ascending for rank, code, name; else descending"
    ),
    exclude_flagged: ExcludeFlagged = False,
    include_children: IncludeChildren = False,
    sample_group: SampleGroup = None,
    region: Region = None,
):
    """Each department's figures with rank (by 好评率, then volume) and band, and the number of
    departments per band. A department key gets its own row (ranked among all). Every
    department is listed (the registry's active ones and any other rated), with the same keys."""
    authorise(principal)
    table = await service.department_table(
        session,
        period,
        filters=service.Filters(channel=channel, rater_type=rater_type),
        min_sample=min_sample,
        sort=sort,
        order=order,
        only_department=only_department(principal),
        now=now,
        exclude_flagged=exclude_flagged,
        include_children=include_children,
        sample=sample_group,
        region=region,
    )
    return _answer(kind, table, exports.department_table_sheet, "departments", centre)


@router.get(
    "/departments/{code}",
    response_model=DepartmentDetail,
    responses=_responses(
        "The department's figures", {404: {"description": "No such department", **_PROBLEM}}
    ),
)
async def department(
    session: Session,
    principal: StatsReader,
    period: ThePeriod,
    kind: Format,
    centre: Centre,
    now: Now,
    code: Annotated[str, Path(max_length=64)],
    exclude_flagged: ExcludeFlagged = False,
):
    """One department: figures, rank and band, monthly trend, per-window and per-staff rows
    (ranked, for the quarterly 服务标兵), and the top 差评 reasons (in the JSON; the sheets
    leave them to the reasons export)."""
    authorise(principal, code)
    detail = await service.department_detail(
        session, period, code, now=now, exclude_flagged=exclude_flagged
    )
    return _answer(kind, detail, exports.department_detail_sheet, f"department-{code}", centre)


@router.get("/reasons", response_model=Reasons, responses=_responses("差评 by reason"))
async def reasons(
    session: Session,
    principal: StatsReader,
    period: ThePeriod,
    kind: Format,
    centre: Centre,
    channel: Channel | None = None,
    rater_type: RaterType | None = None,
    exclude_flagged: ExcludeFlagged = False,
    source: Annotated[
        Literal["ratings", "complaints", "inspections", "all"],
        Query(
            description="What is analysed: counted 差评 (their tags), complaints received (the "
            "reason class of their category code), counted inspection orders (their tags), or "
            "all three together; each reason row gives the count from each"
        ),
    ] = "ratings",
    department: Annotated[
        str | None,
        Query(
            max_length=64,
            description="The totals and rows of this department only (with include_children: "
            "and those below it); unknown: 422",
        ),
    ] = None,
    include_children: IncludeChildren = False,
):
    """Reason classes counted over 差评, complaints and inspections, overall and per department
    (差评一件事, 改好一类事)."""
    authorise(principal, department)
    figures = await regions.reasons(
        session,
        period,
        source=source,
        department=department,
        include_children=include_children,
        filters=service.Filters(channel=channel, rater_type=rater_type),
        only_department=only_department(principal),
        exclude_flagged=exclude_flagged,
    )
    return _answer(kind, figures, exports.reasons_sheet, "reasons", centre)
