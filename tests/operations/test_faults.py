"""PostgreSQL stopped for real under a running app: 503 with Retry-After within a second for
reads and writes, never 500, and recovery without restarting the app once it is back."""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

import httpx
import pytest

from app import migrate
from app.config import Settings
from bench.chaos import EmbeddedPostgres
from tests.fixtures.db import running_app
from tests.fixtures.factories import auth, event, make_key


@pytest.fixture(scope="module")
def own_postgres():
    """An embedded PostgreSQL of this module's own, which the tests kill and start again."""
    postgres = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="haochaping-faults-")), "faults")
    migrate.upgrade(postgres.url)
    yield postgres
    postgres.close()


async def timed(http: httpx.AsyncClient, method: str, path: str, **kwargs):
    started = time.monotonic()
    response = await http.request(method, path, **kwargs)
    return response, time.monotonic() - started


async def assert_unavailable(http: httpx.AsyncClient, key: str) -> None:
    """Every request that needs the database: 503 problem+json with Retry-After, within 1 s."""
    headers = auth(key)
    requests = [
        ("POST", "/v1/ratings", {"json": event(department_code="FA"), "headers": headers}),
        (
            "POST",
            "/v1/ratings/batch",
            {"json": {"events": [event(department_code="FA")]}, "headers": headers},
        ),
        ("GET", "/v1/ratings", {"headers": headers}),
        ("GET", "/v1/tickets", {"headers": headers}),
        ("GET", "/v1/departments", {"headers": headers}),
        ("PUT", "/v1/departments/FB", {"json": {"name": "另一个局"}, "headers": headers}),
        ("GET", "/v1/stats/overview", {"headers": headers}),
        ("GET", "/readyz", {}),
    ]
    for method, path, kwargs in requests:
        for _ in range(2):  # the first may meet a dead pooled connection, the second a refusal
            r, took = await timed(http, method, path, **kwargs)
            assert r.status_code == 503, (method, path, r.status_code, r.text)
            assert r.headers["content-type"].startswith("application/problem+json")
            assert int(r.headers["Retry-After"]) > 0
            assert r.headers.get("X-Request-ID")
            assert took < 1.0, (method, path, took)
    assert (await http.get("/healthz")).status_code == 200
    metrics = await http.get("/metrics", headers=headers)  # its key checked before the outage
    assert metrics.status_code == 200 and "haochaping_db_up 0.0" in metrics.text


async def assert_recovers(http: httpx.AsyncClient, key: str) -> None:
    """Within a few seconds and without restarting the app, writes and reads succeed again."""
    deadline = time.monotonic() + 15
    while True:
        r = await http.post("/v1/ratings", json=event(department_code="FA"), headers=auth(key))
        if r.status_code == 201:
            break
        assert r.status_code == 503, r.text
        assert time.monotonic() < deadline, "the app did not recover"
        await asyncio.sleep(0.2)
    listed = await http.get("/v1/ratings", headers=auth(key))
    assert listed.status_code == 200, listed.text
    ready = await http.get("/readyz")
    assert ready.status_code == 200, ready.text


@pytest.mark.parametrize("how", ["immediate stop", "SIGKILL"])
async def test_database_down_is_503_within_a_second_and_the_app_recovers(own_postgres, how):
    settings = Settings(
        database_url=own_postgres.url, background_jobs=False, db_pool_size=4, db_max_overflow=2
    )
    async with running_app(settings, own_postgres.url) as (application, http):
        admin = await make_key(application, "admin")
        r = await http.put("/v1/departments/FA", json={"name": "故障局"}, headers=auth(admin))
        assert r.status_code in (200, 201), r.text
        # Warm the pool: the outage then finds live-looking connections that are dead.
        await asyncio.gather(*(http.get("/v1/ratings", headers=auth(admin)) for _ in range(4)))
        stored = await http.post(
            "/v1/ratings", json=event(department_code="FA"), headers=auth(admin)
        )
        assert stored.status_code == 201, stored.text
        assert (await http.get("/metrics", headers=auth(admin))).status_code == 200  # a scrape
        application.state.metrics_refreshed_at = None  # the next one queries afresh

        await asyncio.to_thread(own_postgres.kill if how == "SIGKILL" else own_postgres.stop)
        try:
            await assert_unavailable(http, admin)
        finally:
            await asyncio.to_thread(own_postgres.start)
        await assert_recovers(http, admin)
        r = await http.get(f"/v1/ratings/{stored.json()['id']}", headers=auth(admin))
        assert r.status_code == 200, r.text
