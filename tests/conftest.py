"""Tests run on a real PostgreSQL: the embedded one (pgserver) in a temporary directory, or the
server named by HAOCHAPING_TEST_DATABASE_URL. The schema is made by `alembic upgrade head`."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from app import migrate
from app.clock import SettableClock
from app.config import Settings
from app.db import start_embedded_postgres
from app.main import create_app
from tests.fixtures.browser import CHROMIUM, CHROMIUM_ARGS, HAVE_CHROMIUM, INTRANET_HOST
from tests.fixtures.db import TEST_DB, running_app, truncate_all
from tests.fixtures.factories import auth, make_department, make_key, make_window


@pytest.fixture(scope="session")
def pg_url() -> str:
    """A fresh, migrated test database; its URL."""
    external = os.environ.get("HAOCHAPING_TEST_DATABASE_URL")
    data_dir = None
    if external:
        url = external.replace("postgresql://", "postgresql+asyncpg://", 1)
    else:
        data_dir = Path(tempfile.mkdtemp(prefix="haochaping-test-"))
        url = start_embedded_postgres(data_dir, database="postgres")
    admin_url = url
    base, _, query = url.partition("?")
    url = base.rsplit("/", 1)[0] + "/" + TEST_DB + (("?" + query) if query else "")

    async def recreate() -> None:
        engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
        async with engine.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{TEST_DB}" WITH (FORCE)'))
            await conn.execute(text(f'CREATE DATABASE "{TEST_DB}"'))
        await engine.dispose()

    asyncio.run(recreate())
    migrate.upgrade(url)
    yield url
    if data_dir is not None:
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def settings(pg_url: str) -> Settings:
    # Connecting may take over the production default's second when CI runs two suites on two
    # cores (a racing request was once answered 503): tests of the timeout set their own.
    return Settings(
        database_url=pg_url, db_pool_size=10, db_max_overflow=20, db_connect_timeout_seconds=10
    )


@pytest.fixture(scope="session")
def app_clock() -> SettableClock:
    """The session app's clock: the real time unless a test sets it (see `clock`)."""
    return SettableClock()


@pytest.fixture(scope="session")
async def app(settings: Settings, pg_url: str, app_clock: SettableClock):
    application = create_app(settings, database_url=pg_url, clock=app_clock)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
def clock(app_clock: SettableClock) -> Iterator[SettableClock]:
    """The app's "now" for this test: `clock.set(at)` freezes it, `clock.advance(delta)` moves it;
    it follows the real time again afterwards."""
    app_clock.reset()
    yield app_clock
    app_clock.reset()


@pytest.fixture
async def client(app) -> AsyncIterator[httpx.AsyncClient]:
    """An API client on a database emptied for this test (its sequences go on: restarting them
    would cost each test about 0.2 s)."""
    await truncate_all(app.state.engine, restart_identity=False)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


@pytest.fixture
async def admin(app, client) -> dict[str, str]:
    """Headers of an admin key."""
    return auth(await make_key(app, "admin", "supervisor"))


@pytest.fixture
async def portal(app, client, admin) -> dict[str, str]:
    """Department SJ (window A01) and the headers of a portal key."""
    await make_department(client, admin, "SJ")
    await make_window(client, admin, "SJ", "A01")
    return auth(await make_key(app, "portal", "政务服务网"))


@pytest.fixture
async def generic(settings: Settings, pg_url: str, app_clock: SettableClock):
    """A client of a second app on the same database, with the ratings' direct path off, on the
    session app's clock (two processes of one machine share its time)."""
    off = settings.model_copy(update={"fast_ingest": False, "background_jobs": False})
    async with running_app(off, pg_url, clock=app_clock) as (application, http):
        assert application.state.fast_ingest_pool is None
        yield http


# --- a live server (device CLI, page tests) ------------------------------------------------------
# Imports stay inside the fixture: most test modules do not need uvicorn.


@pytest.fixture(scope="session")
def live_server(settings: Settings, pg_url: str, app_clock: SettableClock) -> Iterator[str]:
    """The app served over HTTP by uvicorn on 127.0.0.1 (a free port, a thread and an engine of
    its own, the session's database and clock); its base URL, e.g. http://127.0.0.1:40123."""
    import socket
    import threading
    import time

    import uvicorn

    # No background jobs: the session app's tests drive the roll-up, the sweeper and the outbox
    # themselves, and a second roll-up loop on the same database would race them.
    quiet = settings.model_copy(update={"background_jobs": False})
    application = create_app(quiet, database_url=pg_url, clock=app_clock)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(application, lifespan="on", log_level="warning", access_log=False)
    )
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="live-server", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the live server did not start")
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=15)
    sock.close()


# The page tests' browser (tests/web, tests/kiosk, tests/console): a headless Chromium, and the
# live server under an intranet name.
@pytest.fixture(scope="session")
def intranet_server(live_server: str) -> str:
    """The live server's base URL under INTRANET_HOST (for the browser fixture only)."""
    return live_server.replace("127.0.0.1", INTRANET_HOST, 1)


@pytest.fixture(scope="session")
async def browser():
    """Headless Chromium driven by Playwright: Debian's /usr/bin/chromium (CI installs it),
    never a downloaded one. Skips the test when it is absent."""
    if not HAVE_CHROMIUM:
        pytest.skip(f"{CHROMIUM} is absent: apt-get install chromium to run the browser tests")
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            # Not under libfaketime (.ci/run's shifted run): Chromium does not start there.
            env={k: v for k, v in os.environ.items() if k != "LD_PRELOAD"},
        )
        try:
            yield chromium
        finally:
            await chromium.close()
