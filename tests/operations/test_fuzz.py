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
from app.main import create_app, openapi_json
from tests.fixtures.db import TEST_DB
from tests.fixtures.factories import auth

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
    from tests.fixtures.factories import make_key

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
    r"^GET (/v1/(departments.*|staff.*|ratings.*|tickets.*|complaints/.*|calendar/.*|stats/.*"
    r"|alert-rules.*|alerts.*|provincial/profiles|exports/gbt39046)|/metrics)$"
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


# --- live, over HTTP ----------------------------------------------------------------------------


def test_the_contract_holds_over_http_stateful_with_key_revocation(pg_url, tmp_path_factory):
    """A real `haochaping serve` on 127.0.0.1, driven by schemathesis's state machine (links:
    a key issued then revoked, a subscription made then read and changed) with an admin key:
    no 5xx, no status or body outside the contract, and never locked out (an active admin key
    remains; the one in use is refused revocation as the last)."""
    import httpx
    from sqlalchemy import text as sql

    from tests.fixtures.live_server import live_server

    with live_server(
        pg_url,
        tmp_path_factory.mktemp("live-fuzz"),
        "haochaping_test_live_fuzz",
        rate_limits_enabled="false",
        db_pool_size="4",
    ) as live:
        admin = auth(live.keys["admin"])
        (admin_key_id,) = [
            k["id"] for k in httpx.get(f"{live.base}/v1/keys", headers=admin).json()
            if k["role"] == "admin"
        ]  # fmt: skip
        live_schema = schemathesis.openapi.from_dict(json.loads(openapi_json()))
        live_schema.config.update(base_url=live.base)
        statuses: list[int] = []

        class Live(live_schema.as_state_machine()):
            def before_call(self, case):
                # Generated credentials (a bearer token, a signature header) would only be
                # refused: every step goes with the admin key.
                case.headers = {
                    name: value
                    for name, value in (case.headers or {}).items()
                    if name.lower() not in ("authorization", "x-api-key")
                    and not name.lower().startswith("x-hcp-")
                }

            def get_call_kwargs(self, case):
                return {"headers": admin, "timeout": 10}

            def after_call(self, response, case):
                statuses.append(response.status_code)

            def validate_response(self, response, case, additional_checks=None, **kwargs):
                case.validate_response(response, checks=CHECKS, transport_kwargs=kwargs)

        Live.run(
            settings=hypothesis_settings(
                max_examples=25,
                stateful_step_count=5,
                deadline=None,
                derandomize=True,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
        )
        assert statuses and not [s for s in statuses if s >= 500], statuses
        # The revocation that would lock everyone out is refused; the key still works.
        r = httpx.delete(f"{live.base}/v1/keys/{admin_key_id}", headers=admin)
        if r.status_code == 409:
            assert r.json()["type"].endswith("/last-admin-key")
        else:  # the run issued another admin key: this one may go, then that one is the last
            assert r.status_code in (200, 401), r.text

        async def active_admin_keys() -> int:
            engine = create_async_engine(live.database_url)
            async with engine.connect() as conn:
                count = (
                    await conn.execute(
                        sql(
                            "SELECT count(*) FROM api_key k JOIN client c ON c.id = k.client_id "
                            "WHERE c.role = 'admin' AND k.revoked_at IS NULL"
                        )
                    )
                ).scalar_one()
            await engine.dispose()
            return count

        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            assert pool.submit(asyncio.run, active_admin_keys()).result() >= 1
