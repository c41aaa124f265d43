"""The audit log: every write, key change and unmasked read; append-only; admins read it."""

from __future__ import annotations

import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import text

from app.audit import service as audit
from tests.fixtures.factories import auth, event, make_department, make_key, make_window


@pytest.fixture
async def keys(app, client, admin):
    await make_department(client, admin, "SJ")
    await make_window(client, admin, "SJ", "A01")
    return {
        "admin": admin,
        "portal": auth(await make_key(app, "portal", "政务服务网")),
        "reader": auth(await make_key(app, "reader", "督查")),
    }


async def _entries(client, admin, query=""):
    r = await client.get(f"/v1/audit{query}", headers=admin)
    assert r.status_code == 200, r.text
    return r.json()["items"]


async def test_a_rating_batch_is_one_entry_with_counts(client, keys):
    events = [event(event_id=f"e{i}", level=1 + i % 5) for i in range(10)]
    events.append({"event_id": "bad"})
    r = await client.post(
        "/v1/ratings/batch",
        json={"events": events},
        headers={**keys["portal"], "X-Request-ID": "req-42"},
    )
    assert r.json()["created"] == 10
    (entry,) = await _entries(client, keys["admin"], "?action=POST /v1/ratings/batch")
    assert entry["actor"] == "portal:政务服务网" and entry["result"] == "ok"
    assert entry["request_id"] == "req-42" and entry["target"] == "/v1/ratings/batch"
    assert entry["detail"]["created"] == 10 and entry["detail"]["rejected"] == 1
    # Two 差评 opened two work orders in the same transaction.
    assert entry["detail"]["changed"]["rating"] == 10
    assert entry["detail"]["changed"]["work_order"] == 4
    # A pure retry changes nothing: no new entry.
    r = await client.post("/v1/ratings/batch", json={"events": events[:10]}, headers=keys["portal"])
    assert r.json()["duplicate"] == 10
    assert len(await _entries(client, keys["admin"], "?action=POST /v1/ratings/batch")) == 1


async def test_key_changes_and_registry_writes_are_audited(app, client, keys):
    r = await client.post(
        "/v1/keys", json={"role": "reader", "client_name": "审计"}, headers=keys["admin"]
    )
    assert r.status_code == 201, r.text
    new_key = r.json()
    r = await client.delete(f"/v1/keys/{new_key['id']}", headers=keys["admin"])
    assert r.status_code in (200, 204), r.text
    actions = [e["action"] for e in await _entries(client, keys["admin"])]
    assert "POST /v1/keys" in actions
    assert "DELETE /v1/keys/{key_id}" in actions
    assert "PUT /v1/departments/{code}" in actions
    # The key itself appears nowhere in the log.
    assert new_key["key"] not in (await client.get("/v1/audit", headers=keys["admin"])).text


async def test_a_refused_write_leaves_no_entry(client, keys):
    before = len(await _entries(client, keys["admin"]))
    r = await client.put("/v1/departments/XX", json={"name": "x"}, headers=keys["reader"])
    assert r.status_code == 403
    assert len(await _entries(client, keys["admin"])) == before


async def test_only_admins_read_the_log_filtered_and_paginated(client, keys):
    r = await client.get("/v1/audit", headers=keys["reader"])
    assert r.status_code == 403
    for i in range(5):
        await client.post("/v1/ratings", json=event(event_id=f"s{i}"), headers=keys["portal"])
    portal_entries = await _entries(client, keys["admin"], "?action=POST /v1/ratings")
    assert len(portal_entries) == 5
    actor = portal_entries[0]["actor_client_id"]
    assert len(await _entries(client, keys["admin"], f"?actor={actor}")) == 5
    assert len(await _entries(client, keys["admin"], "?target=/v1/departments/*")) >= 2
    seen, cursor = [], None
    while True:
        query = "?limit=2&action=POST*" + (f"&cursor={cursor}" if cursor else "")
        page = (await client.get(f"/v1/audit{query}", headers=keys["admin"])).json()
        seen += [e["id"] for e in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(seen, reverse=True) and len(seen) == len(set(seen)) >= 5
    first = portal_entries[-1]["at"]
    since = await _entries(client, keys["admin"], f"?since={first.replace('+', '%2B')}")
    assert all(e["at"] >= first for e in since)
    assert (await client.get("/v1/audit?cursor=nope", headers=keys["admin"])).status_code == 422
    assert (
        await client.get("/v1/audit?since=2026-01-01T00:00:00", headers=keys["admin"])
    ).status_code == 422


async def test_rows_cannot_be_changed_or_deleted(app, client, keys):
    await client.post("/v1/ratings", json=event(), headers=keys["portal"])
    for statement in ("UPDATE audit_log SET result = 'forged'", "DELETE FROM audit_log"):
        with pytest.raises(sa_exc.DBAPIError, match="append-only"):
            async with app.state.engine.begin() as conn:
                await conn.execute(text(statement))
    # Retention: only entries older than 180 days, only through the function.
    async with app.state.engine.begin() as conn:
        with pytest.raises(sa_exc.DBAPIError, match="180 days"):
            async with conn.begin_nested():
                await conn.execute(text("SELECT audit_log_purge(interval '30 days')"))
        assert (await conn.execute(text("SELECT audit_log_purge()"))).scalar_one() == 0
        assert (await conn.execute(text("SELECT count(*) FROM audit_log"))).scalar_one() >= 1


def test_write_statements_are_recognised():
    match = audit._WRITE.search
    assert match("INSERT INTO rating (a) SELECT 1").group(1) == "rating"
    assert match("UPDATE work_order SET state = 'x'").group(1) == "work_order"
    assert match("DELETE FROM webhook_subscription WHERE id = 1").group(1) == "webhook_subscription"
    assert match("SELECT * FROM rating FOR UPDATE SKIP LOCKED") is None
    assert match("SELECT * FROM rating WHERE id IN (SELECT id FROM x FOR UPDATE)") is None
