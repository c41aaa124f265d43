"""Rating ingestion and reading: validation, exactly-once, batches, listing, masking, time zones."""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from app import privacy
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

PHONE = "13812345678"
NAME = "张三丰"


# --- validation: each bad input is a 422 naming its field, and nothing is stored ---------------


INVALID = [
    pytest.param({"department_code": "NOPE"}, "department_code", id="unknown-department"),
    pytest.param({"level": 0}, "level", id="level-0"),
    pytest.param({"level": 6}, "level", id="level-6"),
    pytest.param({"level": -1}, "level", id="level-negative"),
    pytest.param({"level": 4.5}, "level", id="level-fraction"),
    pytest.param({"level": 4.0}, "level", id="level-float"),
    pytest.param({"level": "5"}, "level", id="level-string"),
    pytest.param({"level": True}, "level", id="level-bool"),
    pytest.param({"level": None}, "level", id="level-null"),
    pytest.param({"channel": "fax"}, "channel", id="unknown-channel"),
    pytest.param({"channel": None}, "channel", id="missing-channel"),
    pytest.param({"department_code": None}, "department_code", id="missing-department"),
    pytest.param({"tags": ["rude"]}, "tags.0", id="unknown-tag"),
    pytest.param({"tags": ["attitude", "bogus"]}, "tags.1", id="unknown-second-tag"),
    pytest.param({"tags": ["attitude", "attitude"]}, "tags", id="repeated-tag"),
    pytest.param({"comment": "差" * 501}, "comment", id="comment-501"),
    pytest.param({"rater": {"phone": "1381234567"}}, "rater.phone", id="phone-10-digits"),
    pytest.param({"rater": {"phone": "12812345678"}}, "rater.phone", id="phone-bad-prefix"),
    pytest.param({"rater": {"phone": "138123456789"}}, "rater.phone", id="phone-12-digits"),
    pytest.param({"rater": {"phone": "138-1234-abcd"}}, "rater.phone", id="phone-letters"),
    pytest.param({"rater": {"type": "robot"}}, "rater.type", id="unknown-rater-type"),
    pytest.param({"rater": {"nickname": "x"}}, "rater.nickname", id="unknown-rater-field"),
    pytest.param({"satisfaction": 5}, "satisfaction", id="unknown-field"),
    pytest.param({"assess_number": 3}, "assess_number", id="assess-number-3"),
    pytest.param({"rated_at": "2026-01-01T10:00:00"}, "rated_at", id="naive-rated-at"),
    pytest.param({"rated_at": "yesterday"}, "rated_at", id="garbage-rated-at"),
    pytest.param({"rated_at": 1767225600}, "rated_at", id="unix-time-rated-at"),
    pytest.param({"rated_at": "0001-01-01T00:00:00+08:00"}, "rated_at", id="year-1-rated-at"),
    pytest.param({"rated_at": "9999-12-31T23:59:59-08:00"}, "rated_at", id="year-9999-rated-at"),
    pytest.param({"comment": "a\u0000b"}, "comment", id="nul-in-comment"),
    pytest.param({"rater": {"name": "张\u0000三"}}, "rater.name", id="nul-in-name"),
    pytest.param({"staff_id": "\u0000"}, "staff_id", id="nul-in-staff-id"),
    pytest.param({"service_item_name": "x\u0000"}, "service_item_name", id="nul-in-item"),
    pytest.param({"event_id": ""}, "event_id", id="empty-event-id"),
    pytest.param({"event_id": "x" * 129}, "event_id", id="long-event-id"),
]


@pytest.mark.parametrize(("change", "field"), INVALID)
async def test_invalid_event_is_refused_naming_the_field(app, client, portal, change, field):
    r = await client.post("/v1/ratings", json=event(**change), headers=portal)
    body = assert_problem(r, 422, field)
    assert body["type"].endswith("validation-error")
    assert await count_ratings(app) == 0


async def test_each_invalid_event_in_a_batch_is_rejected_alone_naming_its_field(
    app, client, portal
):
    cases = [(param.values[0], param.values[1]) for param in INVALID]
    events = [event(**change) for change, _ in cases] + [event(event_id="the-valid-one")]
    r = await client.post("/v1/ratings/batch", json={"events": events}, headers=portal)
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    for (change, field), result in zip(cases, results, strict=False):
        assert result["status"] == "rejected", (change, result)
        assert field in [e["field"] for e in result["errors"]], (change, result["errors"])
    assert results[-1]["status"] == "created"
    assert r.json()["rejected"] == len(cases)
    assert await count_ratings(app) == 1


async def test_a_comment_of_exactly_500_characters_is_accepted(client, portal):
    r = await client.post("/v1/ratings", json=event(comment="好" * 500), headers=portal)
    assert r.status_code == 201, r.text


@pytest.mark.parametrize(
    ("phone", "stored"),
    [
        ("13812345678", "13812345678"),
        ("+8613812345678", "13812345678"),
        ("0730-8123456", "0730-8123456"),
        ("010-12345678", "010-12345678"),
    ],
)
async def test_well_formed_phones_are_accepted(app, client, portal, phone, stored):
    r = await client.post("/v1/ratings", json=event(rater={"phone": phone}), headers=portal)
    assert r.status_code == 201, r.text
    async with app.state.engine.connect() as conn:
        sealed = (await conn.execute(text("SELECT rater_phone FROM rating"))).scalar_one()
    # Stored encrypted (app/privacy.py), normalised inside.
    assert privacy.keyring().decrypt(sealed, "rating.rater_phone") == stored


async def test_inactive_department_is_refused(app, client, admin, portal):
    await make_department(client, admin, "SJ", active=False)
    r = await client.post("/v1/ratings", json=event(), headers=portal)
    body = assert_problem(r, 422, "department_code")
    assert body["errors"][0]["code"] == "inactive"
    assert await count_ratings(app) == 0


async def test_inactive_device_is_refused(app, client, admin):
    device, headers = await make_device(client, admin)
    r = await client.patch(f"/v1/devices/{device['id']}", json={"active": False}, headers=admin)
    assert r.status_code == 200, r.text
    payload = {"event_id": "d1", "level": 4, "rated_at": now().isoformat()}
    r = await client.post("/v1/ratings", json=payload, headers=headers)
    body = assert_problem(r, 422, "(key)")  # no body field is at fault: the key's device is
    assert body["errors"][0]["code"] == "inactive"
    assert await count_ratings(app) == 0


async def test_rated_at_more_than_five_minutes_ahead_is_refused(app, client, portal):
    ahead = now() + timedelta(minutes=6)
    r = await client.post("/v1/ratings", json=event(rated_at=ahead.isoformat()), headers=portal)
    assert_problem(r, 422, "rated_at")
    assert await count_ratings(app) == 0


async def test_rated_at_within_the_clock_tolerance_is_accepted(client, portal):
    ahead = now() + timedelta(minutes=4)
    r = await client.post("/v1/ratings", json=event(rated_at=ahead.isoformat()), headers=portal)
    assert r.status_code == 201, r.text


async def test_rated_at_older_than_30_days_is_refused_for_a_portal(app, client, portal):
    old = now() - timedelta(days=31)
    r = await client.post("/v1/ratings", json=event(rated_at=old.isoformat()), headers=portal)
    body = assert_problem(r, 422, "rated_at")
    assert body["errors"][0]["code"] == "too_old"
    assert await count_ratings(app) == 0


async def test_rated_at_29_days_ago_is_accepted_and_not_historical(client, portal):
    recent = now() - timedelta(days=29)
    r = await client.post("/v1/ratings", json=event(rated_at=recent.isoformat()), headers=portal)
    assert r.status_code == 201, r.text
    assert r.json()["historical"] is False


async def test_an_admin_imports_old_events_as_historical(app, client, admin, portal):
    old = now() - timedelta(days=400)
    r = await client.post("/v1/ratings", json=event(rated_at=old.isoformat()), headers=admin)
    assert r.status_code == 201, r.text
    assert r.json()["historical"] is True
    assert await count_ratings(app) == 1


@pytest.mark.parametrize("stamp", ["1970-01-01T00:00:00Z", "1999-12-31T23:59:59+00:00"])
async def test_an_admin_may_not_import_implausibly_old_events(app, client, admin, portal, stamp):
    """A tablet whose clock was reset to 1970 is not a historical import."""
    r = await client.post("/v1/ratings", json=event(rated_at=stamp), headers=admin)
    assert_problem(r, 422, "rated_at")
    assert await count_ratings(app) == 0


async def test_an_admin_may_not_post_from_the_future_either(app, client, admin, portal):
    ahead = now() + timedelta(hours=1)
    r = await client.post("/v1/ratings", json=event(rated_at=ahead.isoformat()), headers=admin)
    assert_problem(r, 422, "rated_at")
    assert await count_ratings(app) == 0


async def test_a_batch_of_more_than_1000_events_is_refused_whole(app, client, portal):
    events = [event(event_id=f"b{i}") for i in range(1001)]
    r = await client.post("/v1/ratings/batch", json={"events": events}, headers=portal)
    assert_problem(r, 422, "events")
    assert await count_ratings(app) == 0


async def test_a_batch_of_exactly_1000_events_is_stored(app, client, portal):
    events = [event(event_id=f"b{i}", level=1 + i % 5) for i in range(1000)]
    r = await client.post("/v1/ratings/batch", json={"events": events}, headers=portal)
    assert r.status_code == 200, r.text
    assert r.json()["created"] == 1000
    assert await count_ratings(app) == 1000


async def test_an_empty_batch_is_refused(client, portal):
    r = await client.post("/v1/ratings/batch", json={"events": []}, headers=portal)
    assert_problem(r, 422, "events")


async def test_a_batch_with_unknown_top_level_fields_is_refused(client, portal):
    r = await client.post(
        "/v1/ratings/batch", json={"events": [event()], "device": "x"}, headers=portal
    )
    assert_problem(r, 422, "device")


async def test_a_body_that_is_not_json_is_a_problem(app, client, portal):
    r = await client.post(
        "/v1/ratings",
        content=b"{not json",
        headers={**portal, "content-type": "application/json"},
    )
    assert_problem(r, 422)
    assert await count_ratings(app) == 0


async def test_an_oversized_body_is_413(app, client, portal):
    limit = app.state.settings.max_body_bytes
    payload = event(comment="x" * 400)
    body = json.dumps({"events": [payload] * (limit // 400 + 10)}).encode()
    assert len(body) > limit
    r = await client.post(
        "/v1/ratings/batch",
        content=body,
        headers={**portal, "content-type": "application/json"},
    )
    assert_problem(r, 413)
    assert await count_ratings(app) == 0


async def test_an_oversized_streamed_body_without_length_is_413(app, client, portal):
    limit = app.state.settings.max_body_bytes
    chunk = json.dumps(event(comment="x" * 400)).encode() + b","

    async def stream():
        yield b'{"events": ['
        for _ in range(limit // len(chunk) + 10):
            yield chunk
        yield json.dumps(event()).encode() + b"]}"

    r = await client.post(
        "/v1/ratings/batch",
        content=stream(),
        headers={**portal, "content-type": "application/json"},
    )
    assert_problem(r, 413)
    assert await count_ratings(app) == 0


# --- devices and portals ----------------------------------------------------------------------


async def test_a_device_key_fills_department_window_and_channel(client, admin):
    device, headers = await make_device(client, admin, "SJ", "A01")
    payload = {"event_id": "d1", "level": 2, "tags": ["waiting"], "rated_at": now().isoformat()}
    r = await client.post("/v1/ratings", json=payload, headers=headers)
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["department_code"], body["window_no"]) == ("SJ", "A01")
    assert body["channel"] == "window_device"
    assert body["is_bad"] is True and body["tags"] == ["waiting"]
    assert body["rater"] is None


async def test_a_device_may_repeat_its_own_department_and_window(client, admin):
    _, headers = await make_device(client, admin, "SJ", "A01")
    payload = event(event_id="d1", channel="window_device", window_no="A01")
    r = await client.post("/v1/ratings", json=payload, headers=headers)
    assert r.status_code == 201, r.text


async def test_a_device_cannot_post_for_another_department(app, client, admin):
    _, headers = await make_device(client, admin, "SJ", "A01")
    await make_department(client, admin, "GA", "公安局")
    payload = {"event_id": "d1", "department_code": "GA", "level": 5}
    r = await client.post(
        "/v1/ratings", json={**payload, "rated_at": now().isoformat()}, headers=headers
    )
    assert_problem(r, 403, "department_code", "forbidden")
    assert await count_ratings(app) == 0


async def test_a_device_cannot_post_for_another_window(app, client, admin):
    _, headers = await make_device(client, admin, "SJ", "A01")
    await make_window(client, admin, "SJ", "A02")
    payload = {"event_id": "d1", "window_no": "A02", "level": 5, "rated_at": now().isoformat()}
    r = await client.post("/v1/ratings", json=payload, headers=headers)
    assert_problem(r, 403, "window_no", "forbidden")
    assert await count_ratings(app) == 0


async def test_a_device_batch_rejects_only_the_foreign_items(app, client, admin):
    _, headers = await make_device(client, admin, "SJ", "A01")
    await make_department(client, admin, "GA", "公安局")
    stamp = now().isoformat()
    events = [
        {"event_id": "d1", "level": 5, "rated_at": stamp},
        {"event_id": "d2", "department_code": "GA", "level": 5, "rated_at": stamp},
        {"event_id": "d3", "window_no": "B9", "level": 5, "rated_at": stamp},
    ]
    r = await client.post("/v1/ratings/batch", json={"events": events}, headers=headers)
    assert [x["status"] for x in r.json()["results"]] == ["created", "rejected", "rejected"]
    assert await count_ratings(app) == 1


async def test_a_portal_posts_for_any_department(app, client, admin, portal):
    await make_department(client, admin, "GA", "公安局")
    await make_department(client, admin, "RS", "人力资源和社会保障局")
    for code in ("SJ", "GA", "RS"):
        r = await client.post(
            "/v1/ratings", json=event(department_code=code, channel="mobile"), headers=portal
        )
        assert r.status_code == 201, r.text
        assert r.json()["department_code"] == code
    assert await count_ratings(app) == 3


# --- exactly once -----------------------------------------------------------------------------


async def test_a_replay_returns_the_stored_rating(app, client, portal):
    payload = event(level=1, tags=["attitude"], rater={"name": NAME, "phone": PHONE})
    first = await client.post("/v1/ratings", json=payload, headers=portal)
    assert first.status_code == 201, first.text
    assert "Idempotent-Replayed" not in first.headers
    again = await client.post("/v1/ratings", json=payload, headers=portal)
    assert again.status_code == 200, again.text
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert await count_ratings(app) == 1


async def test_a_replay_with_the_same_instant_in_another_offset_is_a_duplicate(client, portal):
    instant = now().replace(microsecond=0)
    payload = event(rated_at=instant.isoformat())
    first = await client.post("/v1/ratings", json=payload, headers=portal)
    shanghai = instant.astimezone(datetime.fromisoformat("2026-01-01T00:00+08:00").tzinfo)
    again = await client.post(
        "/v1/ratings", json={**payload, "rated_at": shanghai.isoformat()}, headers=portal
    )
    assert again.status_code == 200, again.text
    assert again.json()["id"] == first.json()["id"]


@pytest.mark.parametrize(
    "change",
    [
        {"level": 4},
        {"comment": "改了"},
        {"tags": ["praise_attitude"]},
        {"rated_at": "2020-01-01T00:00:00+08:00"},
        {"rater": {"phone": "13900000000"}},
    ],
)
async def test_a_reused_event_id_with_another_payload_is_422_and_changes_nothing(
    app, client, portal, change
):
    payload = event(level=5)
    first = await client.post("/v1/ratings", json=payload, headers=portal)
    assert first.status_code == 201
    r = await client.post("/v1/ratings", json={**payload, **change}, headers=portal)
    assert_problem(r, 422, "event_id", "event-id-reused")
    assert await count_ratings(app) == 1
    stored = await client.get(f"/v1/ratings/{first.json()['id']}", headers=portal)
    assert stored.json() == first.json()


async def test_concurrent_identical_posts_store_one_row(app, client, portal):
    payload = event(level=1, tags=["waiting"])
    responses = await asyncio.gather(
        *(client.post("/v1/ratings", json=payload, headers=portal) for _ in range(20))
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 19 + [201], [r.text for r in responses if r.status_code >= 500]
    assert len({r.json()["id"] for r in responses}) == 1
    replayed = [r for r in responses if r.headers.get("Idempotent-Replayed") == "true"]
    assert len(replayed) == 19
    assert await count_ratings(app) == 1


async def test_concurrent_posts_of_one_event_id_with_different_payloads(app, client, portal):
    base = event(event_id="racy")
    payloads = [{**base, "level": 1 + i % 5, "comment": f"第{i}次"} for i in range(12)]
    responses = await asyncio.gather(
        *(client.post("/v1/ratings", json=p, headers=portal) for p in payloads)
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [422] * 11, [r.text for r in responses if r.status_code >= 500]
    for r in responses:
        if r.status_code == 422:
            assert_problem(r, 422, "event_id", "event-id-reused")
    (winner,) = [r.json() for r in responses if r.status_code == 201]
    stored = await client.get(f"/v1/ratings/{winner['id']}", headers=portal)
    assert stored.json() == winner
    assert await count_ratings(app) == 1


async def test_concurrent_identical_batches_store_each_event_once(app, client, portal):
    events = [event(event_id=f"t{i:03d}") for i in range(60)]
    responses = await asyncio.gather(
        *(
            client.post("/v1/ratings/batch", json={"events": events}, headers=portal)
            for _ in range(6)
        )
    )
    assert all(r.status_code == 200 for r in responses), [r.text[:300] for r in responses]
    assert sum(r.json()["created"] for r in responses) == 60
    assert sum(r.json()["duplicate"] for r in responses) == 5 * 60
    ids = {x["rating"]["id"] for r in responses for x in r.json()["results"]}
    assert len(ids) == 60
    assert await count_ratings(app) == 60


async def test_concurrent_overlapping_batches_store_each_event_once(app, client, portal):
    events = [event(event_id=f"e{i:03d}", level=1 + i % 5) for i in range(120)]
    # Eight batches, each a different window over the same events, in different orders.
    batches = [events[i * 10 : i * 10 + 50] for i in range(8)]
    batches = [b if i % 2 else list(reversed(b)) for i, b in enumerate(batches)]
    responses = await asyncio.gather(
        *(client.post("/v1/ratings/batch", json={"events": b}, headers=portal) for b in batches)
    )
    assert all(r.status_code == 200 for r in responses), [r.text[:300] for r in responses]
    created = sum(r.json()["created"] for r in responses)
    duplicate = sum(r.json()["duplicate"] for r in responses)
    sent = {e["event_id"] for b in batches for e in b}
    assert created == len(sent) == await count_ratings(app)
    assert created + duplicate == sum(len(b) for b in batches)
    assert all(r.json()["rejected"] == 0 for r in responses)


async def test_a_batch_with_valid_invalid_and_duplicate_items(app, client, portal):
    earlier = event(event_id="old", level=3)
    assert (await client.post("/v1/ratings", json=earlier, headers=portal)).status_code == 201
    events = [
        event(event_id="a", level=5),
        event(event_id="b", level=9),
        earlier,
        event(event_id="c", level=1, tags=["materials"]),
        event(event_id="d", department_code="NOPE"),
        event(event_id="a", level=5, rated_at=(now() - timedelta(hours=1)).isoformat()),
        {"event_id": "e", "level": 5},
        event(event_id="old", level=2),
        "not an event",
        event(event_id="f", channel="sms"),
    ]
    r = await client.post("/v1/ratings/batch", json={"events": events}, headers=portal)
    assert r.status_code == 200, r.text
    body = r.json()
    results = body["results"]
    assert [x["index"] for x in results] == list(range(len(events)))
    assert [x["event_id"] for x in results] == [
        "a", "b", "old", "c", "d", "a", "e", "old", None, "f"
    ]  # fmt: skip
    assert [x["status"] for x in results] == [
        "created",
        "rejected",
        "duplicate",
        "created",
        "rejected",
        "rejected",  # same event_id as item 0 with another rated_at
        "rejected",
        "rejected",  # "old" reused with another level
        "rejected",
        "created",
    ]
    assert [e["field"] for e in results[1]["errors"]] == ["level"]
    assert [e["field"] for e in results[4]["errors"]] == ["department_code"]
    assert [e["field"] for e in results[5]["errors"]] == ["event_id"]
    assert "rated_at" in {e["field"] for e in results[6]["errors"]}
    assert [e["code"] for e in results[7]["errors"]] == ["event_id_reused"]
    assert results[2]["rating"]["level"] == 3
    assert (body["created"], body["duplicate"], body["rejected"]) == (3, 1, 6)
    assert await count_ratings(app) == 4
    listed = await client.get("/v1/ratings", headers=portal)
    assert sorted(x["event_id"] for x in listed.json()["items"]) == ["a", "c", "f", "old"]


async def test_a_repeat_inside_one_batch_is_a_duplicate_of_the_first(app, client, portal):
    item = event(event_id="same")
    r = await client.post("/v1/ratings/batch", json={"events": [item, item]}, headers=portal)
    results = r.json()["results"]
    assert [x["status"] for x in results] == ["created", "duplicate"]
    assert results[0]["rating"]["id"] == results[1]["rating"]["id"]
    assert await count_ratings(app) == 1


async def test_the_same_event_id_from_two_clients_is_two_ratings(app, client, admin, portal):
    other = auth(await make_key(app, "portal", "掌上办"))
    payload = event(event_id="shared-1")
    a = await client.post("/v1/ratings", json=payload, headers=portal)
    b = await client.post("/v1/ratings", json=payload, headers=other)
    assert (a.status_code, b.status_code) == (201, 201)
    assert a.json()["id"] != b.json()["id"]
    assert await count_ratings(app) == 2


async def test_a_retry_of_a_stored_event_after_the_age_limit_is_still_a_duplicate(
    app, client, portal
):
    """A tablet offline for weeks retries events it had already delivered: still 200."""
    payload = event(rated_at=(now() - timedelta(days=3)).isoformat())
    first = await client.post("/v1/ratings", json=payload, headers=portal)
    assert first.status_code == 201
    settings = app.state.settings
    app.state.settings = settings.model_copy(update={"max_event_age_days": 1})
    try:
        again = await client.post("/v1/ratings", json=payload, headers=portal)
        batch = await client.post("/v1/ratings/batch", json={"events": [payload]}, headers=portal)
        fresh = await client.post(
            "/v1/ratings",
            json={**payload, "event_id": "never-sent"},
            headers=portal,
        )
    finally:
        app.state.settings = settings
    assert again.status_code == 200, again.text
    assert again.json()["id"] == first.json()["id"]
    assert batch.json()["results"][0]["status"] == "duplicate"
    assert_problem(fresh, 422, "rated_at")
    assert await count_ratings(app) == 1


# --- reading ----------------------------------------------------------------------------------


@pytest.fixture
async def listed(app, client, admin, portal):
    """Ratings in SJ and GA over four days, a mix of channels and levels."""
    await make_department(client, admin, "GA", "公安局")
    base = now().replace(microsecond=0) - timedelta(days=4)
    events = []
    for i in range(40):
        events.append(
            event(
                event_id=f"r{i:02d}",
                department_code="SJ" if i % 4 else "GA",
                channel=("pc", "mobile", "qr_code")[i % 3],
                level=1 + i % 5,
                # pairs share an instant so that the cursor must break ties by id
                rated_at=(base + timedelta(hours=2 * (i // 2))).isoformat(),
            )
        )
    r = await client.post("/v1/ratings/batch", json={"events": events}, headers=portal)
    assert r.json()["created"] == 40
    return base, events


async def _all_pages(client, headers, **params) -> list[dict]:
    items, cursor, pages = [], None, 0
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        r = await client.get("/v1/ratings", params=query, headers=headers)
        assert r.status_code == 200, r.text
        page = r.json()
        items += page["items"]
        cursor = page["next_cursor"]
        pages += 1
        assert pages < 100
        if cursor is None:
            return items


async def test_cursor_pagination_visits_every_row_once(client, admin, listed):
    items = await _all_pages(client, admin, limit=7)
    assert len(items) == 40
    assert sorted(x["event_id"] for x in items) == sorted(e["event_id"] for e in listed[1])
    keys = [(datetime.fromisoformat(x["rated_at"]), x["id"]) for x in items]
    assert keys == sorted(keys, reverse=True)


async def test_a_page_exactly_as_long_as_the_rest_ends_with_no_cursor(client, admin, listed):
    r = await client.get("/v1/ratings", params={"limit": 40}, headers=admin)
    assert len(r.json()["items"]) == 40 and r.json()["next_cursor"] is None


@pytest.mark.parametrize(
    ("params", "keep"),
    [
        ({"department_code": "GA"}, lambda e: e["department_code"] == "GA"),
        ({"channel": "mobile"}, lambda e: e["channel"] == "mobile"),
        ({"level": 3}, lambda e: e["level"] == 3),
        ({"bad": "true"}, lambda e: e["level"] <= 2),
        ({"bad": "false"}, lambda e: e["level"] >= 3),
        (
            {"department_code": "SJ", "bad": "true", "channel": "pc"},
            lambda e: e["department_code"] == "SJ" and e["level"] <= 2 and e["channel"] == "pc",
        ),
    ],
)
async def test_listing_filters(client, admin, listed, params, keep):
    items = await _all_pages(client, admin, limit=5, **params)
    expected = sorted(e["event_id"] for e in listed[1] if keep(e))
    assert expected, "the filter must select something"
    assert sorted(x["event_id"] for x in items) == expected


async def test_listing_by_time_range_is_inclusive_then_exclusive(client, admin, listed):
    base, events = listed
    start, end = base + timedelta(hours=10), base + timedelta(hours=20)
    # In Beijing time, as a Chinese client would ask.
    cst = datetime.fromisoformat("2026-01-01T00:00+08:00").tzinfo
    params = {"rated_from": start.astimezone(cst).isoformat(), "rated_to": end.isoformat()}
    items = await _all_pages(client, admin, limit=3, **params)
    expected = sorted(
        e["event_id"] for e in events if start <= datetime.fromisoformat(e["rated_at"]) < end
    )
    assert len(expected) == 10
    assert sorted(x["event_id"] for x in items) == expected


def _cursor(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode()


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"rated_from": "2026-01-01T00:00:00"}, "query.rated_from"),
        ({"level": 6}, "query.level"),
        ({"channel": "fax"}, "query.channel"),
        ({"limit": 0}, "query.limit"),
        ({"limit": 501}, "query.limit"),
        ({"cursor": "not-a-cursor"}, "query.cursor"),
        ({"cursor": _cursor("2026-01-01T00:00:00+00:00|99999999999999999999")}, "query.cursor"),
        ({"cursor": _cursor("0001-01-01T00:00:00+08:00|1")}, "query.cursor"),
        ({"cursor": _cursor("2026-01-01T00:00:00|1")}, "query.cursor"),
        ({"rated_from": "0001-01-01T00:00:00+08:00"}, "query.rated_from"),
        ({"rated_to": "9999-12-31T23:59:59-08:00"}, "query.rated_to"),
        ({"department_code": "SJ\u0000"}, "query.department_code"),
    ],
)
async def test_bad_listing_parameters_are_422(client, admin, portal, params, field):
    r = await client.get("/v1/ratings", params=params, headers=admin)
    assert_problem(r, 422, field)


async def test_a_sender_lists_only_its_own_ratings(app, client, admin, portal):
    other = auth(await make_key(app, "portal", "掌上办"))
    await client.post("/v1/ratings", json=event(event_id="mine"), headers=portal)
    await client.post("/v1/ratings", json=event(event_id="theirs"), headers=other)
    mine = (await client.get("/v1/ratings", headers=portal)).json()["items"]
    assert [x["event_id"] for x in mine] == ["mine"]
    all_ = (await client.get("/v1/ratings", headers=admin)).json()["items"]
    assert sorted(x["event_id"] for x in all_) == ["mine", "theirs"]


async def test_get_one_rating(client, admin, portal):
    created = (await client.post("/v1/ratings", json=event(level=2), headers=portal)).json()
    r = await client.get(f"/v1/ratings/{created['id']}", headers=admin)
    assert r.status_code == 200
    # The sender is not told the integrity flags; the admin is.
    assert created["flags"] is None and r.json()["flags"] == []
    assert {**r.json(), "flags": None} == created
    missing = await client.get(f"/v1/ratings/{created['id'] + 1000}", headers=admin)
    assert_problem(missing, 404)
    bad_id = await client.get("/v1/ratings/abc", headers=admin)
    assert_problem(bad_id, 422)


async def test_another_sender_cannot_read_a_rating_it_did_not_send(app, client, portal):
    other = auth(await make_key(app, "portal", "掌上办"))
    created = (await client.post("/v1/ratings", json=event(), headers=portal)).json()
    r = await client.get(f"/v1/ratings/{created['id']}", headers=other)
    assert_problem(r, 403)


# --- personal data ----------------------------------------------------------------------------


async def test_phone_and_name_are_masked_in_every_response(app, client, admin, portal):
    rater = {"type": "individual", "name": NAME, "phone": PHONE}
    payload = event(event_id="m1", rater=rater)
    single = await client.post("/v1/ratings", json=payload, headers=portal)
    responses = [
        single,
        await client.post("/v1/ratings", json=payload, headers=portal),
        await client.post("/v1/ratings", json={**payload, "level": 1}, headers=portal),
    ]
    landline = {"type": "enterprise", "name": "岳阳市某某科技有限公司", "phone": "0730-8123456"}
    batch = [
        event(event_id="m2", rater=rater),
        payload,
        event(event_id="m3", rater=landline),
        event(event_id="m4", rater={**rater, "phone": "+86" + PHONE}),
        event(event_id="m5", rater={**rater, "phone": "1381234567"}),
    ]
    responses.append(await client.post("/v1/ratings/batch", json={"events": batch}, headers=portal))
    rating_id = single.json()["id"]
    for headers in (admin, portal):
        responses.append(await client.get("/v1/ratings", headers=headers))
        responses.append(await client.get(f"/v1/ratings/{rating_id}", headers=headers))
    assert [r.status_code for r in responses[:4]] == [201, 200, 422, 200]
    assert await count_ratings(app) == 4
    for r in responses:
        assert "1381234567" not in r.text and "8123456" not in r.text
        assert NAME not in r.text and "某某科技" not in r.text
    rater_out = single.json()["rater"]
    assert rater_out == {
        "type": "individual",
        "name": "张**",
        "phone": "138****5678",
        "real_name": True,
    }
    enterprise = responses[3].json()["results"][2]["rating"]["rater"]
    assert enterprise["type"] == "enterprise" and enterprise["phone"] == "073****3456"


async def test_an_anonymous_rating_has_no_rater(client, portal):
    r = await client.post("/v1/ratings", json=event(), headers=portal)
    assert r.json()["rater"] is None
    named = await client.post(
        "/v1/ratings", json=event(rater={"type": "enterprise"}), headers=portal
    )
    assert named.json()["rater"] == {
        "type": "enterprise",
        "name": None,
        "phone": None,
        "real_name": False,
    }


# --- time zones -------------------------------------------------------------------------------


async def test_a_beijing_time_is_stored_as_the_same_instant(app, client, admin, portal):
    r = await client.post(
        "/v1/ratings", json=event(rated_at="2023-01-01T00:10:00+08:00"), headers=admin
    )
    assert r.status_code == 201, r.text
    returned = datetime.fromisoformat(r.json()["rated_at"])
    assert returned == datetime(2022, 12, 31, 16, 10, tzinfo=UTC)
    async with app.state.engine.connect() as conn:
        stored = (
            await conn.execute(
                text(
                    "SELECT to_char(rated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS'), "
                    "to_char(rated_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD\"T\"HH24:MI:SS') "
                    "FROM rating"
                )
            )
        ).one()
    assert tuple(stored) == ("2022-12-31T16:10:00", "2023-01-01T00:10:00")
    # And a listing in Beijing time for 2023-01-01 finds it; one for 2022-12-31 does not.
    day = {"rated_from": "2023-01-01T00:00:00+08:00", "rated_to": "2023-01-02T00:00:00+08:00"}
    eve = {"rated_from": "2022-12-31T00:00:00+08:00", "rated_to": "2023-01-01T00:00:00+08:00"}
    assert len((await client.get("/v1/ratings", params=day, headers=admin)).json()["items"]) == 1
    assert (await client.get("/v1/ratings", params=eve, headers=admin)).json()["items"] == []


async def test_a_device_in_a_second_department_window(client, admin):
    """Two devices in two departments keep their own placements."""
    _, sj = await make_device(client, admin, "SJ", "A01")
    await make_department(client, admin, "GA", "公安局")
    _, ga = await make_device(client, admin, "GA", "B02")
    stamp = now().isoformat()
    a = await client.post(
        "/v1/ratings", json={"event_id": "x", "level": 5, "rated_at": stamp}, headers=sj
    )
    b = await client.post(
        "/v1/ratings", json={"event_id": "x", "level": 5, "rated_at": stamp}, headers=ga
    )
    assert (a.json()["department_code"], a.json()["window_no"]) == ("SJ", "A01")
    assert (b.json()["department_code"], b.json()["window_no"]) == ("GA", "B02")
