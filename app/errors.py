"""RFC 9457 problem+json: every error the API gives has a type, a title, a status and, where a
field is at fault, which field and why."""

from __future__ import annotations

import logging
import traceback
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from app import errors_zh

log = logging.getLogger(__name__)

PROBLEM_BASE = "https://haochaping.org/problems/"
PROBLEM_MEDIA_TYPE = "application/problem+json"


class ProblemError(Exception):
    """A domain error that carries its HTTP status and problem type."""

    status = 400
    type = "bad-request"
    title = "Bad request"

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        zh_detail: str | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        # What a person reads in Chinese (Accept-Language: zh-CN), when the raiser knows better
        # than the type's generic sentence (app/errors_zh.py).
        self.zh_detail = zh_detail
        self.errors = errors
        self.headers = headers
        self.extra = extra


class NotAuthenticated(ProblemError):
    status, type, title = 401, "unauthenticated", "Missing or invalid API key"


class Forbidden(ProblemError):
    status, type, title = 403, "forbidden", "Not allowed for this key"


class NotFound(ProblemError):
    status, type, title = 404, "not-found", "Not found"


class Conflict(ProblemError):
    status, type, title = 409, "conflict", "Conflict"


class ValidationProblem(ProblemError):
    status, type, title = 422, "validation-error", "The request is not valid"


class PayloadTooLarge(ProblemError):
    status, type, title = 413, "payload-too-large", "Request body too large"


class ServiceUnavailable(ProblemError):
    status, type, title = 503, "service-unavailable", "The database is unavailable; retry later"


def errors_detail(errors: list[dict[str, Any]], limit: int | None = None) -> str:
    """A problem's detail from its field errors: "field: message; …" (the first `limit`)."""
    return "; ".join(f"{e['field']}: {e['message']}" for e in errors[:limit])


def field_error(field: str, message: str, code: str = "invalid") -> dict[str, Any]:
    return {"field": field, "message": message, "code": code}


def problem_body(
    status: int,
    type_: str,
    title: str,
    detail: str | None = None,
    instance: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + type_,
        "title": title,
        "status": status,
    }
    if detail:
        body["detail"] = detail
    if instance:
        body["instance"] = instance
    if errors is not None:
        body["errors"] = errors
    body.update(extra)
    return body


def problem_response(
    status: int,
    type_: str,
    title: str,
    detail: str | None = None,
    *,
    request: Request | None = None,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    zh_detail: str | None = None,
    zh_messages: list[str | None] | None = None,
    **extra: Any,
) -> JSONResponse:
    instance = request.url.path if request is not None else None
    body = problem_body(status, type_, title, detail, instance, errors, **extra)
    if request is not None and errors_zh.prefers_zh(request.headers.get("accept-language")):
        body = errors_zh.localise(body, zh_detail=zh_detail, zh_messages=zh_messages)
        headers = {**(headers or {}), "Content-Language": "zh-CN"}
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def pydantic_errors(errors: list[Any], *, drop_prefix: int = 0) -> list[dict[str, Any]]:
    """Turn pydantic's error list into {field, message, code} entries with dotted field paths."""
    out = []
    for err in errors:
        loc = [str(part) for part in err.get("loc", ())][drop_prefix:]
        out.append(
            {
                "field": ".".join(loc) if loc else "(body)",
                "message": err.get("msg", "invalid"),
                "code": err.get("type", "invalid"),
            }
        )
    return out


def is_database_unavailable(exc: BaseException) -> bool:
    """True for errors that mean the database cannot be reached right now."""
    import asyncpg
    from sqlalchemy import exc as sa_exc

    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, sa_exc.DBAPIError) and current.connection_invalidated:
            return True
        if isinstance(
            current,
            (
                ConnectionError,
                OSError,
                TimeoutError,
                sa_exc.TimeoutError,
                asyncpg.exceptions.ConnectionDoesNotExistError,
                asyncpg.exceptions.CannotConnectNowError,
                asyncpg.exceptions.AdminShutdownError,
                asyncpg.exceptions.CrashShutdownError,
                asyncpg.exceptions.TooManyConnectionsError,
                asyncpg.exceptions.InterfaceError,
            ),
        ):
            return True
        current = current.__cause__ or current.__context__
    return False


def is_invalid_data(exc: BaseException) -> bool:
    """True when PostgreSQL (or asyncpg encoding a parameter) refused a value as data: SQLSTATE
    class 22, e.g. NUL in text or a number out of range. Validation should have caught it."""
    import asyncpg

    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, asyncpg.exceptions.DataError):
            return True
        current = current.__cause__ or current.__context__
    return False


def allowed_methods(request: Request) -> list[str]:
    """Every method the routes of the request's path answer, sorted."""
    from starlette.routing import Match

    try:  # FastAPI keeps included routers whole; this yields their routes with full paths
        from fastapi.routing import _iter_included_route_candidates as routes_of
    except ImportError:  # older FastAPI: the routes are flat already
        routes_of = list
    methods: set[str] = set()
    for route in routes_of(request.app.router.routes):
        route_methods = getattr(route, "methods", None)
        if route_methods and route.matches(request.scope)[0] != Match.NONE:
            methods |= set(route_methods)
    return sorted(methods)


def database_error_summary(exc: BaseException) -> str | None:
    """What a log line may say of a database error, or None for other errors: the error's
    class, SQLSTATE, table, column, constraint and statement, never a value. PostgreSQL's
    DETAIL quotes the failing row or key, and a data error's message (class 22) the value."""
    import asyncpg
    from sqlalchemy import exc as sa_exc

    seen: set[int] = set()
    current: BaseException | None = exc
    statement = None
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, sa_exc.StatementError) and statement is None:
            statement = current.statement
        if isinstance(current, asyncpg.PostgresError):
            parts = [type(current).__name__, f"SQLSTATE {current.sqlstate}"]
            for name in ("table_name", "column_name", "constraint_name"):
                value = getattr(current, name, None)
                if value:
                    parts.append(f"{name.removesuffix('_name')} {value}")
            if not str(current.sqlstate).startswith("22"):
                parts.append(str(getattr(current, "message", "")))
            if statement:
                parts.append(f"statement: {statement}")
            return "; ".join(parts)
        current = current.__cause__ or current.__context__
    if statement is not None:
        return f"{type(exc).__name__}; statement: {statement}"
    return None


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ProblemError)
    async def _problem(request: Request, exc: ProblemError) -> JSONResponse:
        return problem_response(
            exc.status,
            exc.type,
            exc.title,
            exc.detail,
            request=request,
            errors=exc.errors,
            headers=exc.headers,
            zh_detail=exc.zh_detail,
            **exc.extra,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = []
        raw = list(exc.errors())
        for entry in pydantic_errors(raw):
            # "body.level" reads better as "level"; keep query./path./header. prefixes.
            if entry["field"].startswith("body."):
                entry["field"] = entry["field"][5:]
            errors.append(entry)
        return problem_response(
            422,
            ValidationProblem.type,
            ValidationProblem.title,
            errors_detail(errors),
            request=request,
            errors=errors,
            zh_messages=[errors_zh.field_message(e.get("type", ""), e.get("ctx")) for e in raw],
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and exc.__cause__ is not None:
            # FastAPI could not parse the body: say why, in the problem's own terms.
            too_deep = isinstance(exc.__cause__, RecursionError)
            return problem_response(
                400,
                "malformed-body",
                "The body cannot be parsed",
                "JSON nested too deeply" if too_deep else "The body is not valid JSON",
                request=request,
                errors=[
                    field_error("(body)", "nested too deeply" if too_deep else "not valid JSON")
                ],
            )
        titles = {
            404: "Not found",
            405: "Method not allowed",
            408: "Request timeout",
            413: "Request body too large",
        }
        type_ = {
            404: "not-found",
            405: "method-not-allowed",
            408: "request-timeout",
            413: "payload-too-large",
        }.get(exc.status_code, "http-error")
        headers = getattr(exc, "headers", None)
        if exc.status_code == 405:
            # Starlette names the methods of the first route on the path; a path served by
            # several routes (GET and DELETE …) allows them all.
            headers = {**(headers or {}), "Allow": ", ".join(allowed_methods(request))}
        return problem_response(
            exc.status_code,
            type_,
            titles.get(exc.status_code, "HTTP error"),
            str(exc.detail) if exc.detail else None,
            request=request,
            headers=headers,
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        if is_database_unavailable(exc):
            log.warning("database unavailable: %s", exc.__class__.__name__)
            return problem_response(
                503,
                ServiceUnavailable.type,
                ServiceUnavailable.title,
                request=request,
                headers={"Retry-After": "5"},
            )
        summary = database_error_summary(exc)
        if is_invalid_data(exc):
            # A gap in validation, not a server fault: the client's value is at fault.
            log.warning(
                "value refused by the database on %s %s: %s",
                request.method,
                request.url.path,
                summary,
            )
            return problem_response(
                422,
                ValidationProblem.type,
                ValidationProblem.title,
                "A value in the request cannot be stored or compared (a NUL character, or out "
                "of range)",
                request=request,
                errors=[field_error("(request)", "a value cannot be stored", "invalid_data")],
            )
        if summary is not None:
            # Not the exception itself: its DETAIL quotes the failing row (secrets, names).
            log.error(
                "unhandled database error on %s %s: %s\n%s",
                request.method,
                request.url.path,
                summary,
                "".join(traceback.format_tb(exc.__traceback__)),
            )
        else:
            log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem_response(500, "internal-error", "Internal server error", request=request)
