"""A bounded schemathesis run against the published contract, on the ASGI app and a database of
its own: no 5xx, every response as the contract says (status, media type, body), and no way in
without a key, nor past a reader key's role."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import re

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from app import migrate
from app.config import Settings
from app.main import create_app
from app.openapi import openapi_json
from tests.conftest import TEST_DB, auth

FUZZ_DB = TEST_DB + "_fuzz"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
PUBLIC = {"/healthz", "/readyz"}
# Small and repeatable: the whole module stays within ~40 s on two cores.
BOUNDED = hypothesis_settings(
    max_examples=5,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)


def fuzz_url(pg_url: str) -> str:
    base, _, query = pg_url.partition("?")
    return base.rsplit("/", 1)[0] + "/" + FUZZ_DB + (("?" + query) if query else "")


async def prepare(pg_url: str) -> dict[str, str]:
    """A fresh migrated database with a department, a window and keys of several roles."""
    server = create_async_engine(pg_url, isolation_level="AUTOCOMMIT")
    async with server.connect() as conn:
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{FUZZ_DB}" WITH (FORCE)'))
        await conn.execute(text(f'CREATE DATABASE "{FUZZ_DB}"'))
    await server.dispose()
    url = fuzz_url(pg_url)
    await asyncio.to_thread(migrate.upgrade, url)
    application = create_app(Settings(database_url=url, background_jobs=False), database_url=url)
    from tests.conftest import make_key

    async with application.router.lifespan_context(application):
        keys = {role: await make_key(application, role) for role in ("admin", "reader")}
        async with application.state.engine.begin() as conn:
            await conn.execute(text("INSERT INTO department (code, name) VALUES ('SJ', '市场局')"))
    return keys


@pytest.fixture(scope="module")
def fuzz_app(pg_url):
    # Its own thread and event loop: the test session's loop is not running here.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        keys = pool.submit(asyncio.run, prepare(pg_url)).result()
    url = fuzz_url(pg_url)
    settings = Settings(database_url=url, background_jobs=False, db_pool_size=4, db_max_overflow=4)
    if "rate_limits_enabled" in Settings.model_fields:
        settings = settings.model_copy(update={"rate_limits_enabled": False})
    return create_app(settings, database_url=url), keys


class LateApp:
    """The ASGI app under test, known only once the fixtures have made its database (pytest
    collects the schema's operations before any fixture runs)."""

    app = None

    async def __call__(self, scope, receive, send) -> None:
        await self.app(scope, receive, send)


TARGET = LateApp()
schema = schemathesis.openapi.from_dict(json.loads(openapi_json()))
schema.app = TARGET


@pytest.fixture(scope="module", autouse=True)
def _target(fuzz_app):
    TARGET.app = fuzz_app[0]
    yield
    # Stop the app's lifespan (its engine) in schemathesis's event loop.
    schemathesis.python.asgi.shutdown_lifespans()
    TARGET.app = None


@schema.parametrize()
@BOUNDED
def test_the_contract_holds_for_an_admin(case, fuzz_app):
    _, keys = fuzz_app
    case.call_and_validate(headers=auth(keys["admin"]), checks=CHECKS)


def _protected(case) -> bool:
    return case.path not in PUBLIC


@schema.parametrize()
@hypothesis_settings(BOUNDED, max_examples=2, phases=[Phase.generate])
def test_no_key_no_entry(case, fuzz_app):
    response = case.call()
    if _protected(case):
        # Never served: 401, or a refusal of the request itself (405, 413, 414, 422).
        assert 400 <= response.status_code < 500, (case.method, case.path, response.text)
        assert response.headers["content-type"][0].startswith("application/problem+json")
    else:
        assert response.status_code < 500, response.text


# Operations a reader key may call; everything else is 403 (or 401, 404, 4xx on bad input).
READER_MAY = re.compile(
    r"^GET /v1/(departments.*|ratings.*|tickets.*|complaints/.*|calendar/.*|stats/.*)$"
)


@schema.parametrize()
@hypothesis_settings(BOUNDED, max_examples=2, phases=[Phase.generate])
def test_a_reader_cannot_write(case, fuzz_app):
    _, keys = fuzz_app
    response = case.call(headers=auth(keys["reader"]))
    assert response.status_code < 500, (case.method, case.path, response.text)
    if _protected(case) and not READER_MAY.match(f"{case.method} {case.path}"):
        assert response.status_code != 200 and response.status_code != 201, (
            case.method,
            case.path,
            response.text,
        )
