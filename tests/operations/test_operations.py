"""Health, readiness, 503 when the database is away, and migrations up and down."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from app import migrate
from app.config import Settings
from tests.fixtures.db import TEST_DB, running_app
from tests.fixtures.factories import assert_problem, count_ratings, event, make_department, make_key

UNREACHABLE = "postgresql+asyncpg://postgres@127.0.0.1:1/x"


def database_url(pg_url: str, name: str) -> str:
    base, _, query = pg_url.partition("?")
    return base.rsplit("/", 1)[0] + "/" + name + (("?" + query) if query else "")


async def test_healthz(client):
    r = await client.get("/healthz")
    assert r.status_code == 200 and r.json()["status"] == "ok"


async def test_readyz_when_ready(client):
    r = await client.get("/readyz")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "ready"
    assert set(r.json()["schema"]) == migrate.head_revisions()


async def test_503_with_retry_after_when_the_database_is_unreachable():
    settings = Settings(
        database_url=UNREACHABLE, db_connect_timeout_seconds=1, background_jobs=False
    )
    headers = {"Authorization": "Bearer hcp_" + "a" * 43}
    timings = []

    async def timed(method, path, **kwargs):
        started = time.monotonic()
        response = await http.request(method, path, **kwargs)
        timings.append(time.monotonic() - started)
        return response

    async with running_app(settings, UNREACHABLE) as (_, http):
        posted = await timed("POST", "/v1/ratings", json=event(), headers=headers)
        batch = await timed(
            "POST", "/v1/ratings/batch", json={"events": [event()]}, headers=headers
        )
        listed = await timed("GET", "/v1/ratings", headers=headers)
        ready = await timed("GET", "/readyz")
        health = await http.get("/healthz")
    for r in (posted, batch, listed, ready):
        assert_problem(r, 503)
        assert int(r.headers["Retry-After"]) > 0
    assert posted.json()["type"].endswith("service-unavailable")
    assert ready.json()["detail"] == "database unreachable"
    assert max(timings) < 2, timings
    assert health.status_code == 200


async def test_a_write_that_loses_the_database_midway_is_503_and_leaves_nothing(
    app, client, admin, monkeypatch
):
    from app.ratings import ingest as service

    await make_department(client, admin, "SJ")
    headers = {"Authorization": f"Bearer {await make_key(app, 'portal')}"}

    async def connection_lost(session, records):
        raise ConnectionResetError("connection reset by peer")

    monkeypatch.setattr(service, "on_ratings_created", connection_lost)
    r = await client.post(
        "/v1/ratings/batch", json={"events": [event(), event(), event()]}, headers=headers
    )
    assert_problem(r, 503)
    assert "Retry-After" in r.headers
    assert await count_ratings(app) == 0


@pytest.mark.parametrize("fast_ingest", [True, False], ids=["fast-path", "generic"])
async def test_503_not_500_when_the_pool_is_exhausted(app, client, admin, pg_url, fast_ingest):
    await make_department(client, admin, "SJ")
    key = await make_key(app, "portal")
    settings = Settings(
        database_url=pg_url,
        db_pool_size=1,
        db_max_overflow=0,
        db_connect_timeout_seconds=0.5,
        background_jobs=False,
        fast_ingest=fast_ingest,
        fast_ingest_pool_size=1,
    )
    async with running_app(settings, pg_url) as (busy_app, http):
        fast_pool = busy_app.state.fast_ingest_pool
        async with contextlib.AsyncExitStack() as held:
            await held.enter_async_context(busy_app.state.engine.connect())
            if fast_pool is not None:
                await held.enter_async_context(fast_pool.acquire())
            started = time.monotonic()
            r = await http.post("/v1/ratings", json=event(), headers={"X-API-Key": key})
            elapsed = time.monotonic() - started
        after = await http.post("/v1/ratings", json=event(), headers={"X-API-Key": key})
    assert_problem(r, 503)
    assert "Retry-After" in r.headers
    assert elapsed < 2
    assert after.status_code == 201, after.text
    assert await count_ratings(app) == 1


# --- migrations -------------------------------------------------------------------------------


@pytest.fixture
async def empty_database(pg_url):
    """A database of its own on the test server, dropped afterwards."""
    name = f"{TEST_DB}_mig_{uuid.uuid4().hex[:8]}"
    server = create_async_engine(database_url(pg_url, "postgres"), isolation_level="AUTOCOMMIT")
    async with server.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield database_url(pg_url, name)
    finally:
        async with server.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await server.dispose()


async def schema_objects(url: str) -> dict[str, set[str]]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            relations = set(
                (
                    await conn.execute(
                        text(
                            "SELECT c.relname FROM pg_class c "
                            "JOIN pg_namespace n ON n.oid = c.relnamespace "
                            "WHERE n.nspname = 'public'"
                        )
                    )
                ).scalars()
            )
            types = set(
                (
                    await conn.execute(
                        text(
                            "SELECT t.typname FROM pg_type t "
                            "JOIN pg_namespace n ON n.oid = t.typnamespace "
                            "WHERE n.nspname = 'public' AND t.typtype IN ('e', 'd', 'c') "
                            "AND NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.reltype = t.oid)"
                        )
                    )
                ).scalars()
            )
            functions = set(
                (
                    await conn.execute(
                        text(
                            "SELECT p.proname FROM pg_proc p "
                            "JOIN pg_namespace n ON n.oid = p.pronamespace "
                            "WHERE n.nspname = 'public'"
                        )
                    )
                ).scalars()
            )
            versions = set()
            if "alembic_version" in relations:
                versions = set(
                    (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalars()
                )
    finally:
        await engine.dispose()
    return {"relations": relations, "types": types, "functions": functions, "versions": versions}


async def test_migrations_upgrade_from_empty_downgrade_cleanly_and_upgrade_again(empty_database):
    url = empty_database
    assert (await schema_objects(url))["relations"] == set()

    await asyncio.to_thread(migrate.upgrade, url)
    upgraded = await schema_objects(url)
    assert upgraded["versions"] == migrate.head_revisions()
    assert {"department", "service_window", "device", "client", "api_key", "rating"} <= upgraded[
        "relations"
    ]

    await asyncio.to_thread(migrate.downgrade, url)
    down = await schema_objects(url)
    assert down["versions"] == set()
    assert down["relations"] <= {"alembic_version", "alembic_version_pkc"}, down["relations"]
    assert down["types"] == set() and down["functions"] == set()

    await asyncio.to_thread(migrate.upgrade, url)
    assert await schema_objects(url) == upgraded


async def test_readyz_reports_a_schema_behind_the_code(empty_database):
    url = empty_database
    settings = Settings(database_url=url, background_jobs=False)
    async with running_app(settings, url) as (_, http):
        missing = await http.get("/readyz")
        await asyncio.to_thread(migrate.upgrade, url, "0001")
        behind = await http.get("/readyz")
        await asyncio.to_thread(migrate.upgrade, url)
        ready = await http.get("/readyz")
    assert_problem(missing, 503)
    assert missing.json()["detail"] == "no schema"
    assert "Retry-After" in missing.headers
    if migrate.head_revisions() != {"0001"}:
        assert_problem(behind, 503)
        assert "haochaping migrate" in behind.json()["detail"]
    assert ready.status_code == 200, ready.text


async def test_a_connection_killed_mid_transaction_is_503_and_leaves_nothing(
    app, client, admin, pg_url, monkeypatch
):
    """As when PostgreSQL restarts while a batch is being written."""
    from app.ratings import ingest as service

    await make_department(client, admin, "SJ")
    key = await make_key(app, "portal")

    async def killed(session, records):
        await session.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))

    settings = Settings(database_url=pg_url, background_jobs=False)
    async with running_app(settings, pg_url) as (_, http):
        monkeypatch.setattr(service, "on_ratings_created", killed)
        r = await http.post(
            "/v1/ratings/batch", json={"events": [event(), event()]}, headers={"X-API-Key": key}
        )
        monkeypatch.undo()
        after = await http.post("/v1/ratings", json=event(), headers={"X-API-Key": key})
    assert_problem(r, 503)
    assert "Retry-After" in r.headers
    assert after.status_code == 201, after.text
    assert await count_ratings(app) == 1
