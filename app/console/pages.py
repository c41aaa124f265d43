"""What every console page shares: the signed-in user, templates, the policy, forms and CSRF,
and the page shown for an error (in Chinese, never problem+json)."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any
from urllib.parse import parse_qs, quote

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError

from app import __version__, errors_zh
from app.auth.service import Principal
from app.config import BUSINESS_TZ
from app.console import sessions
from app.db import Session
from app.errors import Forbidden, ProblemError
from app.web.assets import PAGE_POLICY, TEMPLATES_DIR, page_headers, static_prefix
from app.workorders import labels

templates = Jinja2Templates(directory=TEMPLATES_DIR)
templates.env.globals.update(
    STATE_ZH=labels.STATE_ZH,
    ACTION_ZH=labels.ACTION_ZH,
    SOURCE_ZH=labels.SOURCE_ZH,
    STAGE_ZH=labels.STAGE_ZH,
    OUTCOME_ZH=labels.OUTCOME_ZH,
    EVENT_ZH={**labels.ACTION_ZH, **labels.EVENT_ZH},
    EVIDENCE_FIELD_ZH={
        "evidence": "撤回记录",
        "evidence.kind": "记录类型",
        "evidence.called_at": "回访时间",
        "evidence.requested_at": "申请时间",
        "evidence.note": "评价人所说或理由",
        "evidence.reference": "记录编号",
    },
)


def _local(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """An instant in Beijing time."""
    return value.astimezone(BUSINESS_TZ).strftime(fmt) if value is not None else "—"


def _deadline(value: datetime | None) -> str:
    """A deadline in Beijing time; one at midnight is 24:00 of its last day, as the rules say."""
    if value is None:
        return "—"
    local = value.astimezone(BUSINESS_TZ)
    if (local.hour, local.minute) == (0, 0):
        return (local - timedelta(days=1)).strftime("%Y-%m-%d") + " 24:00"
    return local.strftime("%Y-%m-%d %H:%M")


templates.env.filters.update(local=_local, deadline=_deadline)
ROLE_ZH = {"admin": "管理员", "reader": "督查（只读）", "department": "部门"}


class CsrfFailed(ProblemError):
    status, type, title = 403, "csrf-failed", "The form's CSRF token is missing or wrong"


class SignInRequired(Exception):
    """No live session: the browser is sent to the sign-in page."""


@dataclass(frozen=True, slots=True)
class ConsoleUser:
    """Who is signed in, and their session's CSRF token (read once: a refused action rolls the
    request's transaction back, and the page after it still needs the token)."""

    principal: Principal
    csrf: str

    @property
    def role(self) -> str:
        return self.principal.role


async def _console_user(request: Request, session: Session) -> ConsoleUser:
    settings = request.app.state.settings.console
    now = request.app.state.clock()
    found = await sessions.resume(
        session, request.cookies.get(sessions.COOKIE, ""), now=now, settings=settings
    )
    if found is None:
        raise SignInRequired
    row, principal = found
    request.state.principal = principal  # the audit log's actor, as for API requests
    return ConsoleUser(principal, row.csrf_token)


User = Annotated[ConsoleUser, Depends(_console_user)]


def require_role(user: ConsoleUser, *roles: str) -> None:
    if user.role not in roles:
        raise Forbidden(
            f"This page needs one of the roles {', '.join(roles)}",
            zh_detail="当前角色无权查看此页面",
        )


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    user: ConsoleUser | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    root = request.scope.get("root_path", "").rstrip("/")
    base = {
        "version": __version__,
        "root": root,
        "static": root + static_prefix(),
        "user": user,
        "role_zh": ROLE_ZH,
        "csrf": user.csrf if user is not None else None,
        "path": request.url.path,
    }
    return templates.TemplateResponse(
        request,
        template,
        {**base, **(context or {})},
        status_code=status_code,
        headers=page_headers(PAGE_POLICY),
    )


async def read_form(request: Request) -> dict[str, str]:
    """An urlencoded form's fields (the first value of each)."""
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        return {}
    body = (await request.body()).decode("utf-8", errors="replace")
    return {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}


def check_csrf(request: Request, user: ConsoleUser, form: dict[str, str]) -> None:
    """The form's hidden csrf_token (or htmx's X-CSRF-Token header) must be the session's."""
    given = form.get("csrf_token") or request.headers.get("x-csrf-token")
    if not sessions.same_token(user.csrf, given):
        raise CsrfFailed(
            "The form's CSRF token is missing or wrong",
            zh_detail="表单已失效（缺少或不符的校验码），请刷新页面后重试",
        )


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def field_messages(exc: ValidationError) -> dict[str, str]:
    """A form's validation errors in Chinese, by field (dotted for nested fields)."""
    return {
        ".".join(str(p) for p in e["loc"]): errors_zh.field_message(e["type"], e.get("ctx"))
        or str(e["msg"])
        for e in exc.errors()
    }


def problem_fields(exc: ProblemError) -> dict[str, str]:
    """A domain error's field errors in Chinese, by field."""
    return {
        e["field"]: errors_zh.field_message(e.get("code", "")) or e["message"]
        for e in exc.errors or []
    }


def problem_text(exc: ProblemError) -> tuple[str, str]:
    """(title, detail) of a domain error, in Chinese."""
    body = errors_zh.localise(
        {"type": exc.type, "title": exc.title, "detail": exc.detail},
        zh_detail=exc.zh_detail,
        zh_messages=None,
    )
    return body["title"], body.get("detail") or ""


class ConsoleRoute(APIRoute):
    """A console route: no session sends the browser to sign in (htmx: HX-Redirect), and a
    domain error is a page in Chinese with the error's status, never problem+json."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except SignInRequired:
                target = request.url.path
                if request.url.query:
                    target += "?" + request.url.query
                login = "/console/login?next=" + quote(target if request.method == "GET" else "")
                if request.headers.get("hx-request"):
                    return Response(status_code=204, headers={"HX-Redirect": login})
                return see_other(login)
            except ProblemError as exc:
                title, detail = problem_text(exc)
                context = {"title": title, "detail": detail, "status": exc.status}
                return render(request, "console/error.html", context, status_code=exc.status)

        return route
