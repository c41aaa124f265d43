"""The kiosk's API: enrolment of a tablet, the staff on duty at a device, rating links (QR
codes) and the QR page's token-authorised rating. The pages are in app/kiosk/pages.py."""

from __future__ import annotations

import math
import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request, Response, status

from app.auth.dependencies import AdminPrincipal, CurrentPrincipal
from app.clock import Now
from app.config import AppSettings, Settings
from app.db import Session
from app.errors import Forbidden
from app.kiosk import images, service
from app.kiosk.schemas import (
    CaseLinkIn,
    EnrolmentOut,
    LinkOut,
    QrRatingIn,
    QrRatingOut,
    RedeemedOut,
    RedeemIn,
    SessionIn,
    SessionOut,
)
from app.ratelimit import RateLimited, RateLimiter

router = APIRouter(prefix="/v1", tags=["kiosk"])

_PROBLEM = {"content": {"application/problem+json": {}}}
DepartmentCode = Annotated[
    str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$", examples=["SJ"])
]
WindowNo = Annotated[str, Path(min_length=1, max_length=32, examples=["A01"])]
_NO_STORE = {"Cache-Control": "no-store"}


def install(app, settings: Settings) -> None:
    """The QR page's limits against stuffing: per client address and per phone number."""
    kiosk = settings.kiosk
    app.state.qr_limiter = RateLimiter(
        {
            "ip": (kiosk.qr_ip_per_hour / 3600, kiosk.qr_ip_burst),
            "phone": (kiosk.qr_phone_per_day / 86400, kiosk.qr_phone_per_day),
        }
    )


def public_base(request: Request, settings: Settings) -> str:
    """Where tablets and phones reach the service."""
    return (settings.kiosk.public_url or str(request.base_url)).rstrip("/")


@router.post(
    "/devices/{device_id}/enrolment",
    status_code=status.HTTP_201_CREATED,
    response_model=EnrolmentOut,
    responses={404: _PROBLEM, 409: {"description": "The device is deactivated", **_PROBLEM}},
)
async def enrol_device(
    device_id: uuid.UUID,
    request: Request,
    response: Response,
    session: Session,
    settings: AppSettings,
    now: Now,
    _: AdminPrincipal,
):
    """A one-time enrolment link for a tablet (valid 15 minutes): open it on the tablet, or
    scan its QR code, and the tablet page receives the device's own key, once."""
    enrolment, token = await service.issue_enrolment(
        session, device_id, now=now, minutes=settings.kiosk.enrolment_minutes
    )
    url = f"{public_base(request, settings)}/kiosk#enrol={token}"
    response.headers.update(_NO_STORE)
    return {
        "device_id": enrolment.device_id,
        "url": url,
        "token": token,
        "expires_at": enrolment.expires_at,
        "qr_svg": images.qr_code(url, "svg", scale=6).decode(),
    }


@router.post(
    "/kiosk/enrolment",
    response_model=RedeemedOut,
    responses={
        404: {"description": "Unknown enrolment link", **_PROBLEM},
        409: {"description": "The device is deactivated", **_PROBLEM},
        410: {"description": "The link was used already or has expired", **_PROBLEM},
    },
)
async def redeem_enrolment(body: RedeemIn, response: Response, session: Session, now: Now):
    """What the tablet page calls once with the link's token (in the body, never in a URL):
    the device's new key, handed over this once."""
    response.headers.update(_NO_STORE)
    return await service.redeem_enrolment(session, body.token, now=now)


@router.get(
    "/devices/{device_id}/session",
    response_model=SessionOut,
    responses={403: _PROBLEM, 404: _PROBLEM},
)
async def get_session(
    device_id: uuid.UUID, session: Session, principal: CurrentPrincipal, now: Now
):
    """Who is on duty at a device, the case in hand, and the window (the tablet page polls it)."""
    device = await service.device_for(session, device_id, principal)
    return await service.get_session(session, device, now=now)


@router.put(
    "/devices/{device_id}/session",
    response_model=SessionOut,
    responses={403: _PROBLEM, 404: _PROBLEM},
)
async def put_session(
    device_id: uuid.UUID, body: SessionIn, session: Session, principal: CurrentPrincipal, now: Now
):
    """Set the staff member on duty (工号) and the case in hand (办件编号): by the window system
    (admin or the department's key) or from the tablet itself. Its ratings then carry them."""
    device = await service.device_for(session, device_id, principal)
    set_by = "device" if principal.device_id == device.id else "system"
    return await service.put_session(
        session, device, body.staff_id, body.case_no, set_by=set_by, now=now
    )


def _link_out(link, token: str, base: str) -> dict:
    return {
        "kind": link.kind,
        "url": service.link_url(base, token),
        "token": token,
        "department_code": link.department_code,
        "window_no": link.window_no,
        "case_no": link.case_no,
        "expires_at": link.expires_at,
    }


def _may_manage(principal, code: str) -> None:
    if principal.role == "admin":
        return
    if principal.role == "department" and principal.department_code == code:
        return
    raise Forbidden("An admin or the department's own key manages its QR codes")


@router.get(
    "/departments/{code}/windows/{window_no}/qr",
    response_class=Response,
    responses={
        200: {
            "description": "The window's QR code",
            "content": {"image/svg+xml": {}, "image/png": {}},
        },
        403: _PROBLEM,
        404: _PROBLEM,
    },
)
async def window_qr(
    code: DepartmentCode,
    window_no: WindowNo,
    request: Request,
    session: Session,
    settings: AppSettings,
    principal: CurrentPrincipal,
    now: Now,
    format: Literal["svg", "png"] = Query(default="svg"),
    scale: Annotated[int, Query(ge=2, le=40)] = 10,
):
    """The window's printable QR code for 扫码评价 (SVG or PNG). The same code until rotated."""
    _may_manage(principal, code)
    _, token = await service.window_link(session, code, window_no, now=now)
    url = service.link_url(public_base(request, settings), token)
    return Response(
        images.qr_code(url, format, scale=scale),
        media_type=images.MEDIA_TYPES[format],
        headers={"Cache-Control": "private, no-cache", "X-Rating-Url": url},
    )


@router.get(
    "/departments/{code}/windows/{window_no}/qr/link",
    response_model=LinkOut,
    responses={403: _PROBLEM, 404: _PROBLEM},
)
async def window_link(
    code: DepartmentCode,
    window_no: WindowNo,
    request: Request,
    session: Session,
    settings: AppSettings,
    principal: CurrentPrincipal,
    now: Now,
):
    """The window's rating link as text (what its QR code says)."""
    _may_manage(principal, code)
    link, token = await service.window_link(session, code, window_no, now=now)
    return _link_out(link, token, public_base(request, settings))


@router.post(
    "/departments/{code}/windows/{window_no}/qr/rotate",
    response_model=LinkOut,
    responses={403: _PROBLEM, 404: _PROBLEM},
)
async def rotate_window_link(
    code: DepartmentCode,
    window_no: WindowNo,
    request: Request,
    session: Session,
    settings: AppSettings,
    _: AdminPrincipal,
    now: Now,
):
    """Replace the window's QR code (a leaked or defaced one): the old code stops working."""
    link, token = await service.window_link(session, code, window_no, now=now, rotate=True)
    return _link_out(link, token, public_base(request, settings))


@router.post(
    "/rating-links",
    status_code=status.HTTP_201_CREATED,
    response_model=LinkOut,
    responses={403: _PROBLEM, 422: _PROBLEM},
)
async def create_case_link(
    body: CaseLinkIn,
    request: Request,
    session: Session,
    settings: AppSettings,
    principal: CurrentPrincipal,
    now: Now,
):
    """A rating link for one case (办件), for the window system to print on the receipt: it
    lets its holder rate this case, and follow the rating up once (追评)."""
    _may_manage(principal, body.department_code)
    link, token = await service.case_link(
        session, body, principal, now=now, days=settings.kiosk.case_link_days
    )
    return _link_out(link, token, public_base(request, settings))


def _limit(request: Request, kind: str, key: object) -> None:
    wait = request.app.state.qr_limiter.check((kind, key), kind)
    if wait:
        raise RateLimited(
            "too many ratings from this " + ("address" if kind == "ip" else "phone number"),
            zh_detail="评价过于频繁，请稍后再试",
            headers={"Retry-After": str(max(1, math.ceil(wait)))},
            retry_after=round(wait, 3),
        )


@router.post(
    "/qr/ratings",
    status_code=status.HTTP_201_CREATED,
    response_model=QrRatingOut,
    responses={
        200: {"model": QrRatingOut, "description": "A retry of a stored rating"},
        404: {"description": "Unknown link", **_PROBLEM},
        409: {"description": "The case was rated and followed up already", **_PROBLEM},
        410: {"description": "The link was replaced or has expired", **_PROBLEM},
        422: _PROBLEM,
        429: {"description": "Too many ratings from this address or phone", **_PROBLEM},
    },
)
async def post_qr_rating(
    body: QrRatingIn,
    request: Request,
    response: Response,
    session: Session,
    settings: AppSettings,
    now: Now,
):
    """A rating from the QR-code page (channel qr_code). No key: the link's token allows
    rating its window or case only. A case's second rating is its follow-up (追评)."""
    link = await service.resolve(session, body.token, now=now)
    _limit(request, "ip", request.client.host if request.client else "?")
    if body.rater and body.rater.phone:
        _limit(request, "phone", body.rater.phone)
    outcome = await service.post_qr_rating(session, link, body, settings=settings, now=now)
    if not outcome.created:
        response.status_code = status.HTTP_200_OK
    rating = outcome.rating
    return {
        "event_id": body.event_id,
        "level": rating["level"],
        "assess_number": rating["assess_number"],
        "real_name": rating["rater"] is not None and rating["rater"]["real_name"],
        "rated_at": rating["rated_at"],
    }
