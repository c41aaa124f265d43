"""Tests run on a real PostgreSQL: the embedded one (pgserver) in a temporary directory, or the
server named by HAOCHAPING_TEST_DATABASE_URL. The schema is made by `alembic upgrade head`."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine

from app import migrate
from app.clock import SettableClock
from app.config import Settings
from app.db import start_embedded_postgres
from app.main import create_app

TEST_DB = "haochaping_test"


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
    return Settings(database_url=pg_url, db_pool_size=10, db_max_overflow=20)


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


@asynccontextmanager
async def running_app(settings: Settings, url: str):
    """Another app on its own engine (another server process), its lifespan running; yields
    the app and an httpx client of it."""
    application = create_app(settings, database_url=url)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield application, http


async def truncate_all(engine, *, restart_identity: bool = True) -> None:
    """Empty every table (and restart its ids: rewriting the sequences' files costs each test
    about 0.2 s, so fast fixtures skip it). Retried when a job of the session's app (the
    roll-up loop, the key-usage flush) holds a lock at that moment: TRUNCATE's exclusive locks
    can then deadlock with it, and PostgreSQL cancels one of the two."""
    async with engine.connect() as conn:
        tables = (
            (
                await conn.execute(
                    text(
                        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                        "AND tablename <> 'alembic_version'"
                    )
                )
            )
            .scalars()
            .all()
        )
    if not tables:
        return
    restart = " RESTART IDENTITY" if restart_identity else ""
    statement = text(f"TRUNCATE {', '.join(tables)}{restart} CASCADE")
    for attempt in range(5):
        try:
            async with engine.begin() as conn:
                await conn.execute(statement)
            return
        except DBAPIError:
            if attempt == 4:
                raise
            await asyncio.sleep(0.1 * (attempt + 1))


@pytest.fixture
async def client(app) -> AsyncIterator[httpx.AsyncClient]:
    """An API client on a database emptied for this test."""
    await truncate_all(app.state.engine)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


# --- factories ---------------------------------------------------------------------------------


async def make_key(
    app, role: str, name: str | None = None, department_code: str | None = None
) -> str:
    from app.auth import service as auth

    async with app.state.sessionmaker() as session:
        created = await auth.create_client(
            session,
            name=name or f"{role}-{uuid.uuid4().hex[:6]}",
            role=role,
            department_code=department_code,
        )
        _, key = await auth.issue_key(session, created.id)
        await session.commit()
    return key


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
async def admin(app, client) -> dict[str, str]:
    """Headers of an admin key."""
    return auth(await make_key(app, "admin", "supervisor"))


async def make_department(http, admin_headers, code="SJ", name="市场监督管理局", **extra):
    response = await http.put(
        f"/v1/departments/{code}", json={"name": name, **extra}, headers=admin_headers
    )
    assert response.status_code in (200, 201), response.text
    return response.json()


async def make_window(http, admin_headers, code="SJ", window_no="A01", name="综合受理窗口"):
    response = await http.put(
        f"/v1/departments/{code}/windows/{window_no}", json={"name": name}, headers=admin_headers
    )
    assert response.status_code in (200, 201), response.text
    return response.json()


async def make_device(
    http, admin_headers, code="SJ", window_no="A01", serial_no=None, *, signed=False
):
    """A department, a window and a registered tablet; returns (device json, headers).

    Unless `signed`, the device is let post with its bare key (require_signature off)."""
    departments = (await http.get("/v1/departments", headers=admin_headers)).json()
    if code not in {d["code"] for d in departments}:
        await make_department(http, admin_headers, code)
    await make_window(http, admin_headers, code, window_no)
    response = await http.post(
        "/v1/devices",
        json={
            "serial_no": serial_no or f"PJQ-{uuid.uuid4().hex[:8]}",
            "department_code": code,
            "window_no": window_no,
        },
        headers=admin_headers,
    )
    assert response.status_code == 201, response.text
    device = response.json()
    if not signed:
        # Devices must sign by default; these tests post with the bare key (test_signing signs).
        response = await http.patch(
            f"/v1/clients/{device['client_id']}",
            json={"require_signature": False},
            headers=admin_headers,
        )
        assert response.status_code == 200, response.text
    return device, auth(device["key"])


# --- a live server and a real browser (page tests: docs, landing page, kiosk, console) ---------
# Imports stay inside the fixtures: most test modules need neither uvicorn nor Playwright.

CHROMIUM = Path("/usr/bin/chromium")
HAVE_CHROMIUM = CHROMIUM.exists()
# A name for the live server that is not loopback, as a browser on an intranet sees the service
# (Swagger UI, for one, treats localhost and 127.0.0.1 specially). The browser fixture resolves
# it to 127.0.0.1 and every other name to nothing: the tests run as offline as an intranet.
INTRANET_HOST = "haochaping.test"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    f"--host-resolver-rules=MAP {INTRANET_HOST} 127.0.0.1, EXCLUDE 127.0.0.1, MAP * ~NOTFOUND",
]


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


class PageRecord:
    """What a page did: every request, and every error it reported."""

    def __init__(self) -> None:
        self.requests: list = []  # playwright Request objects, in order
        self.failed: list[str] = []  # "url: reason"
        self.console_errors: list[str] = []
        self.page_errors: list[str] = []

    def problems(self) -> list[str]:
        return self.failed + self.console_errors + self.page_errors


# Content-Security-Policy violations, also those a console message would not name.
_RECORD_CSP = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(`${e.effectiveDirective} blocked ${e.blockedURI}`);
});
"""


@asynccontextmanager
async def recorded_page(browser, *, locale: str = "zh-CN"):
    """A fresh browser context and page that records its requests and errors; yields
    (page, record). Read CSP violations with `await csp_violations(page)`."""
    context = await browser.new_context(locale=locale)
    record = PageRecord()
    page = await context.new_page()
    page.set_default_timeout(30_000)
    await page.add_init_script(_RECORD_CSP)
    page.on("request", lambda r: record.requests.append(r))
    page.on("requestfailed", lambda r: record.failed.append(f"{r.url}: {r.failure}"))
    page.on(
        "console",
        lambda m: record.console_errors.append(m.text) if m.type == "error" else None,
    )
    page.on("pageerror", lambda e: record.page_errors.append(str(e)))
    try:
        yield page, record
    finally:
        await context.close()


async def csp_violations(page) -> list[str]:
    return await page.evaluate("window.__cspViolations")
