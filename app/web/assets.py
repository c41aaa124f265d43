"""Static files under a content-hashed path (cached for a year: a new release is a new path),
and the Content-Security-Policy of each page."""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

from starlette.responses import Response
from starlette.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).parent / "static"
TEMPLATES_DIR = Path(__file__).parent / "templates"

IMMUTABLE = "public, max-age=31536000, immutable"

_BASE_POLICY = {
    "default-src": "'self'",
    "base-uri": "'none'",
    "object-src": "'none'",
    "frame-ancestors": "'none'",
    "form-action": "'self'",
}
# Swagger UI and ReDoc set style attributes from script (React, styled-components), and draw
# icons as data: URIs; ReDoc runs its search index in a worker made from a blob: URL.
SWAGGER_UI_POLICY = {
    **_BASE_POLICY,
    "style-src": "'self' 'unsafe-inline'",
    "img-src": "'self' data:",
}
REDOC_POLICY = {**SWAGGER_UI_POLICY, "worker-src": "'self' blob:"}
PAGE_POLICY = _BASE_POLICY


def csp(policy: dict[str, str]) -> str:
    """The Content-Security-Policy header value of a policy."""
    return "; ".join(f"{directive} {sources}" for directive, sources in policy.items())


def page_headers(policy: dict[str, str]) -> dict[str, str]:
    """Headers of an HTML page: its policy, and no caching (the asset paths in it change)."""
    return {
        "Content-Security-Policy": csp(policy),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-cache",
    }


@cache
def asset_version() -> str:
    """A digest of every static file's path and content: changes whenever one of them does."""
    digest = hashlib.sha256()
    for path in sorted(p for p in STATIC_DIR.rglob("*") if p.is_file()):
        digest.update(path.relative_to(STATIC_DIR).as_posix().encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def static_prefix() -> str:
    """Where the static files are mounted: /static/<asset version>."""
    return f"/static/{asset_version()}"


class ImmutableStaticFiles(StaticFiles):
    """StaticFiles whose answers may be cached for a year (the path changes with the content)."""

    def file_response(self, *args, **kwargs) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers["Cache-Control"] = IMMUTABLE
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response
