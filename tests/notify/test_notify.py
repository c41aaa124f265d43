"""Webhooks: signatures (pure), subscriptions, and outbox delivery with retries and restarts."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select

from app.notify import signing
from app.notify.dispatcher import RetryPolicy, deliver_due
from app.notify.models import Outbox
from tests.fixtures.factories import auth, make_device, make_key
from tests.fixtures.paths import ROOT

SECRET = "whsec_test_secret_0123456789"
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
async def _no_background_jobs(app, clock):
    """No dispatcher of its own; the app's clock stands at T0 (events are queued at T0)."""
    await app.state.jobs.stop()
    clock.set(T0)


# --- signing (pure) -------------------------------------------------------------------------------


def test_signature_round_trip_and_tampering():
    body = b'{"type":"ticket.opened"}'
    headers = signing.signed_headers(SECRET, 1_790_000_000, body)
    assert headers[signing.SIGNATURE_HEADER].startswith("v1=")
    assert signing.verify(SECRET, headers, body, now=1_790_000_100)
    assert not signing.verify(SECRET, headers, body + b" ", now=1_790_000_100)
    assert not signing.verify("another-secret-xxxxxxxx", headers, body, now=1_790_000_100)
    assert not signing.verify(SECRET, headers, body, now=1_790_000_000 + 301)  # a replay
    assert not signing.verify(SECRET, {}, body, now=1_790_000_000)
    # The timestamp is inside the signature: moving it breaks the signature.
    moved = {**headers, signing.TIMESTAMP_HEADER: "1790000001"}
    assert not signing.verify(SECRET, moved, body, now=1_790_000_000)


def test_backoff_doubles_up_to_a_cap():
    retry = RetryPolicy(max_attempts=5, base_seconds=10, cap_seconds=60)
    assert [retry.delay(n).total_seconds() for n in range(1, 6)] == [10, 20, 40, 60, 60]


# --- helpers ------------------------------------------------------------------------------------


class Receiver:
    """Records what it is sent; answers with the queued statuses, then 200."""

    def __init__(self, *statuses: int):
        self.statuses = list(statuses)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(self.statuses.pop(0) if self.statuses else 200)

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self))


async def subscribe(client, admin, events=("ticket.opened",), url="http://receiver.test/hook"):
    r = await client.post(
        "/v1/webhooks",
        json={"name": "督查平台", "url": url, "event_types": list(events), "secret": SECRET},
        headers=admin,
    )
    assert r.status_code == 201, r.text
    return r.json()


async def bad_review(client, device, event_id="n-1"):
    r = await client.post(
        "/v1/ratings",
        json={"event_id": event_id, "level": 1, "rated_at": T0.isoformat()},
        headers=device,
    )
    assert r.status_code == 201, r.text
    return r.json()


async def outbox_rows(app) -> list[Outbox]:
    async with app.state.sessionmaker() as session:
        return list((await session.execute(select(Outbox).order_by(Outbox.id))).scalars())


# --- subscriptions ------------------------------------------------------------------------------


async def test_subscriptions_are_admin_managed(app, client, admin):
    department = auth(await make_key(app, "reader"))
    r = await client.post(
        "/v1/webhooks",
        json={"name": "x", "url": "http://a.test/", "event_types": ["ticket.opened"]},
        headers=department,
    )
    assert r.status_code == 403
    r = await client.post(
        "/v1/webhooks",
        json={"name": "x", "url": "http://a.test/", "event_types": ["ticket.opened"]},
        headers=admin,
    )
    assert r.status_code == 201
    created = r.json()
    assert created["secret"].startswith("whsec_")  # generated, shown once
    listed = (await client.get("/v1/webhooks", headers=admin)).json()
    assert listed[0]["secret"] is None and listed[0]["deliveries"]["pending"] == 0
    for bad in (
        {"name": "x", "url": "not a url", "event_types": ["ticket.opened"]},
        {"name": "x", "url": "http://a.test/", "event_types": ["ticket.exploded"]},
        {"name": "x", "url": "http://a.test/", "event_types": []},
        {"name": "x", "url": "http://a.test/", "event_types": ["ticket.opened"], "secret": "short"},
    ):
        assert (await client.post("/v1/webhooks", json=bad, headers=admin)).status_code == 422
    r = await client.patch(
        f"/v1/webhooks/{created['id']}",
        json={"active": False, "event_types": ["ticket.closed"]},
        headers=admin,
    )
    assert r.status_code == 200
    assert r.json()["active"] is False and r.json()["event_types"] == ["ticket.closed"]


# --- delivery -----------------------------------------------------------------------------------


async def test_delivery_signed_with_a_retry_after_a_failure(app, client, admin):
    _, device = await make_device(client, admin)
    sub = await subscribe(client, admin, events=("ticket.opened", "ticket.closed"))
    await subscribe(client, admin, events=("ticket.closed",), url="http://other.test/")
    rating = await bad_review(client, device)
    (row,) = await outbox_rows(app)
    assert row.event_type == "ticket.opened" and row.delivered_at is None
    assert row.created_at == row.next_attempt_at == T0  # queued at the app's clock

    receiver = Receiver(500)
    async with receiver.client() as http:
        # Not due before it was queued.
        assert await deliver_due(app.state.sessionmaker, http, now=T0 - timedelta(seconds=1)) == 0
        assert await deliver_due(app.state.sessionmaker, http, now=T0) == 1
        (row,) = await outbox_rows(app)
        assert row.attempts == 1 and row.last_error == "HTTP 500" and row.delivered_at is None
        assert row.next_attempt_at == T0 + timedelta(seconds=10)
        # Not yet due again.
        assert await deliver_due(app.state.sessionmaker, http, now=T0 + timedelta(seconds=5)) == 0
        assert await deliver_due(app.state.sessionmaker, http, now=T0 + timedelta(seconds=11)) == 1
        assert await deliver_due(app.state.sessionmaker, http, now=T0 + timedelta(hours=1)) == 0

    assert len(receiver.requests) == 2
    request = receiver.requests[-1]
    assert str(request.url) == "http://receiver.test/hook"
    body = request.content
    assert signing.verify(
        SECRET, dict(request.headers), body, now=int((T0 + timedelta(seconds=11)).timestamp())
    )
    assert request.headers[signing.EVENT_HEADER] == "ticket.opened"
    assert request.headers[signing.DELIVERY_HEADER] == str(row.id)
    event = json.loads(body)
    assert event["type"] == "ticket.opened" and event["data"]["source"] == "rating"
    assert event["data"]["deadlines"]["contact"].endswith("+08:00")
    assert rating["id"]  # the order came from this rating

    status = (await client.get(f"/v1/webhooks/{sub['id']}", headers=admin)).json()["deliveries"]
    assert status["delivered"] == 1 and status["pending"] == 0 and status["failed"] == 0
    deliveries = (await client.get(f"/v1/webhooks/{sub['id']}/deliveries", headers=admin)).json()
    assert deliveries[0]["attempts"] == 2 and deliveries[0]["status"] == "delivered"
    assert deliveries[0]["last_status_code"] == 200


async def test_no_delivery_lost_across_a_restart(app, client, admin):
    _, device = await make_device(client, admin)
    await subscribe(client, admin)
    await bad_review(client, device, "r-1")
    await bad_review(client, device, "r-2")

    # The first process dies while sending: its transaction never commits.
    started = asyncio.Event()

    async def hang(request: httpx.Request) -> httpx.Response:
        started.set()
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")

    async with httpx.AsyncClient(transport=httpx.MockTransport(hang)) as http:
        crashed = asyncio.create_task(deliver_due(app.state.sessionmaker, http, now=T0))
        await asyncio.wait_for(started.wait(), 5)
        crashed.cancel()
        with pytest.raises(asyncio.CancelledError):
            await crashed
    rows = await outbox_rows(app)
    assert len(rows) == 2 and all(r.delivered_at is None and r.attempts == 0 for r in rows)

    # A new dispatcher (a restarted process) sends both.
    receiver = Receiver()
    async with receiver.client() as http:
        assert await deliver_due(app.state.sessionmaker, http, now=T0) == 2
    assert len(receiver.requests) == 2
    assert all(r.delivered_at == T0 for r in await outbox_rows(app))


async def test_two_dispatchers_send_each_row_once(app, client, admin):
    _, device = await make_device(client, admin)
    await subscribe(client, admin)
    for i in range(12):
        await bad_review(client, device, f"d-{i}")
    receiver = Receiver()

    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0.01)
        return receiver(request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(slow)) as http:
        sent = await asyncio.gather(
            deliver_due(app.state.sessionmaker, http, now=T0, batch_size=3),
            deliver_due(app.state.sessionmaker, http, now=T0, batch_size=3),
        )
    assert sum(sent) == 12
    ids = [r.headers[signing.DELIVERY_HEADER] for r in receiver.requests]
    assert len(ids) == 12 and len(set(ids)) == 12


async def test_give_up_then_retry_and_inactive_subscriptions(app, client, admin):
    _, device = await make_device(client, admin)
    sub = await subscribe(client, admin)
    await bad_review(client, device)

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    retry = RetryPolicy(max_attempts=2)
    async with httpx.AsyncClient(transport=httpx.MockTransport(refuse)) as http:
        await deliver_due(app.state.sessionmaker, http, now=T0, retry=retry)
        await deliver_due(app.state.sessionmaker, http, now=T0 + timedelta(minutes=5), retry=retry)
    (row,) = await outbox_rows(app)
    assert row.failed_at is not None and row.attempts == 2
    assert row.last_error.startswith("ConnectError")
    status = (await client.get(f"/v1/webhooks/{sub['id']}", headers=admin)).json()["deliveries"]
    assert status["failed"] == 1 and status["last_error"].startswith("ConnectError")
    failed = await client.get(
        f"/v1/webhooks/{sub['id']}/deliveries", params={"status": "failed"}, headers=admin
    )
    assert len(failed.json()) == 1

    # Deactivated: deliveries wait.
    await client.patch(f"/v1/webhooks/{sub['id']}", json={"active": False}, headers=admin)
    r = await client.post(f"/v1/webhooks/{sub['id']}/retry", headers=admin)
    assert r.json() == {"requeued": 1}
    receiver = Receiver()
    later = T0 + timedelta(minutes=1)  # requeued at the app's clock: due at once
    async with receiver.client() as http:
        assert await deliver_due(app.state.sessionmaker, http, now=later) == 0
        await client.patch(f"/v1/webhooks/{sub['id']}", json={"active": True}, headers=admin)
        assert await deliver_due(app.state.sessionmaker, http, now=later) == 1
    (row,) = await outbox_rows(app)
    assert row.delivered_at == later
    # An inactive subscription gets no new events at all.
    await client.patch(f"/v1/webhooks/{sub['id']}", json={"active": False}, headers=admin)
    await bad_review(client, device, "after")
    assert len(await outbox_rows(app)) == 1


async def test_a_rolled_back_change_sends_nothing(app, client, admin):
    _, device = await make_device(client, admin)
    await subscribe(client, admin, events=("ticket.opened", "ticket.closed"))
    await bad_review(client, device)
    tickets = (await client.get("/v1/tickets", headers=admin)).json()["items"]
    # Refused (409): the transaction is rolled back, no ticket.closed is queued.
    r = await client.post(
        f"/v1/tickets/{tickets[0]['id']}/actions", json={"action": "close"}, headers=admin
    )
    assert r.status_code == 409
    assert [r.event_type for r in await outbox_rows(app)] == ["ticket.opened"]


async def test_delivery_to_a_real_local_server(app, client, admin):
    """The dispatcher's real httpx client against an HTTP server on 127.0.0.1."""
    received: list[tuple[dict[str, str], bytes]] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        headers = {k.lower(): v.strip() for k, v in (x.split(":", 1) for x in lines[1:] if x)}
        body = await reader.readexactly(int(headers["content-length"]))
        received.append((headers, body))
        writer.write(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        _, device = await make_device(client, admin)
        await subscribe(client, admin, url=f"http://127.0.0.1:{port}/hooks/haochaping")
        await bad_review(client, device)
        async with httpx.AsyncClient(timeout=5) as http:
            assert await deliver_due(app.state.sessionmaker, http, now=T0) == 1
    finally:
        server.close()
        await server.wait_closed()
    ((headers, body),) = received
    assert signing.verify(SECRET, headers, body, now=int(T0.timestamp()))
    assert json.loads(body)["type"] == "ticket.opened"
    (row,) = await outbox_rows(app)
    assert row.delivered_at == T0 and row.last_status_code == 204


# --- partial updates, secrets at rest, logs -----------------------------------------------------


async def stored_secret(app, subscription_id) -> str:
    from sqlalchemy import text

    async with app.state.engine.connect() as conn:
        return (
            await conn.execute(
                text("SELECT secret FROM webhook_subscription WHERE id = :id"),
                {"id": subscription_id},
            )
        ).scalar_one()


async def test_an_explicit_null_is_422_naming_the_field_and_changes_nothing(app, client, admin):
    sub = await subscribe(client, admin)
    before = (await client.get(f"/v1/webhooks/{sub['id']}", headers=admin)).json()
    stored = await stored_secret(app, sub["id"])
    for field in ("name", "url", "event_types", "secret", "active"):
        r = await client.patch(f"/v1/webhooks/{sub['id']}", json={field: None}, headers=admin)
        assert r.status_code == 422, (field, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert [e["field"] for e in r.json()["errors"]] == [field]
    r = await client.patch(
        f"/v1/webhooks/{sub['id']}", json={"name": "改名", "url": None}, headers=admin
    )
    assert r.status_code == 422 and [e["field"] for e in r.json()["errors"]] == ["url"]
    after = (await client.get(f"/v1/webhooks/{sub['id']}", headers=admin)).json()
    assert after == before and after["url"] == "http://receiver.test/hook"
    assert await stored_secret(app, sub["id"]) == stored
    # Partial: what is left out keeps its value.
    r = await client.patch(f"/v1/webhooks/{sub['id']}", json={"active": False}, headers=admin)
    assert r.status_code == 200
    assert r.json()["name"] == before["name"] and r.json()["event_types"] == ["ticket.opened"]


async def test_secrets_are_encrypted_at_rest_and_still_sign(app, client, admin):
    from app import privacy
    from app.notify.models import SECRET_CONTEXT

    _, device = await make_device(client, admin)
    sub = await subscribe(client, admin)
    stored = await stored_secret(app, sub["id"])
    assert SECRET not in stored and privacy.is_envelope(stored)
    assert privacy.keyring().decrypt(stored, SECRET_CONTEXT) == SECRET
    new = "rotated-secret-0123456789"
    r = await client.patch(f"/v1/webhooks/{sub['id']}", json={"secret": new}, headers=admin)
    assert r.status_code == 200 and r.json()["secret"] is None
    stored = await stored_secret(app, sub["id"])
    assert new not in stored and privacy.keyring().decrypt(stored, SECRET_CONTEXT) == new
    await bad_review(client, device)
    receiver = Receiver()
    async with receiver.client() as http:
        assert await deliver_due(app.state.sessionmaker, http, now=T0 + timedelta(hours=1)) == 1
    sent = receiver.requests[0]
    headers, at = dict(sent.headers), int(sent.headers[signing.TIMESTAMP_HEADER])
    assert signing.verify(new, headers, sent.content, now=at)
    assert not signing.verify(SECRET, headers, sent.content, now=at)


async def test_the_migration_seals_clear_secrets_and_the_downgrade_opens_them(app, client, admin):
    """0008 on a row written in clear (as before it): sealed; run again: unchanged; down: clear."""
    import importlib.util

    from alembic.migration import MigrationContext
    from alembic.operations import Operations
    from sqlalchemy import text

    from app import privacy

    sub = await subscribe(client, admin)
    async with app.state.engine.begin() as conn:
        await conn.execute(
            text("UPDATE webhook_subscription SET secret = :s WHERE id = :id"),
            {"s": SECRET, "id": sub["id"]},
        )
    path = ROOT / "migrations/versions/2026_12_01_0008_webhook_secrets.py"
    spec = importlib.util.spec_from_file_location("m0008", path)
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)

    def run(sync_conn, step):
        with Operations.context(MigrationContext.configure(sync_conn)):
            step()

    async with app.state.engine.begin() as conn:
        await conn.run_sync(run, migration.upgrade)
    sealed = await stored_secret(app, sub["id"])
    assert privacy.is_envelope(sealed) and SECRET not in sealed
    async with app.state.engine.begin() as conn:
        await conn.run_sync(run, migration.upgrade)
    assert await stored_secret(app, sub["id"]) == sealed  # already sealed: left alone
    async with app.state.engine.begin() as conn:
        await conn.run_sync(run, migration.downgrade)
    assert await stored_secret(app, sub["id"]) == SECRET
    async with app.state.engine.begin() as conn:
        await conn.run_sync(run, migration.upgrade)


async def test_a_database_error_logs_no_sql_parameters(app, client, admin, caplog):
    """A failing UPDATE (a constraint added for the test) is a logged 500 that carries neither
    the secret nor its envelope nor any other parameter."""
    import logging

    from sqlalchemy import text

    sub = await subscribe(client, admin)
    secret = "leaky-secret-0123456789abcdef"
    async with app.state.engine.begin() as conn:
        await conn.execute(
            text(
                "ALTER TABLE webhook_subscription ADD CONSTRAINT ck_test_short "
                "CHECK (length(name) < 10) NOT VALID"
            )
        )
    try:
        caplog.set_level(logging.DEBUG)
        r = await client.patch(
            f"/v1/webhooks/{sub['id']}",
            json={"secret": secret, "name": "一个非常非常长的名字-unique-name"},
            headers=admin,
        )
        assert r.status_code == 500
    finally:
        async with app.state.engine.begin() as conn:
            await conn.execute(
                text("ALTER TABLE webhook_subscription DROP CONSTRAINT ck_test_short")
            )
    logged = "\n".join(
        record.getMessage() + "\n" + (logging.Formatter().formatException(record.exc_info) if
                                      record.exc_info else "")
        for record in caplog.records
    )  # fmt: skip
    assert "ck_test_short" in logged  # the error was logged …
    assert secret not in logged and "hcp1:" not in logged  # … without the parameters
    assert "unique-name" not in logged and "Failing row" not in logged
