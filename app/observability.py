"""Request ids, Prometheus metrics and the access line of every request (app/logs.py).

`RequestObservability` is a pure ASGI middleware wrapped around the whole application (outside
Starlette's error middleware, so a 500 or 503 made by an exception handler is counted and carries
its request id). Its per-request cost is a few microseconds: no Request object, no body access.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from sqlalchemy import text

from app.logs import access_log, log_access, request_id_var

log = logging.getLogger(__name__)


# A caller's X-Request-ID is kept only if it is short and plain; anything else is replaced.
_SANE_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:\-]{1,128}")

# --- metrics ---------------------------------------------------------------------------------

REQUESTS = Counter(
    "haochaping_http_requests_total",
    "HTTP requests by method, route template and status",
    ["method", "route", "status"],
)
LATENCY = Histogram(
    "haochaping_http_request_duration_seconds",
    "HTTP request latency by method and route template",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
RATINGS = Counter(
    "haochaping_ratings_created_total",
    "Ratings stored (retries of stored events are not counted) by channel and level",
    ["channel", "level"],
)
SINGLE_INGEST = Counter(
    "haochaping_single_ingest_total",
    "Single-event POST /v1/ratings by who answered: path=direct (app/ratings/fastpath.py), "
    "else the reason it was handed to the generic route",
    ["path"],
)
WORK_ORDERS_OPEN = Gauge("haochaping_work_orders_open", "Work orders not closed")
WORK_ORDERS_OVERDUE = Gauge(
    "haochaping_work_orders_overdue", "Work orders not closed whose pending deadline has passed"
)
OUTBOX_BACKLOG = Gauge(
    "haochaping_outbox_backlog", "Webhook deliveries neither delivered nor given up"
)
DB_POOL = Gauge(
    "haochaping_db_pool_connections",
    "Database connections of this process by state",
    ["state"],
)
DB_UP = Gauge("haochaping_db_up", "1 if the last scrape could query the database")

# Figures read from the database are cached this long, so frequent scrapes cost nothing.
DB_FIGURES_TTL_SECONDS = 10.0


# Label children resolved once per metric and labels: .labels() costs more than .inc().
_CHILDREN: dict[tuple[Any, tuple[str, ...]], Any] = {}


def labelled(metric: Any, *labels: str) -> Any:
    """metric.labels(*labels), remembered."""
    key = (metric, labels)
    child = _CHILDREN.get(key)
    if child is None:
        child = _CHILDREN[key] = metric.labels(*labels)
    return child


def count_ratings(outcomes: Any) -> None:
    """Count the ratings an ingest created (by channel and level)."""
    for outcome in outcomes:
        if outcome.status == "created":
            labelled(RATINGS, outcome.rating["channel"], str(outcome.rating["level"])).inc()


def count_single_ingest(path: str) -> None:
    """Count one single-event POST by the path that answered it (or why it was handed over)."""
    labelled(SINGLE_INGEST, path).inc()


# --- the middleware --------------------------------------------------------------------------


class RequestObservability:
    """Request id in and out, metrics by route template and status, one access log line."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        request_id = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                if _SANE_REQUEST_ID.fullmatch(value):
                    request_id = value.decode("ascii")
                break
        if request_id is None:
            request_id = os.urandom(16).hex()
        scope.setdefault("state", {})["request_id"] = request_id
        token = request_id_var.set(request_id)
        header = (b"x-request-id", request_id.encode("ascii"))
        status = 500
        started_response = False

        async def send_with_id(message) -> None:
            nonlocal status, started_response
            if message["type"] == "http.response.start":
                status = message["status"]
                started_response = True
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            # Starlette's error middleware has sent the handler's response (a 503 for a lost
            # database, a logged 500 otherwise) and re-raises so that servers can log it; it is
            # logged already, so stop it here instead of printing a second traceback.
            if not started_response:
                raise
        finally:
            duration = time.perf_counter() - started
            route = scope.get("route")
            template = route.path_format if route is not None else "(unmatched)"
            method = scope["method"]
            labelled(REQUESTS, method, template, str(status)).inc()
            labelled(LATENCY, method, template).observe(duration)
            if access_log.isEnabledFor(logging.INFO):
                # The path only: a query string may carry a phone number or a name.
                log_access(method, scope["path"], template, status, duration, request_id)
            request_id_var.reset(token)


def install(app: FastAPI, reader: Callable[..., Awaitable[None]]) -> None:
    """Wrap the whole application (error middleware included) and serve /metrics to whom
    `reader` (a dependency: app.auth.metrics) lets through."""
    build = app.build_middleware_stack
    app.build_middleware_stack = lambda: RequestObservability(build())  # type: ignore[method-assign]

    @app.get(
        "/metrics",
        tags=["operations"],
        response_class=Response,
        responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text"}},
        # The figures say how the centre is doing (open and overdue orders): a key of role
        # admin or reader, as Prometheus sends it (`authorization: {credentials: <key>}`).
        dependencies=[Depends(reader)],
    )
    async def metrics(request: Request) -> Response:
        """Prometheus metrics of this process, and work-order and outbox figures (a key of
        role admin or reader)."""
        await _refresh_database_figures(request.app)
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


async def _refresh_database_figures(app: FastAPI) -> None:
    engine = app.state.engine
    pool = engine.pool
    DB_POOL.labels("checked_out").set(pool.checkedout())
    DB_POOL.labels("idle").set(pool.checkedin())
    DB_POOL.labels("overflow").set(max(pool.overflow(), 0))
    DB_POOL.labels("size").set(pool.size())
    cached_at = getattr(app.state, "metrics_refreshed_at", None)
    now = time.monotonic()
    if cached_at is not None and now - cached_at < DB_FIGURES_TTL_SECONDS:
        return
    app.state.metrics_refreshed_at = now
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SET statement_timeout = '2s'"))
            row = (
                await conn.execute(
                    text(
                        "SELECT count(*) FILTER (WHERE state <> 'closed'),"
                        " count(*) FILTER (WHERE state <> 'closed' AND next_due_at < now())"
                        " FROM work_order"
                    )
                )
            ).one()
            backlog = (
                await conn.execute(
                    text(
                        "SELECT count(*) FROM outbox"
                        " WHERE delivered_at IS NULL AND failed_at IS NULL"
                    )
                )
            ).scalar_one()
            await conn.execute(text("RESET statement_timeout"))
    except Exception as exc:
        # Metrics stay readable while the database is away: that is when they matter.
        log.warning("metrics: database figures unavailable (%s)", exc.__class__.__name__)
        DB_UP.set(0)
        return
    WORK_ORDERS_OPEN.set(row[0])
    WORK_ORDERS_OVERDUE.set(row[1])
    OUTBOX_BACKLOG.set(backlog)
    DB_UP.set(1)
