"""The registry pages (admin): keys (issue, shown once; rotate; revoke), departments (list and
import from CSV or Excel with a preview and per-row errors), the working-day calendar, the
audit log. Each calls the same service functions as the API."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from pydantic import ValidationError

from app.audit import service as audit
from app.auth import issuing
from app.auth import service as auth_service
from app.auth.schemas import KeyCreate
from app.config import BUSINESS_TZ
from app.console import sheets
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
from app.registry.schemas import DepartmentImportItem
from app.workorders import calendar_service

router = APIRouter(prefix="/console/registry", include_in_schema=False, route_class=ConsoleRoute)

ISSUABLE_ROLES = {
    "department": "部门",
    "reader": "督查（只读）",
    "admin": "管理员",
    "portal": "网上渠道",
    "hotline": "12345热线",
}


async def _keys_page(request, session, user, status_code: int = 200, **context: Any):
    keys = await auth_service.list_keys(session)
    departments = await registry.list_departments(session, active=True)
    response = render(
        request,
        "console/keys.html",
        {"keys": keys, "roles": ISSUABLE_ROLES, "departments": departments, **context},
        user=user,
        status_code=status_code,
    )
    response.headers["Cache-Control"] = "no-store"  # a new key is shown on this page once
    return response


@router.get("/keys")
async def keys_page(request: Request, session: Session, user: User):
    """Every key (never a secret), and the form to issue one."""
    require_role(user, "admin")
    return await _keys_page(request, session, user)


@router.post("/keys")
async def keys_post(request: Request, session: Session, user: User):
    """Issue a key for a new client, rotate (another key for a client) or revoke; a new key is
    shown once, on the answer to this POST (never in a URL or a redirect)."""
    require_role(user, "admin")
    form = await read_form(request)
    check_csrf(request, user, form)
    op = form.get("op")
    try:
        if op == "revoke":
            revoked = await auth_service.revoke_key(session, uuid.UUID(form.get("key_id", "")))
            return await _keys_page(request, session, user, notice=f"已吊销密钥 {revoked.prefix}…")
        if op == "rotate":
            body = KeyCreate(client_id=uuid.UUID(form.get("client_id", "")))
        else:
            body = KeyCreate.model_validate(
                {
                    "role": form.get("role") or None,
                    "client_name": (form.get("client_name") or "").strip() or None,
                    "department_code": form.get("department_code") or None
                    if form.get("role") == "department"
                    else None,
                }
            )
        api_key, client, key = await issuing.issue(session, body)
    except ValueError as exc:  # a malformed id, or the form's fields (ValidationError)
        await session.rollback()
        fields = field_messages(exc) if isinstance(exc, ValidationError) else {}
        return await _keys_page(
            request, session, user, error="填写的内容有误", fields=fields, status_code=422
        )
    except ProblemError as exc:
        await session.rollback()
        title, detail = problem_text(exc)
        return await _keys_page(
            request,
            session,
            user,
            error=f"{title}：{detail}",
            fields=problem_fields(exc),
            status_code=exc.status,
        )
    return await _keys_page(request, session, user, issued={"key": key, "client": client})


def parse_departments_csv(text: str) -> tuple[list[dict[str, Any]], list[DepartmentImportItem]]:
    """Rows of a CSV (code,name,parent_code[,active]; a header row optional) with each row's
    errors in Chinese; and the valid items."""
    rows, items = [], []
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    for number, cells in enumerate(reader, start=1):
        if not any(c.strip() for c in cells):
            continue
        if number == 1 and cells and cells[0].strip().lower() in ("code", "部门代码", "代码"):
            continue
        cells = [c.strip() for c in cells] + ["", "", "", ""]
        values = {
            "code": cells[0],
            "name": cells[1],
            "parent_code": cells[2] or None,
            "active": cells[3].lower() not in ("false", "0", "否", "停用"),
        }
        row = {"line": number, **values, "errors": {}}
        try:
            items.append(DepartmentImportItem.model_validate(values))
        except ValidationError as exc:
            row["errors"] = field_messages(exc)
        rows.append(row)
    return rows, items


async def _departments_page(request, session, user, status_code: int = 200, **context: Any):
    departments = await registry.list_departments(session)
    children: dict[str | None, list] = {}
    for d in departments:
        children.setdefault(d.parent_code, []).append(d)
    return render(
        request,
        "console/departments.html",
        {"departments": departments, "children": children, **context},
        user=user,
        status_code=status_code,
    )


@router.get("/departments")
async def departments_page(request: Request, session: Session, user: User):
    """The department tree, and the import form."""
    require_role(user, "admin")
    return await _departments_page(request, session, user)


@router.post("/departments/import")
async def departments_import(request: Request, session: Session, user: User):
    """Preview a CSV or Excel import (each row's errors beside it), or import it (all or
    nothing)."""
    require_role(user, "admin")
    form = await read_form(request)
    check_csrf(request, user, form)
    text = form.get("csv", "")
    op = form.get("op")
    if form.get("xlsx"):
        # An Excel file: read into CSV text here, then always previewed first.
        try:
            text, op = sheets.xlsx_to_csv(sheets.decode_upload(form["xlsx"])), "preview"
        except sheets.SheetError as exc:
            return await _departments_page(
                request, session, user, status_code=422, error=str(exc), csv_text=text
            )
    rows, items = parse_departments_csv(text)
    bad = any(r["errors"] for r in rows) or not rows
    if op != "import" or bad:
        return await _departments_page(
            request,
            session,
            user,
            status_code=422 if bad and op == "import" else 200,
            preview=rows,
            csv_text=text,
            can_import=not bad,
        )
    try:
        _, created = await registry.import_departments(session, items)
    except ProblemError as exc:
        await session.rollback()
        for e in exc.errors or []:
            parts = e["field"].split(".")
            if len(parts) == 3 and parts[1].isdigit():
                rows[int(parts[1])]["errors"][parts[2]] = {
                    "duplicate code in this import": "本次导入中代码重复",
                    "unknown department": "上级部门不存在",
                }.get(e["message"], e["message"])
        return await _departments_page(
            request,
            session,
            user,
            status_code=exc.status,
            preview=rows,
            csv_text=text,
            can_import=False,
            error=problem_text(exc)[0],
        )
    return see_other(f"/console/registry/departments?imported={len(items)}&created={created}")


@router.get("/calendar")
async def calendar_page(request: Request, session: Session, user: User):
    """A year's working-day arrangement, and the form to enter a newly published one."""
    require_role(user, "admin")
    this_year = request.app.state.clock().astimezone(BUSINESS_TZ).year
    raw = request.query_params.get("year", "")
    year = int(raw) if raw.isdigit() else this_year
    year = min(max(year, 2000), 2100)
    view = await calendar_service.get_calendar_year(session, year)
    return render(request, "console/calendar.html", {"year": year, "view": view}, user=user)


def _dates(text: str) -> list[date]:
    return [date.fromisoformat(part) for part in text.replace(",", " ").split() if part]


@router.post("/calendar")
async def calendar_post(request: Request, session: Session, user: User):
    """Enter a year (holidays and makeup workdays, one date per line)."""
    require_role(user, "admin")
    form = await read_form(request)
    check_csrf(request, user, form)
    year = int(form.get("year", "0") or 0)
    try:
        if not 2000 <= year <= 2100:
            raise ValueError("year")
        holidays, workdays = _dates(form.get("holidays", "")), _dates(form.get("workdays", ""))
        _, recomputed = await calendar_service.put_calendar_year(
            session,
            user.principal,
            year,
            holidays=holidays,
            workdays=workdays,
            note=form.get("note") or None,
            now=request.app.state.clock(),
        )
    except (ValueError, ProblemError) as exc:
        await session.rollback()
        message = (
            problem_text(exc)[1]
            if isinstance(exc, ProblemError)
            else "日期格式应为 2027-01-01，每行一个"
        )
        view = await calendar_service.get_calendar_year(session, min(max(year, 2000), 2100))
        return render(
            request,
            "console/calendar.html",
            {"year": year, "view": view, "error": message, "form": form},
            user=user,
            status_code=422,
        )
    return see_other(f"/console/registry/calendar?year={year}&recomputed={recomputed}")


@router.get("/audit")
async def audit_page(request: Request, session: Session, user: User):
    """The audit log, newest first, filtered by action or target (a prefix with '*')."""
    require_role(user, "admin")
    q = request.query_params
    filters = audit.AuditFilter(
        action=(q.get("action") or "").strip() or None,
        target=(q.get("target") or "").strip() or None,
    )
    entries, next_cursor = await audit.list_entries(
        session, filters, limit=100, cursor=q.get("cursor") or None
    )
    return render(
        request,
        "console/audit.html",
        {"entries": entries, "next_cursor": next_cursor, "q": dict(q)},
        user=user,
    )
