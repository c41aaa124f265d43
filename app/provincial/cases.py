"""Cases (办件) received in a provincial interface's fields, stored in the case ledger.

The same profile that reads a province's ratings reads its cases: `projectNo` (办件编号),
`taskCode`/`taskName` (事项), `proDepartCode` (the department: our department code, as for the
ratings; `proDepart`, its name, is not stored), `proManager` (the staff member's 工号),
`proStatus` (1 待办理, 2 办理中, 3 已完结), `areaCode` (checked, not stored: a department carries
its own region code), and `acceptTime`/`finishTime` in the profile's time format, Beijing time.
They go to the case ledger's import (app.cases.service.import_cases): idempotent on the case
number, all or nothing, every error named by the provincial field."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import ConfigDict, Field, TypeAdapter, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from app.cases import service as cases
from app.errors import ValidationProblem, errors_detail, field_error, pydantic_errors
from app.limits import InputModel
from app.provincial.mapping import Code, ProjectNo
from app.provincial.profile import Profile
from app.timefmt import BUSINESS_TZ


class ProvincialCaseIn(InputModel):
    """One case in a provincial interface's fields. Unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")

    projectNo: ProjectNo = Field(description="办件编号 (case number)")
    taskCode: str | None = Field(default=None, min_length=1, max_length=64, description="事项编码")
    taskName: str | None = Field(default=None, min_length=1, max_length=200, description="事项名称")
    proDepart: str | None = Field(default=None, max_length=200, description="办理部门名称")
    proDepartCode: str = Field(min_length=1, max_length=64, description="办理部门编码 (ours)")
    proManager: str | None = Field(
        default=None, min_length=1, max_length=64, description="办理人 (工号)"
    )
    proStatus: Code = Field(description="1 待办理, 2 办理中, 3 已完结 (needs finishTime)")
    areaCode: str | None = Field(
        default=None, pattern=r"^\d{6}(\d{3}|\d{6})?$", description="行政区划"
    )
    acceptTime: str = Field(max_length=40, description="受理时间, the profile's format, Beijing")
    finishTime: str | None = Field(
        default=None, max_length=40, description="办结时间 (proStatus 3), the profile's format"
    )


class ProvincialCasesIn(InputModel):
    model_config = ConfigDict(extra="forbid")

    cases: list[Any] = Field(
        min_length=1,
        max_length=cases.MAX_IMPORT,
        description=f"Up to {cases.MAX_IMPORT:,} cases; one bad case refuses the whole call",
        # Items checked one by one (to name the province's field); the contract shows their shape.
        json_schema_extra={"items": ProvincialCaseIn.model_json_schema()},
    )


_adapter = TypeAdapter(ProvincialCaseIn)
# The ledger's field -> the provincial one, to name the province's field in the ledger's errors.
OUR_FIELDS = {
    "case_no": "projectNo",
    "department_code": "proDepartCode",
    "staff_id": "proManager",
    "service_item_code": "taskCode",
    "service_item_name": "taskName",
    "accepted_at": "acceptTime",
    "finished_at": "finishTime",
}


def _time(value: str, profile: Profile) -> datetime:
    return datetime.strptime(value.strip(), profile.time_format).replace(tzinfo=BUSINESS_TZ)


def to_case(doc: ProvincialCaseIn, profile: Profile) -> tuple[dict[str, Any] | None, list]:
    """The ledger's case for `doc`, or the errors (fields as the province names them)."""
    errors, accepted, finished = [], None, None
    try:
        accepted = _time(doc.acceptTime, profile)
    except ValueError:
        errors.append(field_error("acceptTime", f"not in the format {profile.time_format}"))
    if doc.finishTime is not None:
        try:
            finished = _time(doc.finishTime, profile)
        except ValueError:
            errors.append(field_error("finishTime", f"not in the format {profile.time_format}"))
    if doc.proStatus not in (1, 2, 3):
        errors.append(field_error("proStatus", "1 待办理, 2 办理中 or 3 已完结"))
    elif doc.proStatus == 3 and doc.finishTime is None:
        errors.append(field_error("finishTime", "required when proStatus is 3 (已完结)", "missing"))
    elif doc.proStatus != 3 and doc.finishTime is not None:
        errors.append(
            field_error("proStatus", "a case with a finishTime is 3 (已完结)", "inconsistent")
        )
    if accepted and finished and finished < accepted:
        errors.append(field_error("finishTime", "is before acceptTime"))
    if errors:
        return None, errors
    case = {
        "case_no": doc.projectNo,
        "department_code": doc.proDepartCode,
        "staff_id": doc.proManager,
        "service_item_code": doc.taskCode,
        "service_item_name": doc.taskName,
        "accepted_at": accepted.isoformat(),
        "finished_at": finished.isoformat() if finished else None,
    }
    return case, []


def _provincial(field: str) -> str:
    """cases.3.department_code -> cases.3.proDepartCode."""
    parts = field.split(".")
    if len(parts) >= 3 and parts[0] == "cases":
        parts[2] = OUR_FIELDS.get(parts[2], parts[2])
    return ".".join(parts)


async def import_cases(session: AsyncSession, docs: list[Any], profile: Profile) -> dict[str, int]:
    """Map every document and import them all (nothing stored when one is bad: 422)."""
    found, errors = [], []
    for index, raw in enumerate(docs):
        try:
            doc = _adapter.validate_python(raw)
        except ValidationError as exc:
            problems = pydantic_errors(list(exc.errors()))
        else:
            case, problems = to_case(doc, profile)
            if case is not None:
                found.append(case)
        errors += [
            {**e, "field": f"cases.{index}" + ("" if e["field"] == "(body)" else f".{e['field']}")}
            for e in problems
        ]
    if errors:
        raise ValidationProblem(errors_detail(errors, 5), errors=errors)
    try:
        return await cases.import_cases(session, found)
    except ValidationProblem as exc:
        exc.errors = [{**e, "field": _provincial(e["field"])} for e in exc.errors or []]
        exc.detail = errors_detail(exc.errors, 5)
        raise
