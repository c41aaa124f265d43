"""The case ledger's routes: import, read one case, the case figures."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response
from pydantic_core import to_json

from app.auth.dependencies import require_roles
from app.auth.service import Principal
from app.cases import service
from app.cases.schemas import CaseImportIn, CaseImportResult, CaseOut, CaseTable, Group
from app.db import Session
from app.stats.access import StatsReader, authorise, only_department
from app.stats.router import ThePeriod

router = APIRouter(tags=["cases"])

_PROBLEM = {"content": {"application/problem+json": {}}}
Importer = Annotated[Principal, Depends(require_roles("admin", "portal"))]


@router.post(
    "/v1/cases/import",
    response_model=CaseImportResult,
    responses={
        403: {"description": "Not an admin or portal key", **_PROBLEM},
        422: {"description": "A bad case (named by its index): nothing stored", **_PROBLEM},
    },
)
async def import_cases(body: CaseImportIn, session: Session, principal: Importer):
    """Import up to 10,000 cases (办件) from a business system; idempotent on case_no: a case
    sent again as stored is left, a changed one replaced (e.g. once finished)."""
    return await service.import_cases(session, body.cases)


@router.get(
    "/v1/cases/{case_no}",
    response_model=CaseOut,
    responses={403: _PROBLEM, 404: _PROBLEM, 422: _PROBLEM},
)
async def get_case(
    case_no: Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[\x21-\x7e]+$")],
    session: Session,
    principal: StatsReader,
):
    """One case and whether it was rated (admin, reader, the case's department)."""
    case = await service.get_case(session, case_no)
    authorise(principal, case["department_code"])
    return case


@router.get(
    "/v1/stats/cases",
    response_model=CaseTable,
    tags=["statistics"],
    responses={
        403: {"description": "Another department's figures", **_PROBLEM},
        422: {"description": "Bad period or group (the problem names it)", **_PROBLEM},
    },
)
async def case_table(
    period: ThePeriod,
    session: Session,
    principal: StatsReader,
    group: Group = Query(
        default="department", description="One row per department, window, staff or item"
    ),
    department_code: str | None = Query(default=None, min_length=1, max_length=64),
):
    """办件量, 按时办结, 主动评价率 (cases rated / cases) and coverage (窗口全覆盖) for a period.

    A case belongs to the period of its accepted time (受理时间, Asia/Shanghai). It is rated
    when a counted rating names its case_no (withdrawn, invalidated and survey ratings do not
    count; a follow-up does not count it twice). A department key sees its own rows only."""
    authorise(principal, department_code)
    code = department_code or only_department(principal)
    # Serialised directly: validating thousands of rows through the response model would cost
    # more than computing them (the tests check each body against CaseTable).
    content = await service.case_figures(session, period, group, code)
    return Response(to_json(content), media_type="application/json")
