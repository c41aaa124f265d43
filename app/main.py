"""create_app(): routers, middleware, lifespan."""

from __future__ import annotations

import gc
import logging
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app import __version__, planner, privacy
from app.alerts import evaluator as alert_jobs
from app.alerts.router import alerts_router, rules_router
from app.audit.router import router as audit_router
from app.audit.service import AuditMiddleware
from app.auth import usage as key_upkeep
from app.auth.dependencies import install as install_auth
from app.auth.metrics import metrics_reader
from app.auth.router import clients_router
from app.auth.router import router as keys_router
from app.cases.router import router as cases_router
from app.clock import Clock, system_clock
from app.config import Settings, get_settings
from app.console.router import install as install_console
from app.db import create_engine, resolve_database_url
from app.errors import install_error_handlers, is_database_unavailable, problem_response
from app.jobs import JobContext, Jobs
from app.kiosk import pages as kiosk_pages
from app.kiosk import router as kiosk
from app.limits import BodySizeLimit, install_transport_limits
from app.logs import flush_access_log
from app.migrate import head_revisions
from app.notify.dispatcher import RetryPolicy, deliver_due
from app.notify.router import router as webhooks_router
from app.observability import install as install_observability
from app.openapi import install_openapi, spec_json
from app.privacy import retention
from app.privacy.router import router as privacy_router
from app.provincial import jobs as provincial_jobs
from app.provincial import profile as provincial_profile
from app.provincial.router import exports_router as provincial_exports_router
from app.provincial.router import router as provincial_router
from app.ratings import fastpath
from app.ratings.hooks import RatingHooks
from app.ratings.router import personal_data_routes
from app.ratings.router import router as ratings_router
from app.registry.router import router as registry_router
from app.registry.staff_router import router as staff_router
from app.reports.router import router as reports_router
from app.stats import scheduled as stats_jobs
from app.stats.router import router as stats_router
from app.stats.service import rating_status_changed
from app.stats.tables_router import router as stats_tables_router
from app.surveys.router import router as surveys_router
from app.web.router import install as install_pages
from app.workorders.opening import open_for_ratings
from app.workorders.router import rater_routes
from app.workorders.router import routers as workorder_routers
from app.workorders.sweeper import sweep_all
from app.workorders.timing import current_policy

log = logging.getLogger(__name__)

DESCRIPTION = """
The 好差评 (good/bad review) service of a government service centre.

Tablet evaluators (评价器) and online portals post **ratings**; every 差评 becomes a rectification
work order; supervisors read per-department figures. Authenticate with an API key:
`Authorization: Bearer <key>` or `X-API-Key: <key>`. Errors are RFC 9457 `application/problem+json`.
"""


def create_app(
    settings: Settings, database_url: str | None = None, clock: Clock = system_clock
) -> FastAPI:
    """The app; `clock` is its "now" (app.state.clock: routers and background jobs read it)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        # Fails the start when the data keys are malformed (never a plaintext fallback).
        privacy.install(privacy.load_keyring(settings.privacy, data_dir=settings.data_dir))
        url = database_url or resolve_database_url(settings)
        engine = create_engine(url, settings)
        app.state.engine = engine
        app.state.sessionmaker = async_sessionmaker(
            engine, expire_on_commit=False, info=app.state.rating_hooks.session_info()
        )
        app.state.settings = settings
        context = JobContext(engine, app.state.sessionmaker, app.state.clock)
        app.state.jobs = Jobs(context, background=settings.background_jobs)
        register_jobs(app.state.jobs, settings, app.state.key_usage)
        app.state.fast_ingest_pool = (
            fastpath.ConnectionPool.for_engine(engine, settings) if settings.fast_ingest else None
        )
        app.state.jobs.start()
        try:
            yield
        finally:
            await app.state.jobs.stop()
            if app.state.fast_ingest_pool is not None:
                await app.state.fast_ingest_pool.close()
            await engine.dispose()
            flush_access_log()

    app = FastAPI(
        title="haochaping",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        license_info={"name": "Apache-2.0"},
        docs_url=None,  # app/web serves /docs and /redoc without a CDN
        redoc_url=None,
        # FastAPI's OpenTelemetry bridge asks the OpenTelemetry providers on every request
        # whether they are configured (a tenth of a plain POST's CPU); on only when asked for.
        telemetry={"tracing": settings.otel, "metrics": settings.otel, "logs": settings.otel},
    )
    app.state.clock = clock
    app.state.rating_hooks = rating_hooks(app)
    # Validated here: a bad profile file stops the start, never a request.
    app.state.provincial_profiles = provincial_profile.load(settings.provincial.profile_dir)
    install_error_handlers(app)
    install_openapi(app)
    install_pages(app)
    install_console(app)
    fastpath.install(app)  # inside the observability middleware: installed before it
    install_transport_limits(app, settings)  # in front of the direct ingest path too
    install_observability(app, reader=metrics_reader)
    app.add_middleware(
        BodySizeLimit,
        max_bytes=settings.max_body_bytes,
        path_max_bytes={
            "/v1/cases/import": settings.cases_import_max_body_bytes,
            "/v1/provincial/cases": settings.cases_import_max_body_bytes,
        },
    )
    app.add_middleware(AuditMiddleware)
    app.include_router(registry_router)
    app.include_router(staff_router)
    app.include_router(keys_router)
    app.include_router(clients_router)
    install_auth(app, settings)
    app.include_router(ratings_router)
    app.include_router(rater_routes)  # POST /v1/ratings/{id}/withdraw: a work-order action
    app.include_router(personal_data_routes)
    for router in workorder_routers:
        app.include_router(router)
    app.include_router(webhooks_router)
    app.include_router(stats_router)
    app.include_router(reports_router)
    app.include_router(stats_tables_router)
    app.include_router(cases_router)
    app.include_router(surveys_router)
    app.include_router(audit_router)
    app.include_router(privacy_router)
    app.include_router(rules_router)
    app.include_router(alerts_router)
    kiosk.install(app, settings)
    app.include_router(kiosk.router)
    app.include_router(kiosk_pages.router)
    app.include_router(provincial_router)
    app.include_router(provincial_exports_router)

    @app.get("/healthz", tags=["operations"])
    async def healthz() -> dict:
        """The process is up (says nothing of the database)."""
        return {"status": "ok", "version": __version__}

    @app.get("/readyz", tags=["operations"], responses={503: {"description": "Not ready"}})
    async def readyz(request: Request):
        """The database answers and its schema is at the newest migration."""
        heads = head_revisions()
        try:
            async with request.app.state.engine.connect() as conn:
                current = set(
                    (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalars()
                )
        except Exception as exc:
            reason = "database unreachable" if is_database_unavailable(exc) else "no schema"
            return problem_response(
                503, "not-ready", "Not ready", reason, request=request, headers={"Retry-After": "5"}
            )
        if current != heads:
            return problem_response(
                503,
                "not-ready",
                "Not ready",
                f"schema at {sorted(current)}, code expects {sorted(heads)}: "
                "run `haochaping migrate`",
                request=request,
                headers={"Retry-After": "5"},
            )
        return JSONResponse({"status": "ready", "schema": sorted(current)})

    return app


def rating_hooks(app: FastAPI) -> RatingHooks:
    """How the other domains react to ratings, in the rating's own transaction."""
    hooks = RatingHooks()

    async def open_work_orders(session: AsyncSession, records: list[dict[str, Any]]) -> None:
        # The app's deadline policy as it stands, as for inspections and complaints.
        await open_for_ratings(session, records, policy=current_policy(app.state.settings))

    hooks.on_created.append(open_work_orders)
    hooks.on_status_changed.append(rating_status_changed)
    return hooks


def register_jobs(jobs: Jobs, settings: Settings, key_usage: key_upkeep.KeyUsage) -> None:
    """Every loop of the server, in the order they stop (each job's work stays in its domain)."""
    jobs.add("sweeper", _sweep, every=settings.sweep_interval_seconds, first="run")
    dispatcher = _WebhookDispatcher(settings)
    jobs.add(
        "webhook dispatcher",
        dispatcher.run,
        every=settings.outbox_interval_seconds,
        first="run",
        on_stop=dispatcher.close,
    )
    planner.register(jobs)
    retention.register(jobs, settings.privacy)
    stats_jobs.register(jobs, settings.stats)
    key_upkeep.register(jobs, key_usage)
    alert_jobs.register(jobs, settings.alerts)
    profiles = provincial_profile.load(settings.provincial.profile_dir)
    provincial_jobs.register(jobs, settings.provincial, profiles)


async def _sweep(context: JobContext) -> None:
    await sweep_all(context.sessionmaker, now=context.now())


class _WebhookDispatcher:
    """The outbox's delivery rounds, sharing one HTTP client (closed when the job stops)."""

    def __init__(self, settings: Settings) -> None:
        self.timeout = settings.webhook_timeout_seconds
        self.retry = RetryPolicy(max_attempts=settings.webhook_max_attempts)
        self.http: httpx.AsyncClient | None = None

    async def run(self, context: JobContext) -> None:
        if self.http is None:
            self.http = httpx.AsyncClient(timeout=self.timeout)
        await deliver_due(context.sessionmaker, self.http, now=context.now(), retry=self.retry)

    async def close(self, context: JobContext) -> None:
        if self.http is not None:
            await self.http.aclose()
            self.http = None


# The cyclic collector's first generation: a pass when this many more container objects live
# than before, instead of CPython's 700. A 1,000-event batch holds some 20,000 of them until it
# answers: at 700, 25 passes a batch walked its survivors again and again, 2.5 µs an event (7%
# of a batch's CPU, timed through gc.callbacks); at 50,000, none. What a request makes is freed
# by reference counting when it answers; only cycles wait longer to be collected.
GC_FIRST_GENERATION = 50_000


def freeze_startup_objects() -> None:
    """For a server process about to serve: what it has made so far (modules, the app) lives as
    long as the process, so keep it out of the cyclic collector's full passes, which otherwise
    walk it all (tens of ms: a p99 stall); and collect young objects less often."""
    gc.collect()
    gc.freeze()
    _, second, third = gc.get_threshold()
    gc.set_threshold(GC_FIRST_GENERATION, second, third)


def app_factory() -> FastAPI:
    """For `uvicorn --factory app.main:app_factory` (DATABASE_URL or the embedded database)."""
    import os

    from app.logs import configure_logging

    # `haochaping serve --workers N` starts each worker here: the same JSON logs as one process.
    settings = get_settings()
    configure_logging(
        settings.log_level,
        access=os.environ.get("HAOCHAPING_ACCESS_LOG") != "0",
        access_flush_seconds=settings.access_log_flush_seconds,
    )
    app = create_app(settings)
    freeze_startup_objects()
    return app


def openapi_json() -> str:
    """The published contract (openapi/openapi.json): the app's spec, built without a database."""
    app = create_app(Settings(database_url="postgresql+asyncpg://unused@localhost/unused"))
    return spec_json(app)
