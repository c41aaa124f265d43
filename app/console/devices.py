"""Tablets and QR codes on the registry pages (admin): a one-time enrolment link for a tablet,
shown once with its QR code and expiry, and each window's printable QR code, rotated when it
leaks; the same service functions as /v1/devices/{id}/enrolment and /v1/departments/.../qr."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response
from markupsafe import Markup

from app.console.pages import (
    ConsoleRoute,
    User,
    check_csrf,
    read_form,
    render,
    require_role,
    see_other,
)
from app.console.places import windows_page_of
from app.db import Session
from app.errors import Conflict, NotFound
from app.kiosk import images
from app.kiosk import service as kiosk
from app.kiosk.router import public_base
from app.registry import service as registry

router = APIRouter(prefix="/console/registry", include_in_schema=False, route_class=ConsoleRoute)

Code = Path(max_length=64)
WindowNo = Path(min_length=1, max_length=32)


@router.post("/devices/{device_id}/enrolment")
async def enrol(request: Request, session: Session, user: User, device_id: uuid.UUID):
    """Issue a tablet's one-time enrolment link: shown this once, as a link and a QR code."""
    require_role(user, "admin")
    check_csrf(request, user, await read_form(request))
    settings = request.app.state.settings
    try:
        device = await registry.get_device(session, device_id)
    except NotFound as exc:
        raise NotFound(str(exc), zh_detail="没有这台评价器") from exc
    try:
        enrolment, token = await kiosk.issue_enrolment(
            session,
            device.id,
            now=request.app.state.clock(),
            minutes=settings.kiosk.enrolment_minutes,
        )
    except Conflict as exc:
        raise Conflict(str(exc), zh_detail="评价器已停用：先启用再扫码登记") from exc
    url = f"{public_base(request, settings)}/kiosk#enrol={token}"
    shown = {
        "serial_no": device.serial_no,
        "window_no": device.window_no,
        "url": url,
        "expires_at": enrolment.expires_at,
        # segno's SVG: paths and presentation attributes only (no style, no script).
        "qr_svg": Markup(images.qr_code(url, "svg", scale=5).decode()),
    }
    response = await windows_page_of(
        request, session, user, device.department_code, enrolment=shown
    )
    response.headers["Cache-Control"] = "no-store"
    return response


async def _window(session, code: str, window_no: str):
    department = await registry.get_department(session, code)
    for window in await registry.list_windows(session, code):
        if window.window_no == window_no:
            return department, window
    raise NotFound(f"No window {window_no!r} in department {code!r}", zh_detail="没有这个窗口")


@router.get("/departments/{code}/windows/{window_no}/qr")
async def window_qr_page(
    request: Request, session: Session, user: User, code: str = Code, window_no: str = WindowNo
):
    """The window's QR code to print (扫码评价), with its link and a form to replace it."""
    require_role(user, "admin")
    department, window = await _window(session, code, window_no)
    link, token = await kiosk.window_link(session, code, window_no, now=request.app.state.clock())
    context = {
        "department": department,
        "window": window,
        "url": kiosk.link_url(public_base(request, request.app.state.settings), token),
        "since": link.created_at,
    }
    response = render(request, "console/window_qr.html", context, user=user)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/departments/{code}/windows/{window_no}/qr.svg")
async def window_qr_image(
    request: Request, session: Session, user: User, code: str = Code, window_no: str = WindowNo
):
    """The window's QR code as SVG (the image the printable page shows)."""
    require_role(user, "admin")
    await _window(session, code, window_no)
    _, token = await kiosk.window_link(session, code, window_no, now=request.app.state.clock())
    url = kiosk.link_url(public_base(request, request.app.state.settings), token)
    return Response(
        images.qr_code(url, "svg", scale=10),
        media_type=images.MEDIA_TYPES["svg"],
        headers={"Cache-Control": "private, no-store"},
    )


@router.post("/departments/{code}/windows/{window_no}/qr/rotate")
async def rotate(
    request: Request, session: Session, user: User, code: str = Code, window_no: str = WindowNo
):
    """Replace the window's QR code (leaked or defaced): the old one stops working."""
    require_role(user, "admin")
    check_csrf(request, user, await read_form(request))
    await _window(session, code, window_no)
    await kiosk.window_link(session, code, window_no, now=request.app.state.clock(), rotate=True)
    return see_other(f"/console/registry/departments/{code}/windows/{window_no}/qr?rotated=1")
