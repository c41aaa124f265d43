"""The single-event POST's direct path (app/ratings/fastpath.py) against the generic route.

The direct path must give the very answers the generic route gives, write the same rows and
the same audit entries, and hand everything else over without doing anything twice. Each case
is posted to the service as it runs (direct path on) and to a second app on the same database
with the direct path off, and the two answers are compared."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import text

from tests.fixtures.db import running_app
from tests.fixtures.factories import (
    assert_problem,
    auth,
    count_ratings,
    event,
    make_department,
    make_device,
    make_key,
    make_window,
    now,
)
from tests.fixtures.ingest import counting

# What differs between two stored ratings of the same content.
_OWN = {"id", "event_id", "received_at"}


def comparable(response: httpx.Response) -> tuple:
    body = response.json()
    if isinstance(body, dict) and "id" in body:
        body = {k: v for k, v in body.items() if k not in _OWN}
    headers = {
        name: response.headers.get(name)
        for name in ("content-type", "idempotent-replayed", "retry-after", "www-authenticate")
    }
    return response.status_code, body, headers


async def both(client, generic, headers, **fields) -> tuple[httpx.Response, httpx.Response]:
    """The same event content posted to each app (each under its own event_id)."""
    body = event(**fields)
    direct = await client.post("/v1/ratings", json=body, headers=headers)
    other = await generic.post(
        "/v1/ratings", json={**body, "event_id": "g-" + body["event_id"]}, headers=headers
    )
    assert comparable(direct) == comparable(other), (direct.text, other.text)
    return direct, other


async def test_a_plain_rating_is_answered_directly_as_the_generic_route_would(
    client, generic, portal
):
    async with counting("direct"):
        direct, _ = await both(client, generic, portal, window_no="A01", level=4)
    assert direct.status_code == 201
    assert direct.json()["level"] == 4 and direct.json()["is_bad"] is False


async def test_personal_data_tags_and_comment_are_stored_and_masked_alike(
    app, client, generic, portal
):
    fields = {
        "window_no": "A01",
        "staff_id": "S001",
        "case_no": "BJ-2026-001",
        "service_item_code": "330000-001",
        "service_item_name": "营业执照变更",
        "tags": ["praise_attitude", "praise_efficiency"],
        "comment": "办理很快",
        "rater": {"type": "enterprise", "name": "张三丰", "phone": "13812345678"},
    }
    async with counting("direct"):
        direct, other = await both(client, generic, portal, **fields)
    assert direct.json()["rater"]["phone"] == "138****5678"
    async with app.state.engine.connect() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT channel, department_code, window_no, staff_id, case_no, tags, "
                    "comment_hash, rater_type, rater_phone_hash, rated_at, assess_number, "
                    "historical, flags, rater_phone <> :phone AS encrypted, "
                    "comment LIKE 'hcp1:%' AS comment_sealed "
                    "FROM rating WHERE id IN (:a, :b) ORDER BY id"
                ),
                {"a": direct.json()["id"], "b": other.json()["id"], "phone": "13812345678"},
            )
        ).all()
    assert len(rows) == 2 and rows[0] == rows[1]
    assert rows[0].encrypted is True and rows[0].comment_sealed is True


async def test_a_device_key_fills_its_department_and_window(app, client, generic, admin):
    _, headers = await make_device(client, admin, "SJ", "B02")
    body = {k: v for k, v in event().items() if k not in ("department_code", "channel")}
    async with counting("direct"):
        direct = await client.post("/v1/ratings", json=body, headers=headers)
    other = await generic.post("/v1/ratings", json={**body, "event_id": "g"}, headers=headers)
    assert comparable(direct) == comparable(other)
    assert direct.json()["department_code"] == "SJ" and direct.json()["window_no"] == "B02"
    assert direct.json()["channel"] == "window_device"


async def test_an_admin_imports_a_historical_rating_directly(app, client, generic, admin):
    await make_department(client, admin, "SJ")
    rated_at = (now() - timedelta(days=400)).isoformat()
    async with counting("direct"):
        direct, _ = await both(client, generic, admin, rated_at=rated_at)
    assert direct.status_code == 201 and direct.json()["historical"] is True


@pytest.mark.parametrize(
    ("fields", "reason", "status"),
    [
        ({"level": 6}, "invalid_body", 422),
        ({"surprise": 1}, "invalid_body", 422),
        ({"rated_at": "2026-10-09T09:30:00"}, "invalid_body", 422),
        ({"department_code": "NOPE"}, "not_stored", 422),
        ({"rated_at": "OLD"}, "rejected", 422),
        ({"rated_at": "FUTURE"}, "rejected", 422),
        ({"level": 1, "tags": ["attitude"]}, "bad_review", 201),
    ],
    ids=["level", "unknown-field", "naive-time", "unknown-dept", "too-old", "future", "差评"],
)
async def test_what_is_not_plain_is_handed_over_and_answered_alike(
    client, generic, portal, fields, reason, status
):
    fields = dict(fields)
    if fields.get("rated_at") == "OLD":
        fields["rated_at"] = (now() - timedelta(days=31)).isoformat()
    elif fields.get("rated_at") == "FUTURE":
        fields["rated_at"] = (now() + timedelta(minutes=10)).isoformat()
    async with counting(reason):
        direct, _ = await both(client, generic, portal, **fields)
    assert direct.status_code == status, direct.text


async def test_a_bad_review_handed_over_opens_its_work_order(app, client, portal):
    async with counting("bad_review"):
        r = await client.post("/v1/ratings", json=event(level=2, tags=["waiting"]), headers=portal)
    assert r.status_code == 201
    async with app.state.engine.connect() as conn:
        orders = (
            await conn.execute(
                text("SELECT count(*) FROM work_order WHERE rating_id = :id"),
                {"id": r.json()["id"]},
            )
        ).scalar_one()
    assert orders == 1


async def test_a_retry_is_replayed_and_a_reused_event_id_refused(app, client, portal):
    first = event(window_no="A01")
    async with counting("direct"):
        created = await client.post("/v1/ratings", json=first, headers=portal)
    async with counting("not_stored"):
        again = await client.post("/v1/ratings", json=first, headers=portal)
    assert created.status_code == 201
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == created.json()
    async with counting("not_stored"):
        reused = await client.post("/v1/ratings", json={**first, "level": 4}, headers=portal)
    assert_problem(reused, 422, "event_id", "event-id-reused")
    assert await count_ratings(app) == 1


async def test_concurrent_identical_posts_store_one_row(app, client, portal):
    body = event(window_no="A01")
    responses = await asyncio.gather(
        *(client.post("/v1/ratings", json=body, headers=portal) for _ in range(12))
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 11 + [201], statuses
    assert len({r.json()["id"] for r in responses}) == 1
    assert await count_ratings(app) == 1


async def test_a_key_revoked_while_remembered_is_refused_at_once(app, client, admin):
    await make_department(client, admin, "SJ")
    issued = (
        await client.post("/v1/keys", json={"role": "portal", "client_name": "网厅"}, headers=admin)
    ).json()
    headers = auth(issued["key"])
    async with counting("direct"):
        assert (await client.post("/v1/ratings", json=event(), headers=headers)).status_code == 201
    revoked = await client.delete(f"/v1/keys/{issued['id']}", headers=admin)
    assert revoked.status_code in (200, 204), revoked.text
    async with counting("key_changed"):
        refused = await client.post("/v1/ratings", json=event(), headers=headers)
    assert_problem(refused, 401)
    async with counting("unknown_key"):  # forgotten: looked up afresh, and not found
        assert_problem(await client.post("/v1/ratings", json=event(), headers=headers), 401)
    assert await count_ratings(app) == 1


async def test_a_device_moved_while_remembered_rates_its_new_window(app, client, admin):
    device, headers = await make_device(client, admin, "SJ", "A01")
    await make_window(client, admin, "SJ", "B07")
    bare = {k: v for k, v in event().items() if k not in ("department_code", "channel")}
    async with counting("direct"):
        r = await client.post("/v1/ratings", json=bare, headers=headers)
    assert r.json()["window_no"] == "A01"
    moved = await client.patch(
        f"/v1/devices/{device['id']}", json={"window_no": "B07"}, headers=admin
    )
    assert moved.status_code == 200, moved.text
    async with counting("key_changed"):
        r = await client.post("/v1/ratings", json={**bare, "event_id": "e2"}, headers=headers)
    assert r.status_code == 201 and r.json()["window_no"] == "B07"
    async with counting("direct"):  # remembered afresh
        r = await client.post("/v1/ratings", json={**bare, "event_id": "e3"}, headers=headers)
    assert r.json()["window_no"] == "B07"
    deactivated = await client.patch(
        f"/v1/devices/{device['id']}", json={"active": False}, headers=admin
    )
    assert deactivated.status_code == 200
    async with counting("key_changed"):
        r = await client.post("/v1/ratings", json={**bare, "event_id": "e4"}, headers=headers)
    assert_problem(r, 422)
    assert await count_ratings(app) == 3


async def test_a_signature_required_while_remembered_is_enforced(app, client, admin):
    device, headers = await make_device(client, admin, "SJ", "A01")
    bare = {k: v for k, v in event().items() if k not in ("department_code", "channel")}
    assert (await client.post("/v1/ratings", json=bare, headers=headers)).status_code == 201
    changed = await client.patch(
        f"/v1/clients/{device['client_id']}", json={"require_signature": True}, headers=admin
    )
    assert changed.status_code == 200
    async with counting("key_changed"):
        r = await client.post("/v1/ratings", json={**bare, "event_id": "e2"}, headers=headers)
    assert_problem(r, 401)
    assert r.json().get("reason") == "signature-required"
    assert await count_ratings(app) == 1


async def test_the_direct_path_writes_the_same_audit_entry(app, client, generic, portal):
    request_id = f"req-{uuid.uuid4().hex[:8]}"
    headers = {**portal, "X-Request-ID": request_id}
    direct = await client.post("/v1/ratings", json=event(), headers=headers)
    other = await generic.post("/v1/ratings", json=event(), headers={**portal})
    assert direct.headers["x-request-id"] == request_id
    async with app.state.engine.connect() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT actor_key_id, actor_client_id, actor, action, target, result, "
                    "request_id, detail FROM audit_log WHERE request_id IN (:a, :b) ORDER BY id"
                ),
                {"a": request_id, "b": other.headers["x-request-id"]},
            )
        ).all()
    assert len(rows) == 2
    mine, theirs = rows
    assert mine.request_id == request_id
    assert tuple(mine)[:-2] + tuple(mine)[-1:] == tuple(theirs)[:-2] + tuple(theirs)[-1:]
    assert mine.action == "POST /v1/ratings" and mine.detail == {"changed": {"rating": 1}}


async def test_a_retry_spends_one_rate_limit_token(app, client, admin, settings, pg_url):
    await make_department(client, admin, "SJ")
    key = auth(await make_key(app, "portal"))
    limited = settings.model_copy(
        update={"rate_limits": {"portal": (0.001, 2)}, "background_jobs": False}
    )
    async with running_app(limited, pg_url) as (application, http):
        body = event()
        assert (await http.post("/v1/ratings", json=body, headers=key)).status_code == 201
        replay = await http.post("/v1/ratings", json=body, headers=key)
        assert replay.status_code == 200, replay.text  # one token each, not two
        async with counting("rate_limited"):
            refused = await http.post("/v1/ratings", json=event(), headers=key)
    assert_problem(refused, 429)
    assert "Retry-After" in refused.headers
    assert await count_ratings(app) == 1


async def test_a_chunked_body_takes_the_generic_route(app, client, portal):
    import json

    payload = json.dumps(event()).encode()

    async def chunks():
        yield payload[:10]
        yield payload[10:]

    async with counting("not_plain"):
        r = await client.post(
            "/v1/ratings",
            content=chunks(),
            headers={**portal, "Content-Type": "application/json"},
        )
    assert r.status_code == 201, r.text
    assert await count_ratings(app) == 1


async def test_a_signed_request_takes_the_generic_route(client, portal):
    headers = {**portal, "X-HCP-Nonce": "n" * 20}
    async with counting("not_plain"):
        r = await client.post("/v1/ratings", json=event(), headers=headers)
    assert_problem(r, 401)


async def test_a_hand_over_after_a_changed_principal_spends_one_token(
    app, client, admin, settings, pg_url
):
    await make_department(client, admin, "SJ")
    issued = (
        await client.post("/v1/keys", json={"role": "portal", "client_name": "网厅"}, headers=admin)
    ).json()
    key = auth(issued["key"])
    limited = settings.model_copy(
        update={"rate_limits": {"portal": (0.001, 3)}, "background_jobs": False}
    )
    async with running_app(limited, pg_url) as (application, http):
        assert (await http.post("/v1/ratings", json=event(), headers=key)).status_code == 201
        async with app.state.engine.begin() as conn:
            await conn.execute(
                text("UPDATE client SET name = '网上办事大厅' WHERE id = :id"),
                {"id": issued["client_id"]},
            )
        async with counting("key_changed"):
            renamed = await http.post("/v1/ratings", json=event(), headers=key)
        assert renamed.status_code == 201, renamed.text
        third = await http.post("/v1/ratings", json=event(), headers=key)
        assert third.status_code == 201, third.text  # the hand-over spent one token, not two
        assert_problem(await http.post("/v1/ratings", json=event(), headers=key), 429)
    assert await count_ratings(app) == 3


async def test_a_full_direct_pool_hands_over_instead_of_refusing(app, client, settings, pg_url):
    await make_department(client, await _admin(app), "SJ")
    key = auth(await make_key(app, "portal"))
    small = settings.model_copy(
        update={
            "fast_ingest_pool_size": 1,
            "db_connect_timeout_seconds": 0.3,
            "background_jobs": False,
        }
    )
    async with running_app(small, pg_url) as (application, http):
        async with application.state.fast_ingest_pool.acquire():
            async with counting("busy"):
                r = await http.post("/v1/ratings", json=event(), headers=key)
    assert r.status_code == 201, r.text
    assert await count_ratings(app) == 1


async def _admin(app) -> dict[str, str]:
    return auth(await make_key(app, "admin"))


async def test_two_content_types_are_not_plain(app, client, portal):
    import json

    headers = [
        ("Authorization", portal["Authorization"]),
        ("Content-Type", "text/plain"),
        ("Content-Type", "application/json"),
    ]
    async with counting("not_plain"):
        r = await client.post("/v1/ratings", content=json.dumps(event()), headers=headers)
    assert_problem(r, 422)  # as the generic route reads it: the first, text/plain
    assert await count_ratings(app) == 0
