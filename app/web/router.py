"""GET / (the landing page), /docs (Swagger UI) and /redoc (ReDoc): our own HTML, loading only
our static files and /openapi.json, under a strict Content-Security-Policy. None of them is part
of the API contract (include_in_schema=False)."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from starlette.routing import Match, Mount
from starlette.types import Scope

from app import __version__
from app.web.assets import (
    PAGE_POLICY,
    REDOC_POLICY,
    STATIC_DIR,
    SWAGGER_UI_POLICY,
    TEMPLATES_DIR,
    ImmutableStaticFiles,
    page_headers,
    static_prefix,
)

templates = Jinja2Templates(directory=TEMPLATES_DIR)
router = APIRouter(include_in_schema=False)


def _render(request: Request, template: str, policy: dict[str, str]) -> HTMLResponse:
    root = request.scope.get("root_path", "").rstrip("/")
    context = {
        "title": request.app.title,
        "version": __version__,
        "root": root,
        "static": root + static_prefix(),
        "openapi_url": root + (request.app.openapi_url or ""),
    }
    return templates.TemplateResponse(request, template, context, headers=page_headers(policy))


@router.get("/", response_class=HTMLResponse)
async def landing(request: Request) -> HTMLResponse:
    """What this service is, and where its documentation is."""
    return _render(request, "index.html", PAGE_POLICY)


@router.get("/docs", response_class=HTMLResponse)
async def swagger_ui(request: Request) -> HTMLResponse:
    """The API documentation to try requests in (Swagger UI)."""
    return _render(request, "docs.html", SWAGGER_UI_POLICY)


@router.get("/redoc", response_class=HTMLResponse)
async def redoc(request: Request) -> HTMLResponse:
    """The API documentation to read (ReDoc)."""
    return _render(request, "redoc.html", REDOC_POLICY)


class _StaticMount(Mount):
    """A Mount that names itself as the request's route, as FastAPI's routes do: metrics and the
    access log then say /static/<version>/{path}, not (unmatched)."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child_scope = super().matches(scope)
        if match is not Match.NONE:
            child_scope["route"] = self
        return match, child_scope


def install(app: FastAPI) -> None:
    """Serve the pages and /static/<asset version>/ (create the app with docs_url=None and
    redoc_url=None: FastAPI's own pages load their scripts from a CDN)."""
    app.include_router(router)
    static = ImmutableStaticFiles(directory=STATIC_DIR)
    app.router.routes.append(_StaticMount(static_prefix(), app=static, name="static"))
