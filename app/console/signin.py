"""Sign-in, sign-out and the console's home: a key is exchanged for a session cookie."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from app.audit import service as audit
from app.console import sessions
from app.console.pages import (
    ConsoleRoute,
    User,
    check_csrf,
    read_form,
    render,
    see_other,
)
from app.db import Session

router = APIRouter(prefix="/console", include_in_schema=False, route_class=ConsoleRoute)


def _next(target: str | None) -> str:
    """Where to go after signing in: a console page, never another site."""
    if target and target.startswith("/console") and "//" not in target and "\\" not in target:
        return target
    return "/console"


def _login_page(request: Request, *, error: str | None = None, status_code: int = 200):
    token = request.cookies.get(sessions.LOGIN_COOKIE) or sessions.new_token()
    context = {"login_csrf": token, "error": error, "next": _next(request.query_params.get("next"))}
    response = render(request, "console/login.html", context, status_code=status_code)
    response.set_cookie(
        sessions.LOGIN_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=request.app.state.settings.console.secure_cookie,
        path="/console",
    )
    return response


@router.get("/login")
async def login_page(request: Request):
    """The sign-in form."""
    return _login_page(request)


@router.post("/login")
async def login(request: Request, session: Session):
    """Exchange a key for a session (the key is checked once, here, and never stored)."""
    form = await read_form(request)
    settings = request.app.state.settings.console
    if not sessions.same_token(request.cookies.get(sessions.LOGIN_COOKIE), form.get("csrf_token")):
        return _login_page(request, error="表单已失效，请重新提交", status_code=403)
    key = form.get("key", "")
    if not key.strip():
        return _login_page(request, error="请填写密钥", status_code=422)
    now = request.app.state.clock()
    signed = await sessions.sign_in(session, key, now=now, settings=settings)
    if signed is None:
        await audit.record(session, "console.sign_in", "console", result="refused")
        return _login_page(
            request,
            error="密钥无效、已吊销，或不能登录控制台（只接受管理员、督查和部门的个人密钥）",
            status_code=401,
        )
    token, row, principal = signed
    request.state.principal = principal
    await audit.record(session, "console.sign_in", f"key:{principal.key_id}")
    response = see_other(_next(form.get("next")))
    response.set_cookie(
        sessions.COOKIE,
        token,
        max_age=settings.session_lifetime_hours * 3600,
        httponly=True,
        samesite="strict",
        secure=settings.secure_cookie,
        path="/console",
    )
    response.delete_cookie(sessions.LOGIN_COOKIE, path="/console")
    return response


@router.post("/logout")
async def logout(request: Request, session: Session, user: User):
    """End the session (the form carries the CSRF token)."""
    check_csrf(request, user, await read_form(request))
    await sessions.sign_out(
        session, request.cookies.get(sessions.COOKIE, ""), now=request.app.state.clock()
    )
    await audit.record(session, "console.sign_out", f"key:{user.principal.key_id}")
    response = see_other("/console/login")
    response.delete_cookie(sessions.COOKIE, path="/console")
    return response


@router.get("")
async def home(user: User) -> Response:
    """A department's desk, or the supervisor's dashboard."""
    return see_other("/console/desk" if user.role == "department" else "/console/dashboard")
