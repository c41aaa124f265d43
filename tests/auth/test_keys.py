"""Keys: two active keys at most during a rotation, last_used_at kept cheaply, prompt revocation."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from app.auth.usage import KeyUsage
from tests.fixtures.db import running_app
from tests.fixtures.factories import assert_problem, auth, event, make_department, make_device


@pytest.fixture
async def portal(client, admin):
    await make_department(client, admin, "SJ")
    r = await client.post("/v1/keys", json={"role": "portal", "client_name": "网厅"}, headers=admin)
    assert r.status_code == 201, r.text
    return r.json()


async def last_used(app, key_id) -> datetime | None:
    async with app.state.engine.connect() as conn:
        return (
            await conn.execute(
                text("SELECT last_used_at FROM api_key WHERE id = :id"), {"id": key_id}
            )
        ).scalar_one()


async def test_a_third_active_key_is_409_until_one_is_revoked(client, admin, portal):
    rotate = {"client_id": portal["client_id"]}
    second = await client.post("/v1/keys", json=rotate, headers=admin)
    assert second.status_code == 201, second.text
    third = await client.post("/v1/keys", json=rotate, headers=admin)
    problem = assert_problem(third, 409, type_suffix="conflict")
    assert problem["active_keys"] == 2 and "revoke" in problem["detail"]
    # Both active keys work meanwhile (the rotation window).
    for key in (portal["key"], second.json()["key"]):
        assert (
            await client.post("/v1/ratings", json=event(), headers=auth(key))
        ).status_code == 201
    await client.delete(f"/v1/keys/{portal['id']}", headers=admin)
    third = await client.post("/v1/keys", json=rotate, headers=admin)
    assert third.status_code == 201, third.text
    keys = [k for k in (await client.get("/v1/keys", headers=admin)).json()]
    mine = [k for k in keys if k["client_id"] == portal["client_id"]]
    assert len(mine) == 3 and sum(k["revoked_at"] is None for k in mine) == 2


async def test_a_device_too_holds_two_keys_at_most(client, admin):
    device, _ = await make_device(client, admin)
    rotate = {"client_id": device["client_id"]}
    assert (await client.post("/v1/keys", json=rotate, headers=admin)).status_code == 201
    assert_problem(await client.post("/v1/keys", json=rotate, headers=admin), 409)


async def test_racing_rotations_cannot_make_a_third_key(app, client, admin, portal):
    rotate = {"client_id": portal["client_id"]}
    responses = await asyncio.gather(
        *(client.post("/v1/keys", json=rotate, headers=admin) for _ in range(6))
    )
    assert sorted(r.status_code for r in responses) == [201] + [409] * 5
    async with app.state.engine.connect() as conn:
        active = (
            await conn.execute(
                text("SELECT count(*) FROM api_key WHERE client_id = :c AND revoked_at IS NULL"),
                {"c": portal["client_id"]},
            )
        ).scalar_one()
    assert active == 2


async def test_revocation_takes_effect_on_the_next_request_in_every_process(
    app, client, admin, portal
):
    """No key lookup is cached: a second app (another server process) sees it too."""
    url = str(app.state.engine.url)
    async with running_app(app.state.settings, url) as (_, second):
        headers = auth(portal["key"])
        for http in (client, second):
            assert (await http.get("/v1/ratings", headers=headers)).status_code == 200
        assert (await client.delete(f"/v1/keys/{portal['id']}", headers=admin)).status_code == 200
        for http in (client, second):
            assert_problem(await http.get("/v1/ratings", headers=headers), 401)


async def test_last_used_at_is_written_after_use(app, client, admin, portal):
    assert await last_used(app, portal["id"]) is None
    before = datetime.now(UTC)
    r = await client.post("/v1/ratings", json=event(), headers=auth(portal["key"]))
    assert r.status_code == 201
    assert await app.state.key_usage.flush(app.state.sessionmaker) >= 1
    used = await last_used(app, portal["id"])
    assert used is not None and before - timedelta(seconds=1) <= used <= datetime.now(UTC)
    listed = (await client.get("/v1/keys", headers=admin)).json()
    assert next(k for k in listed if k["id"] == portal["id"])["last_used_at"] is not None


async def test_a_failed_request_counts_as_use(app, client, admin, portal):
    """The key was presented and accepted, even if the request was then refused."""
    r = await client.post("/v1/ratings", json=event(level=9), headers=auth(portal["key"]))
    assert r.status_code == 422
    await app.state.key_usage.flush(app.state.sessionmaker)
    assert await last_used(app, portal["id"]) is not None


async def test_last_used_at_is_written_at_most_once_a_minute_per_key(app, client, admin, portal):
    key_id = uuid.UUID(portal["id"])
    usage = KeyUsage()
    t0 = time.time()
    usage.note(key_id, t0)
    assert await usage.flush(app.state.sessionmaker) == 1
    first = await last_used(app, key_id)
    # Within the minute: nothing is even queued, so no UPDATE is sent.
    for dt in (1, 30, 59):
        usage.note(key_id, t0 + dt)
    assert await usage.flush(app.state.sessionmaker) == 0
    # Another process (its own KeyUsage) within the minute: the UPDATE's condition skips it.
    other = KeyUsage()
    other.note(key_id, t0 + 20)
    await other.flush(app.state.sessionmaker)
    assert await last_used(app, key_id) == first
    # A minute on, the next use is written.
    usage.note(key_id, t0 + 61)
    assert await usage.flush(app.state.sessionmaker) == 1
    assert (await last_used(app, key_id)) - first >= timedelta(seconds=60)


async def test_a_failed_flush_keeps_the_notes(app):
    key_id = uuid.uuid4()
    usage = KeyUsage()
    usage.note(key_id, 1000.0)

    class Broken:
        def __call__(self):
            raise ConnectionError("database down")

    with pytest.raises(ConnectionError):
        await usage.flush(Broken())
    assert usage._pending == {key_id: 1000.0}


async def test_noting_use_costs_less_than_a_microsecond_or_so():
    usage = KeyUsage()
    keys = [uuid.uuid4() for _ in range(1000)]
    start = time.perf_counter()
    for _ in range(100):
        for key_id in keys:
            usage.note(key_id)
    per_call = (time.perf_counter() - start) / 100_000
    assert per_call < 5e-6, per_call


# --- the last admin key ---------------------------------------------------------------------------


async def active_admin_keys(app) -> list[str]:
    async with app.state.engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT k.id FROM api_key k JOIN client c ON c.id = k.client_id "
                "WHERE c.role = 'admin' AND k.revoked_at IS NULL"
            )
        )
        return [str(r[0]) for r in rows]


async def test_the_last_active_admin_key_cannot_be_revoked(app, client, admin):
    (only,) = await active_admin_keys(app)
    r = await client.delete(f"/v1/keys/{only}", headers=admin)
    assert r.status_code == 409 and r.headers["content-type"].startswith("application/problem")
    assert r.json()["type"].endswith("/last-admin-key")
    assert "haochaping keys create --role admin" in r.json()["detail"]
    assert await active_admin_keys(app) == [only]
    assert (await client.get("/v1/keys", headers=admin)).status_code == 200  # still in
    # With a second admin key, the first goes; then the second is the last.
    r = await client.post(
        "/v1/keys", json={"role": "admin", "client_name": "deputy"}, headers=admin
    )
    assert r.status_code == 201, r.text
    second = auth(r.json()["key"])
    assert (await client.delete(f"/v1/keys/{only}", headers=second)).status_code == 200
    (left,) = await active_admin_keys(app)
    assert (await client.delete(f"/v1/keys/{left}", headers=second)).status_code == 409
    # Keys of other roles are revoked as before.
    r = await client.post("/v1/keys", json={"role": "reader", "client_name": "r"}, headers=second)
    assert (await client.delete(f"/v1/keys/{r.json()['id']}", headers=second)).status_code == 200


async def test_two_admins_revoking_each_other_at_once_leave_one(app, client, admin):
    (first_id,) = await active_admin_keys(app)
    for _ in range(5):
        r = await client.post(
            "/v1/keys", json={"role": "admin", "client_name": "other"}, headers=admin
        )
        other_id, other = r.json()["id"], auth(r.json()["key"])
        a, b = await asyncio.gather(
            client.delete(f"/v1/keys/{other_id}", headers=admin),
            client.delete(f"/v1/keys/{first_id}", headers=other),
        )
        # One revocation succeeds; the other is refused as the last (409), or comes with a
        # key already revoked (401).
        assert sorted([a.status_code, b.status_code]) in ([200, 409], [200, 401]), (a, b)
        active = await active_admin_keys(app)
        assert len(active) == 1, active
        if active != [first_id]:  # the other key survived: carry on with it as the first
            first_id, admin = active[0], other
