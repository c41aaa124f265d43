"""The citizen's pages: the tablet page (/kiosk) and the QR-code rating page (/r/{token}).

Plain HTML, CSS and JavaScript from app/web/static/kiosk/ (content-hashed paths), under the
strict Content-Security-Policy of every page (no inline script or style, nothing from another
host). Not part of the API contract (include_in_schema=False)."""

from __future__ import annotations

from fastapi import APIRouter, Path, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from fastapi.templating import Jinja2Templates

from app.clock import Now
from app.db import Session
from app.errors import NotFound, ProblemError
from app.kiosk import service
from app.kiosk.schemas import LEVELS, PRAISE, REASONS
from app.registry import staff_photo
from app.web.assets import PAGE_POLICY, STATIC_DIR, TEMPLATES_DIR, page_headers, static_prefix

templates = Jinja2Templates(directory=TEMPLATES_DIR)
router = APIRouter(include_in_schema=False)

SERVICE_WORKER = STATIC_DIR / "kiosk" / "sw.js"


def _render(request: Request, template: str, status_code: int = 200, **context) -> HTMLResponse:
    root = request.scope.get("root_path", "").rstrip("/")
    headers = page_headers(PAGE_POLICY)
    return templates.TemplateResponse(
        request,
        template,
        {
            "root": root,
            "static": root + static_prefix(),
            "levels": LEVELS,
            "reasons": REASONS,
            "praise": PRAISE,
            **context,
        },
        status_code=status_code,
        headers=headers,
    )


@router.get("/kiosk", response_class=HTMLResponse)
async def tablet(request: Request, now: Now) -> HTMLResponse:
    """The tablet evaluator's page (评价器), full screen in a kiosk-mode browser."""
    return _render(request, "kiosk/tablet.html", server_time=int(now.timestamp()))


@router.get("/kiosk/sw.js")
async def service_worker() -> FileResponse:
    """The tablet page's service worker: the page and its files keep loading offline."""
    return FileResponse(
        SERVICE_WORKER,
        media_type="text/javascript",
        headers={
            "Cache-Control": "no-cache",
            "Service-Worker-Allowed": "/kiosk",
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.get("/kiosk/staff-photos/{token}")
async def staff_photo_image(
    session: Session, token: str = Path(min_length=20, max_length=64, pattern=r"^[\w-]+$")
) -> Response:
    """A staff member's photo for the tablet page's <img> (same origin: img-src 'self')."""
    photo = await staff_photo.photo_by_token(session, token)
    if photo is None:
        raise NotFound("No such photo")
    return Response(
        photo.data,
        media_type=photo.content_type,
        headers={"Cache-Control": "private, max-age=86400", "X-Content-Type-Options": "nosniff"},
    )


@router.get("/r/{token}", response_class=HTMLResponse)
async def qr_page(
    request: Request,
    session: Session,
    now: Now,
    token: str = Path(max_length=100),
) -> HTMLResponse:
    """The phone page a window's or a case's QR code opens (扫码评价)."""
    try:
        link = await service.resolve(session, token, now=now)
    except ProblemError as exc:
        return _render(
            request, "kiosk/qr_invalid.html", exc.status, message=exc.zh_detail or exc.detail
        )
    place = await service.place(session, link.department_code, link.window_no)
    return _render(
        request,
        "kiosk/qr.html",
        token=token,
        place=place,
        case_no=link.case_no,
        staff_id=link.staff_id,
    )
