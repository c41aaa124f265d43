"""The reports routes: the composite score (JSON) and the bulletin (DOCX, XLSX, HTML, JSON)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from pydantic_core import to_json

from app.auth.dependencies import require_roles
from app.auth.service import Principal
from app.clock import Now
from app.config import AppSettings, ReportSettings
from app.db import Session
from app.reports import bulletin, render_docx, render_html, render_xlsx, service
from app.reports.schemas import ScoreTable
from app.reports.score import ScorePolicy
from app.reports.wording import bulletin_period
from app.stats.access import StatsReader, only_department

router = APIRouter(prefix="/v1/reports", tags=["reports"])

DOCX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
HTML_MEDIA_TYPE = "text/html; charset=utf-8"
_PROBLEM = {"content": {"application/problem+json": {}}}
_BINARY = {"schema": {"type": "string", "format": "binary"}}

# The bulletin ranks every department: the centre's readers only, not a department key.
BulletinReader = Annotated[Principal, Depends(require_roles("admin", "reader"))]

PeriodLabel = Annotated[
    str,
    Query(
        max_length=20,
        description="A quarter (2023Q4), a month (2023-10) or a year (2023), Asia/Shanghai; "
        "环比 is taken against the period before",
    ),
]


def policy_of(settings: ReportSettings) -> ScorePolicy:
    return ScorePolicy(
        weights=settings.score_weights,
        formula_version=settings.formula_version,
        complaints_zero_at=settings.complaints_zero_at,
        commend_top=settings.commend_top,
        commend_min_score=settings.commend_min_score,
        commend_min_counted=settings.commend_min_counted,
        bottom=settings.bottom,
    )


@router.get(
    "/scores",
    response_model=ScoreTable,
    responses={
        403: {"description": "A role that reads no statistics", **_PROBLEM},
        422: {"description": "Bad period or level (the problem names it)", **_PROBLEM},
    },
)
async def scores(
    session: Session,
    principal: StatsReader,
    settings: AppSettings,
    now: Now,
    period: PeriodLabel,
    level: Annotated[
        Literal["department", "window", "staff"],
        Query(description="The units scored: departments, windows or staff members"),
    ] = "department",
) -> Any:
    """考核得分: each department's weighted score from 好评率, 按期整改率, 实名差评回访率,
    complaints per 1,000 ratings and 主动评价率, ranked, with 标兵 (commended) and the bottom
    marked; per window or staff member (`level`) 实名差评回访率 is not kept and 按期整改率
    counts all the unit's orders. The weights and the formula's version come from the settings
    and are given in `policy`; an input without a denominator is unavailable (named in the unit's
    `unavailable`, and in `unavailable_inputs` when no unit has it) and its weight is shared
    out over the others in proportion. A department key gets its own row (ranked among all)."""
    table = await service.scores(
        session,
        bulletin_period(period),
        now=now,
        policy=policy_of(settings.reports),
        level=level,
        only_department=only_department(principal),
    )
    return Response(to_json(table), media_type="application/json")


_RENDERERS = {
    "docx": (render_docx.to_docx, DOCX_MEDIA_TYPE),
    "xlsx": (render_xlsx.to_xlsx, XLSX_MEDIA_TYPE),
    "html": (render_html.to_html, HTML_MEDIA_TYPE),
}


@router.get(
    "/bulletin",
    responses={
        200: {
            "description": "The bulletin: a Word document (docx), a workbook with one sheet "
            "per table and native charts (xlsx), a printable page (html) or its structure "
            "(json)",
            "content": {
                "application/json": {"schema": {"type": "object"}},
                DOCX_MEDIA_TYPE: _BINARY,
                XLSX_MEDIA_TYPE: _BINARY,
                "text/html": {"schema": {"type": "string"}},
            },
        },
        403: {"description": "A department key, or a role that reads no statistics", **_PROBLEM},
        422: {"description": "Bad period or format (the problem names it)", **_PROBLEM},
    },
)
async def get_bulletin(
    session: Session,
    principal: BulletinReader,
    settings: AppSettings,
    now: Now,
    period: PeriodLabel,
    format_: Annotated[
        Literal["docx", "xlsx", "html", "json"],
        Query(alias="format", description="docx (default), xlsx, html or json"),
    ] = "docx",
) -> Response:
    """The quarterly bulletin (通报), in Chinese, titled with the centre's name and period:
    counts by level and 好评率, 办件量 and 主动评价率, 差评 and their rectification, complaints
    by source and by unit, departments banded and ranked, problems by class, the 考核得分 with
    its 标兵 and bottom; every figure beside the previous period's (环比). Sections whose
    source is not kept yet say 本期无数据."""
    the_period = bulletin_period(period)
    reports = settings.reports
    made = await bulletin.build(
        session, the_period, centre=settings.centre_name, now=now, policy=policy_of(reports)
    )
    if format_ == "json":
        return Response(to_json(made.as_json()), media_type="application/json")
    render, media_type = _RENDERERS[format_]
    filename = f"bulletin-{the_period.label}.{format_}"
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    if format_ == "html":
        headers = {}
    return Response(render(made), media_type=media_type, headers=headers)
