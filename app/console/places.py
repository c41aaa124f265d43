"""More registry pages (admin): a department's windows and tablets, and the webhooks with their
deliveries; the same service functions as /v1/departments, /v1/devices and /v1/webhooks."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Path, Request
from pydantic import ValidationError

from app.console.pages import (
    ConsoleRoute,
    User,
    check_csrf,
    field_messages,
    problem_text,
    read_form,
    render,
    require_role,
    see_other,
)
from app.db import Session
from app.errors import ProblemError
from app.notify import service as notify
from app.registry import service as registry
from app.registry.schemas import WindowIn

router = APIRouter(prefix="/console/registry", include_in_schema=False, route_class=ConsoleRoute)


async def windows_page_of(request, session, user, code: str, status_code: int = 200, **extra):
    """The windows page of a department (with a form's error or an enrolment shown once)."""
    department = await registry.get_department(session, code)
    windows = await registry.list_windows(session, code)
    devices = await registry.list_devices(session, code)
    context = {"department": department, "windows": windows, "devices": devices, **extra}
    return render(request, "console/windows.html", context, user=user, status_code=status_code)


@router.get("/departments/{code}/windows")
async def windows_page(
    request: Request, session: Session, user: User, code: str = Path(max_length=64)
):
    """A department's windows and the tablets at them."""
    require_role(user, "admin")
    return await windows_page_of(request, session, user, code)


@router.post("/departments/{code}/windows")
async def windows_post(
    request: Request, session: Session, user: User, code: str = Path(max_length=64)
):
    """Add or rename a window (PUT /v1/departments/{code}/windows/{no})."""
    require_role(user, "admin")
    form = await read_form(request)
    check_csrf(request, user, form)
    window_no = (form.get("window_no") or "").strip()
    fields: dict[str, str] = {}
    try:
        if not window_no or len(window_no) > 32:
            fields["window_no"] = "必填，最多 32 个字符"
            raise ValueError(window_no)
        body = WindowIn(name=(form.get("name") or "").strip(), active=form.get("active") != "no")
        await registry.put_window(session, code, window_no, body)
    except (ValueError, ProblemError) as exc:
        await session.rollback()
        if isinstance(exc, ValidationError):
            fields.update(field_messages(exc))
        error = problem_text(exc)[1] if isinstance(exc, ProblemError) else "填写的内容有误"
        status = exc.status if isinstance(exc, ProblemError) else 422
        return await windows_page_of(
            request, session, user, code, status_code=status, error=error, fields=fields
        )
    return see_other(f"/console/registry/departments/{code}/windows?saved={window_no}")


@router.get("/webhooks")
async def webhooks_page(request: Request, session: Session, user: User):
    """The webhook subscriptions with their delivery counts, last success and last error."""
    require_role(user, "admin")
    subscriptions = await notify.list_subscriptions(session)
    status = await notify.delivery_status(session, [s.id for s in subscriptions])
    return render(
        request,
        "console/webhooks.html",
        {"subscriptions": subscriptions, "status": status},
        user=user,
    )


@router.get("/webhooks/{subscription_id}")
async def deliveries_page(
    request: Request, session: Session, user: User, subscription_id: uuid.UUID
):
    """One subscription's latest deliveries."""
    require_role(user, "admin")
    subscription = await notify.get_subscription(session, subscription_id)
    deliveries = await notify.list_deliveries(session, subscription_id, limit=100, status=None)
    return render(
        request,
        "console/deliveries.html",
        {"subscription": subscription, "deliveries": deliveries},
        user=user,
    )


@router.post("/webhooks/{subscription_id}/retry")
async def retry(request: Request, session: Session, user: User, subscription_id: uuid.UUID):
    """Queue again the deliveries that were given up on."""
    require_role(user, "admin")
    check_csrf(request, user, await read_form(request))
    await notify.get_subscription(session, subscription_id)
    requeued = await notify.retry_failed(session, subscription_id, now=request.app.state.clock())
    return see_other(f"/console/registry/webhooks/{subscription_id}?requeued={requeued}")
