"""The early-warning rules page (预警规则): every rule with what it watches, in words; admins add
a rule of each kind, switch one off or on, and delete it; readers see the list. The same service
calls and checks as /v1/alert-rules (app/alerts/), so a rule added here and one posted to the
API are the same thing, and a bad value gets the API's reason, in Chinese, beside its field."""

from __future__ import annotations

from typing import Any, NamedTuple
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from pydantic import ValidationError

from app.alerts import service
from app.alerts.schemas import RuleIn
from app.console.alerts import KIND_ZH
from app.console.pages import (
    ConsoleRoute,
    User,
    check_csrf,
    field_messages,
    problem_fields,
    problem_text,
    read_form,
    render,
    require_role,
    see_other,
)
from app.db import Session
from app.errors import ProblemError
from app.registry import service as registry

router = APIRouter(prefix="/console/registry", include_in_schema=False, route_class=ConsoleRoute)

PAGE = "/console/registry/alert-rules"


class FormField(NamedTuple):
    name: str  # the API's name
    label: str
    default: str = ""
    inputmode: str | None = "numeric"
    maxlength: int | None = None
    required: bool = True


# Each kind's own fields in the form's order: one form a kind (the page loops over these).
FORMS: dict[str, tuple[FormField, ...]] = {
    "window_bad_burst": (
        FormField(
            "window_no", "窗口编号（可空：任一窗口）", inputmode=None, maxlength=32, required=False
        ),
        FormField("threshold", "差评条数 ≥", "3"),
        FormField("minutes", "时间窗（分钟）", "30"),
    ),
    "department_good_rate": (
        FormField("sample_size", "最近评价条数", "50"),
        FormField("min_rate_percent", "好评率低于（%）", "95", inputmode="decimal"),
    ),
    "device_silent": (FormField("working_days", "连续无评价的工作日", "1"),),
    "order_due_soon": (),
}


def describe(kind: str, params: dict[str, Any]) -> str:
    """What the rule watches for, in a sentence."""
    if kind == "window_bad_burst":
        where = f"窗口 {params['window_no']}" if params.get("window_no") else "任一窗口"
        return f"{where} {params.get('minutes')} 分钟内差评达到 {params.get('threshold')} 条"
    if kind == "department_good_rate":
        return (
            f"最近 {params.get('sample_size')} 条计入评价的好评率"
            f"低于 {params.get('min_rate_percent')}%"
        )
    if kind == "device_silent":
        return f"评价器连续 {params.get('working_days', 1)} 个工作日没有评价"
    if kind == "order_due_soon":
        return "整改工单进入临期（按工单期限设置）"
    return ""


def body_of(form: dict[str, str]) -> dict[str, Any]:
    """The API's body for the form of one kind, empty fields left out (the API's defaults); the
    numbers as typed: RuleIn reads "30" as 30 and names the field of one it cannot read."""
    kind = form.get("kind", "")
    body: dict[str, Any] = {"kind": kind, "name": (form.get("name") or "").strip()}
    for name in ("department_code", *(f.name for f in FORMS.get(kind, ()))):
        value = (form.get(name) or "").strip()
        if value:
            body[name] = value
    return body


async def _page(request, session, user, status_code: int = 200, **context: Any):
    rules = [service.rule_view(rule) for rule in await service.list_rules(session)]
    departments = await registry.list_departments(session, active=True)
    for rule in rules:
        rule["described"] = describe(rule["kind"], rule["params"])
    return render(
        request,
        "console/alert_rules.html",
        {
            "rules": rules,
            "kinds": KIND_ZH,
            "forms": FORMS,
            "departments": {d.code: d.name for d in departments},
            "editable": user.role == "admin",
            **context,
        },
        user=user,
        status_code=status_code,
    )


DONE = {"created": "已新增", "enabled": "已启用", "disabled": "已停用", "deleted": "已删除"}


@router.get("/alert-rules")
async def rules_page(request: Request, session: Session, user: User):
    """Every rule; the forms to add one (admins)."""
    require_role(user, "admin", "reader")
    done = DONE.get(request.query_params.get("done", ""))
    rule_id = request.query_params.get("rule", "")
    notice = f"{done}预警规则 #{rule_id}" if done and rule_id.isdigit() else None
    return await _page(request, session, user, notice=notice)


@router.post("/alert-rules")
async def rules_post(request: Request, session: Session, user: User):
    """Add a rule (op=create), switch one off or on (op=toggle) or delete it (op=delete)."""
    require_role(user, "admin")
    form = await read_form(request)
    check_csrf(request, user, form)
    op = form.get("op")
    now = request.app.state.clock()
    try:
        if op == "create":
            rule = await service.create_rule(session, RuleIn.model_validate(body_of(form)), now=now)
            done = "created"
        else:
            rule_id = int(form.get("rule_id", ""))
            if op == "toggle":
                rule = await service.get_rule(session, rule_id)
                rule = await service.update_rule(
                    session, rule_id, {"active": not rule.active}, now=now
                )
                done = "enabled" if rule.active else "disabled"
            elif op == "delete":
                rule = await service.get_rule(session, rule_id)
                await service.delete_rule(session, rule_id, now=now)
                done = "deleted"
            else:
                raise ValueError(op)
    except ValidationError as exc:
        await session.rollback()
        return await _page(
            request, session, user, error="填写的内容有误", fields=field_messages(exc),
            kind=form.get("kind"), submitted=form, status_code=422,
        )  # fmt: skip
    except ProblemError as exc:
        await session.rollback()
        title, detail = problem_text(exc)
        return await _page(
            request, session, user, error=detail or title, fields=problem_fields(exc),
            kind=form.get("kind"), submitted=form, status_code=exc.status,
        )  # fmt: skip
    except ValueError:  # a malformed rule id or operation: the form was not ours
        await session.rollback()
        return await _page(request, session, user, error="无法识别的操作", status_code=422)
    return see_other(f"{PAGE}?{urlencode({'done': done, 'rule': rule.id})}")
