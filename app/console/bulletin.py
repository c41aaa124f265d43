"""The quarterly bulletin (通报) one click from the dashboard: the same build and renderers as
GET /v1/reports/bulletin, for the roles that read it (admin, reader), with the session."""

from __future__ import annotations

import base64
import hashlib
import re

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from app.console.pages import ConsoleRoute, User, require_role
from app.db import Session
from app.errors import NotFound
from app.reports import bulletin, render_docx, render_html, render_xlsx
from app.reports.router import DOCX_MEDIA_TYPE, HTML_MEDIA_TYPE, XLSX_MEDIA_TYPE, policy_of
from app.reports.wording import bulletin_period

router = APIRouter(prefix="/console", include_in_schema=False, route_class=ConsoleRoute)

_RENDERERS = {
    "docx": (render_docx.to_docx, DOCX_MEDIA_TYPE),
    "xlsx": (render_xlsx.to_xlsx, XLSX_MEDIA_TYPE),
    "html": (render_html.to_html, HTML_MEDIA_TYPE),
}
_STYLE = re.compile(r"<style>(.*?)</style>", re.S)


def print_policy(html: str) -> str:
    """A Content-Security-Policy for the printable bulletin: no script at all, and only its
    own style element (by hash), so it needs no 'unsafe-inline'."""
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'"
        for s in _STYLE.findall(html)
    )
    return (
        "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; "
        f"style-src {hashes or chr(39) + 'none' + chr(39)}"
    )


@router.get("/bulletin.{fmt}")
async def bulletin_file(
    request: Request,
    session: Session,
    user: User,
    fmt: str = Path(max_length=8),
):
    """The bulletin of `period` (a quarter, month or year) as Word, Excel or a printable page."""
    require_role(user, "admin", "reader")
    if fmt not in _RENDERERS:
        raise NotFound(f"No bulletin format {fmt}", zh_detail="通报只有 Word、Excel 和网页三种格式")
    settings = request.app.state.settings
    period = bulletin_period(request.query_params.get("period", ""))
    made = await bulletin.build(
        session,
        period,
        centre=settings.centre_name,
        now=request.app.state.clock(),
        policy=policy_of(settings.reports),
    )
    render, media_type = _RENDERERS[fmt]
    body = render(made)
    if fmt == "html":
        text = body.decode() if isinstance(body, bytes) else body
        headers = {
            "Content-Security-Policy": print_policy(text),
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
        }
        return Response(text, media_type=media_type, headers=headers)
    name = f"bulletin-{period.label}.{fmt}"
    return Response(
        body,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
