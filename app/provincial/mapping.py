"""A provincial rating document <-> our rating, by a profile (pure, no I/O).

Inbound: `ProvincialRatingIn` takes the provincial field names; `to_rating` turns it into our
rating event (or field errors named as the province names them). Outbound: `rating_document`
and `rectification_document` write ours in the platform's fields.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from app.errors import field_error
from app.limits import InputModel
from app.provincial.profile import DEFAULT, Profile
from app.timefmt import BUSINESS_TZ


def _code(value: Any) -> Any:
    # Platforms send codes as numbers or as digit strings ("7"): both mean the code.
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return value


Code = Annotated[int, BeforeValidator(_code), Field(strict=False, ge=0, le=99)]
# Printable ASCII: the case number is part of the stored event id.
ProjectNo = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[\x21-\x7e]+$")]


class ProvincialRatingIn(InputModel):
    """One rating in a provincial interface's fields (办件评价). Unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")

    projectNo: ProjectNo = Field(description="办件编号 (case number)")
    taskCode: str | None = Field(default=None, min_length=1, max_length=64, description="事项编码")
    taskName: str | None = Field(default=None, min_length=1, max_length=200, description="事项名称")
    proDepart: str | None = Field(default=None, max_length=200, description="办理部门名称")
    proDepartCode: str = Field(min_length=1, max_length=64, description="办理部门编码 (ours)")
    proManager: str | None = Field(default=None, min_length=1, max_length=64, description="办理人")
    proStatus: Code | None = Field(default=None, description="1 待办理, 2 办理中, 3 已完结")
    areaCode: str | None = Field(
        default=None, pattern=r"^\d{6}(\d{3}|\d{6})?$", description="行政区划"
    )
    deptCode: str | None = Field(
        default=None,
        pattern=r"^[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}$",
        description="统一社会信用代码 (18 characters)",
    )
    pf: Code = Field(description="评价渠道 as the profile numbers them")
    userName: str | None = Field(default=None, min_length=1, max_length=100, description="评价人")
    userProp: Code | None = Field(default=None, description="1 自然人, 2-6 and 9 法人 and others")
    certKey: str | None = Field(
        default=None,
        max_length=64,
        description="证件号码: checked, never stored (the rating needs no identity number)",
    )
    satisfaction: Code = Field(description="1 非常不满意 … 5 非常满意")
    evalDetail: str | None = Field(default=None, max_length=200, description='e.g. "501,502"')
    writingEvaluation: str | None = Field(default=None, max_length=500, description="文字评价")
    assessTime: str = Field(max_length=40, description="yyyy-MM-dd HH:mm:ss, Beijing time")
    assessNumber: Code = Field(default=1, description="1 首次评价, 2 追评")


# Our field -> the provincial one, to name the province's field in every error.
OUR_FIELDS = {
    "event_id": "projectNo",
    "case_no": "projectNo",
    "channel": "pf",
    "department_code": "proDepartCode",
    "staff_id": "proManager",
    "service_item_code": "taskCode",
    "service_item_name": "taskName",
    "level": "satisfaction",
    "tags": "evalDetail",
    "comment": "writingEvaluation",
    "rater": "userProp",
    "rater.name": "userName",
    "rater.type": "userProp",
    "rated_at": "assessTime",
    "assess_number": "assessNumber",
}


def provincial_field(field: str) -> str:
    """Our error's field named as the province names it."""
    head = field.split(".", 1)[0]
    return OUR_FIELDS.get(field) or OUR_FIELDS.get(head) or field


def event_id(project_no: str, assess_number: int) -> str:
    """The stored event id: a case's first rating and its follow-up, once per sender."""
    return f"prov:{project_no}:{assess_number}"


def to_rating(
    doc: ProvincialRatingIn, profile: Profile
) -> tuple[dict[str, Any] | None, bool, list]:
    """Our rating event for `doc`, whether it is a default rating, and the errors."""
    errors = []
    channel = profile.channels.get(doc.pf)
    if channel is None:
        codes = ", ".join(str(c) for c in sorted(profile.channels))
        errors.append(field_error("pf", f"not a channel code of profile {profile.name} ({codes})"))
    is_default = channel == DEFAULT
    if doc.satisfaction not in range(1, 6):
        errors.append(field_error("satisfaction", "1 非常不满意 … 5 非常满意"))
    if doc.assessNumber not in (1, 2):
        errors.append(field_error("assessNumber", "1 首次评价 or 2 追评"))
    if doc.proStatus is not None and doc.proStatus not in (1, 2, 3):
        errors.append(field_error("proStatus", "1 待办理, 2 办理中 or 3 已完结"))
    rater_type = None
    if doc.userProp is not None:
        rater_type = profile.rater_types.get(doc.userProp)
        if rater_type is None:
            codes = ", ".join(str(c) for c in sorted(profile.rater_types))
            errors.append(
                field_error("userProp", f"not a rater code of profile {profile.name} ({codes})")
            )
    tags: list[str] = []
    for code in (c.strip() for c in (doc.evalDetail or "").split(",")):
        if not code:
            continue
        tag = profile.reasons.get(code)
        if tag is None:
            errors.append(field_error("evalDetail", f"unknown reason code {code!r}", "unknown"))
        elif tag not in tags:
            tags.append(tag)
    try:
        local = datetime.strptime(doc.assessTime.strip(), profile.time_format)
        rated_at = local.replace(tzinfo=BUSINESS_TZ)  # the interfaces' time is Beijing time
    except ValueError:
        errors.append(field_error("assessTime", f"not in the format {profile.time_format}"))
    if errors:
        return None, is_default, errors
    rater = None
    if rater_type is not None or doc.userName is not None:
        rater = {"type": rater_type or "individual"}
        if doc.userName is not None:
            rater["name"] = doc.userName
    event = {
        "event_id": event_id(doc.projectNo, doc.assessNumber),
        "channel": profile.default_channel if is_default else channel,
        "department_code": doc.proDepartCode,
        "case_no": doc.projectNo,
        "service_item_code": doc.taskCode,
        "service_item_name": doc.taskName,
        "staff_id": doc.proManager,
        "level": doc.satisfaction,
        "tags": tags,
        "comment": doc.writingEvaluation,
        "rater": rater,
        "rated_at": rated_at.isoformat(),
        "assess_number": doc.assessNumber,
    }
    return {k: v for k, v in event.items() if v is not None}, is_default, []


def _time(value: datetime, profile: Profile) -> str:
    return value.astimezone(BUSINESS_TZ).strftime(profile.time_format)


def rating_document(rating: dict[str, Any], profile: Profile, area_code: str | None) -> dict:
    """A stored rating (clear values) in the platform's fields."""
    codes = profile.tag_codes()
    return {
        "projectNo": rating["case_no"] or f"HCP{rating['id']}",
        "taskCode": rating["service_item_code"],
        "taskName": rating["service_item_name"],
        "proDepart": rating["department_name"],
        "proDepartCode": rating["department_code"],
        "areaCode": area_code,
        "pf": profile.push.channels[rating["channel"]],
        "satisfaction": rating["level"],
        "evalDetail": ",".join(codes[t] for t in rating["tags"] if t in codes),
        "writingEvaluation": rating["comment"],
        "assessTime": _time(rating["rated_at"], profile),
        "assessNumber": rating["assess_number"],
        "userProp": profile.rater_code(rating["rater_type"]),
        "userName": rating["rater_name"],
    }


def rectification_document(order: dict[str, Any], profile: Profile, area_code: str | None) -> dict:
    """A closed work order's result (整改结果) in the platform's fields."""
    return {
        "projectNo": order["case_no"] or f"HCP{order['rating_id']}",
        "proDepartCode": order["department_code"],
        "areaCode": area_code,
        "workOrderNo": str(order["id"]),
        "rectifyResult": order["result"],
        "rectifyTime": _time(order["closed_at"], profile),
        "satisfaction": order["level"],
        "assessNumber": order["assess_number"],
    }


class ItemResult(BaseModel):
    index: int
    projectNo: str | None
    assessNumber: int | None
    status: str
    rating_id: int | None = None
    is_default: bool = False
    errors: list[dict[str, str]] | None = None
