"""Every instant the API writes is Beijing time with its offset (+08:00), the instant posted.

Each domain's representative responses are walked: every string that looks like an instant
must end in +08:00, the fields named must be there (so that an empty answer cannot pass), and
what was posted with Z or -05:00 reads back as the same instant at +08:00."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone

import httpx
import pytest
from pydantic import BaseModel, TypeAdapter
from sqlalchemy import select

from app.audit import service as audit
from app.notify.dispatcher import deliver_due
from app.notify.models import Outbox
from app.privacy.retention import erase_expired
from app.timefmt import LocalDateTime, local_iso, to_local
from tests.fixtures.factories import (
    auth,
    event,
    make_department,
    make_device,
    make_key,
    make_window,
)
from tests.fixtures.ingest import counting

BEIJING = timezone(timedelta(hours=8))
NEW_YORK = timezone(timedelta(hours=-5))
_INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")


@pytest.fixture(autouse=True)
async def _no_background_jobs(app):
    await app.state.jobs.stop()  # the outbox is delivered by hand here


def instants(value, path: str = "$"):
    """(path, text) of every string in a JSON document that looks like an instant."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from instants(item, f"{path}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from instants(item, f"{path}[{i}]")
    elif isinstance(value, str) and _INSTANT.match(value):
        yield path, value


def assert_local(document, *paths: str) -> dict[str, str]:
    """Every instant in `document` at +08:00, and one at each of `paths`; them by path."""
    found = dict(instants(document))
    assert not {p: v for p, v in found.items() if not v.endswith("+08:00")}, found
    missing = [p for p in paths if p not in found]
    assert not missing, (missing, sorted(found))
    return found


def posted_instant() -> tuple[datetime, str, str, str]:
    """An instant an hour ago (whole seconds): as Z, as -05:00, and as it must read back."""
    instant = (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0)
    return (
        instant,
        instant.strftime("%Y-%m-%dT%H:%M:%SZ"),
        instant.astimezone(NEW_YORK).isoformat(),
        instant.astimezone(BEIJING).isoformat(),
    )


# --- the formatter (pure) -----------------------------------------------------------------------


def test_an_instant_is_written_in_beijing_time_with_its_offset():
    # 06:16 in Beijing is 22:16Z the day before: it reads as the 30th, not the 29th.
    utc = datetime(2026, 11, 29, 22, 16, tzinfo=UTC)
    assert local_iso(utc) == "2026-11-30T06:16:00+08:00"
    assert local_iso(utc.astimezone(NEW_YORK)) == "2026-11-30T06:16:00+08:00"
    adapter = TypeAdapter(LocalDateTime)
    assert adapter.dump_json(utc) == b'"2026-11-30T06:16:00+08:00"'
    assert adapter.dump_python(utc) == utc and adapter.dump_python(utc).utcoffset() == timedelta(
        hours=8
    )
    # The same text by hand and through pydantic, fractions included.
    for micro in (0, 120_000, 5):
        stamp = utc.replace(microsecond=micro)
        assert adapter.dump_json(stamp).decode().strip('"') == local_iso(stamp)
    # Input accepts any offset; the contract still says date-time.
    assert adapter.validate_python("2026-11-29T17:16:00-05:00") == utc
    assert adapter.json_schema(mode="serialization") == {"type": "string", "format": "date-time"}
    # Before 1901 the zone's own offset was +08:05:43: still +08:00, still the same instant.
    old = datetime(1900, 1, 1, tzinfo=UTC)
    assert local_iso(old) == "1900-01-01T08:00:00+08:00"
    # Never guessed: a naive value, and one +08:00 cannot hold, stay as they are.
    naive = datetime(2026, 11, 30, 6, 16)
    top = datetime.max.replace(tzinfo=UTC)
    assert to_local(naive) is naive and to_local(top) is top


def _plain_datetimes(schema, where: str = "") -> list[str]:
    """Places in a pydantic core schema where a datetime is serialised without to_local."""
    bad = []
    if isinstance(schema, dict):
        serialiser = schema.get("serialization") or {}
        if schema.get("type") == "datetime" and serialiser.get("function") is not to_local:
            bad.append(where)
        for key, value in schema.items():
            if key != "return_schema":  # to_local's own result, a datetime at +08:00
                bad += _plain_datetimes(value, f"{where}.{key}")
    elif isinstance(schema, list):
        for item in schema:
            bad += _plain_datetimes(item, where)
    return bad


def _api_routes(routes):
    for route in routes:
        included = getattr(route, "original_router", None)  # FastAPI 0.16x keeps included routers
        yield from _api_routes(included.routes) if included is not None else (route,)


def test_every_response_model_writes_its_instants_in_beijing_time(app):
    models: set[type[BaseModel]] = set()
    for route in _api_routes(app.routes):
        field = getattr(route, "response_field", None)
        if field is None:
            continue
        stack = [field.field_info.annotation]
        while stack:
            annotation = stack.pop()
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                models.add(annotation)
            stack.extend(getattr(annotation, "__args__", ()))
    assert len(models) > 15  # the walk found the API's models
    bad = {m.__name__: p for m in models if (p := _plain_datetimes(m.__pydantic_core_schema__))}
    assert not bad, bad


# --- ratings, on both ingest paths --------------------------------------------------------------


async def test_ratings_read_back_in_beijing_time_on_both_ingest_paths(client, generic, portal):
    instant, zulu, new_york, beijing = posted_instant()
    posted = event(rated_at=zulu, window_no="A01")
    async with counting("direct"):
        direct = await client.post("/v1/ratings", json=posted, headers=portal)
    assert direct.status_code == 201, direct.text
    other = await generic.post("/v1/ratings", json=event(rated_at=new_york), headers=portal)
    assert other.status_code == 201, other.text
    for response in (direct, other):
        assert_local(response.json(), "$.rated_at", "$.received_at")
        assert response.json()["rated_at"] == beijing
        assert datetime.fromisoformat(response.json()["rated_at"]) == instant
        received = datetime.fromisoformat(response.json()["received_at"])
        assert abs(received - datetime.now(UTC)) < timedelta(minutes=5)

    # A retry is answered by the generic route: the stored rating, the same text.
    replay = await client.post("/v1/ratings", json=posted, headers=portal)
    assert replay.status_code == 200 and replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == direct.json()

    batch = await client.post(
        "/v1/ratings/batch",
        json={"events": [event(rated_at=zulu), event(rated_at=new_york), posted]},
        headers=portal,
    )
    assert batch.status_code == 200, batch.text
    assert [r["status"] for r in batch.json()["results"]] == ["created", "created", "duplicate"]
    found = assert_local(
        batch.json(), *(f"$.results[{i}].rating.{f}" for i in range(3) for f in ("rated_at",))
    )
    assert {found[f"$.results[{i}].rating.rated_at"] for i in range(3)} == {beijing}
    assert batch.json()["results"][2]["rating"] == direct.json()

    listed = await client.get("/v1/ratings", headers=portal)
    assert listed.status_code == 200 and len(listed.json()["items"]) == 4
    found = assert_local(listed.json(), *(f"$.items[{i}].received_at" for i in range(4)))
    assert {found[f"$.items[{i}].rated_at"] for i in range(4)} == {beijing}
    one = await client.get(f"/v1/ratings/{direct.json()['id']}", headers=portal)
    assert one.json() == direct.json()


# --- work orders, their timeline and their webhook ----------------------------------------------


async def test_a_ticket_its_timeline_and_its_webhook_in_beijing_time(app, client, admin):
    instant, zulu, _, beijing = posted_instant()
    _, device = await make_device(client, admin)
    sub = await client.post(
        "/v1/webhooks",
        json={
            "name": "督查平台",
            "url": "http://receiver.test/hook",
            "event_types": ["ticket.opened"],
        },
        headers=admin,
    )
    assert sub.status_code == 201, sub.text
    assert_local(sub.json(), "$.created_at")
    bad = {"event_id": "lt-1", "level": 1, "tags": ["attitude"], "rated_at": zulu}
    rating = await client.post("/v1/ratings", json=bad, headers=device)
    assert rating.status_code == 201, rating.text
    assert rating.json()["rated_at"] == beijing

    page = (await client.get("/v1/tickets", headers=admin)).json()
    fields = ("opened_at", "next_due_at", "deadlines.contact", "deadlines.rectify")
    found = assert_local(page, *(f"$.items[0].{f}" for f in fields))
    # A device's rating opens its order when it was received (deadlines at 24:00 Beijing time).
    assert found["$.items[0].deadlines.contact"].endswith("T00:00:00+08:00")
    ticket_id = page["items"][0]["id"]

    contacted = await client.post(
        f"/v1/tickets/{ticket_id}/actions",
        json={"action": "contact", "note": "已电话联系群众"},
        headers=admin,
    )
    assert contacted.status_code == 200, contacted.text
    assert_local(contacted.json(), "$.history[0].at", "$.history[1].at", "$.rating.rated_at")
    withdrawn = await client.post(
        f"/v1/tickets/{ticket_id}/actions",
        json={
            "action": "withdraw",
            "note": "群众撤回评价",
            "evidence": {
                "kind": "callback",
                "called_at": datetime.now(UTC).isoformat(),
                "note": "同意撤回",
            },
        },
        headers=admin,
    )
    assert withdrawn.status_code == 200, withdrawn.text
    assert_local(withdrawn.json(), "$.closed_at", "$.history[2].at")

    # An inspection found at -05:00 is opened at the same instant, written at +08:00.
    inspection = await client.post(
        "/v1/tickets",
        json={"department_code": "SJ", "summary": "暗访发现窗口无人", "found_at": zulu},
        headers=admin,
    )
    assert inspection.status_code == 201, inspection.text
    assert assert_local(inspection.json(), "$.opened_at")["$.opened_at"] == beijing

    # The webhook document other systems read, as queued and as sent.
    async with app.state.sessionmaker() as session:
        rows = list((await session.execute(select(Outbox).order_by(Outbox.id))).scalars())
    assert len(rows) == 2  # the bad review's order and the inspection's
    for row in rows:
        assert_local(json.loads(row.body), "$.occurred_at", "$.data.next_due_at")
    sent: list[httpx.Request] = []
    mock = httpx.MockTransport(lambda request: sent.append(request) or httpx.Response(200))
    async with httpx.AsyncClient(transport=mock) as http:
        assert await deliver_due(app.state.sessionmaker, http, now=datetime.now(UTC)) == 2
    document = json.loads(sent[0].content)
    assert_local(document, "$.occurred_at", "$.data.next_due_at", "$.data.deadlines.contact")

    sub_id = sub.json()["id"]
    deliveries = await client.get(f"/v1/webhooks/{sub_id}/deliveries", headers=admin)
    assert deliveries.status_code == 200, deliveries.text
    fields = ("created_at", "next_attempt_at", "last_attempt_at", "delivered_at")
    assert_local(deliveries.json(), *(f"$[0].{f}" for f in fields))
    listed = await client.get("/v1/webhooks", headers=admin)
    assert_local(listed.json(), "$[0].created_at", "$[0].deliveries.last_delivered_at")


# --- 12345 complaints ---------------------------------------------------------------------------


async def test_a_complaint_reads_back_in_beijing_time(app, client, admin):
    await make_department(client, admin, "SJ")
    hotline = auth(await make_key(app, "hotline", "12345热线"))
    complaint = {
        "order_no": "12345-2026-LT-1",
        "department_code": "SJ",
        "content": "窗口工作人员态度生硬",
        "citizen_phone": "13912345678",
        "received_at": "2026-11-19T20:30:00-05:00",  # 09:30 on the 20th in Beijing
    }
    first = await client.post("/v1/complaints", json=complaint, headers=hotline)
    assert first.status_code == 201, first.text
    paths = ("$.complaint.received_at", "$.ticket.opened_at", "$.ticket.history[0].at")
    found = assert_local(first.json(), *paths, "$.ticket.deadlines.contact")
    assert found["$.complaint.received_at"] == "2026-11-20T09:30:00+08:00"
    again = await client.post("/v1/complaints", json=complaint, headers=hotline)
    assert again.status_code == 200 and again.headers["idempotent-replayed"] == "true"
    assert_local(again.json(), *paths)
    assert again.json()["complaint"] == first.json()["complaint"]
    read = await client.get("/v1/complaints/12345-2026-LT-1", headers=hotline)
    assert_local(read.json(), *paths)
    assert read.json()["complaint"] == first.json()["complaint"]


# --- keys, clients, registry, calendar ----------------------------------------------------------


async def test_keys_clients_registry_and_calendar_in_beijing_time(app, client, admin):
    department = await make_department(client, admin, "SJ")
    assert_local(department, "$.created_at", "$.updated_at")
    window = await make_window(client, admin, "SJ", "A01")
    assert_local(window, "$.created_at", "$.updated_at")
    device, _ = await make_device(client, admin, "SJ", "A02")
    assert_local(device, "$.created_at", "$.updated_at")
    devices = await client.get("/v1/devices", headers=admin)
    assert_local(devices.json(), "$[0].created_at", "$[0].updated_at")

    created = await client.post(
        "/v1/keys", json={"role": "reader", "client_name": "督查室"}, headers=admin
    )
    assert created.status_code == 201, created.text
    assert_local(created.json(), "$.created_at")
    revoked = await client.delete(f"/v1/keys/{created.json()['id']}", headers=admin)
    assert revoked.status_code == 200, revoked.text
    found = assert_local(revoked.json(), "$.created_at", "$.revoked_at")
    revoked_at = datetime.fromisoformat(found["$.revoked_at"])
    assert abs(revoked_at - datetime.now(UTC)) < timedelta(minutes=5)
    keys = await client.get("/v1/keys", headers=admin)
    assert_local(keys.json(), "$[0].created_at")
    client_id = created.json()["client_id"]
    assert_local(
        (await client.get(f"/v1/clients/{client_id}", headers=admin)).json(), "$.created_at"
    )

    calendar = await client.put(
        "/v1/calendar/2027", json={"holidays": ["2027-01-01"], "workdays": []}, headers=admin
    )
    assert calendar.status_code == 200, calendar.text
    assert_local(calendar.json(), "$.updated_at")
    assert calendar.json()["holidays"] == ["2027-01-01"]  # days stay days


# --- audit --------------------------------------------------------------------------------------


async def test_audit_entries_and_their_details_in_beijing_time(app, client, admin, portal):
    rating = await client.post(
        "/v1/ratings",
        json=event(rater={"type": "individual", "phone": "13812345678"}),
        headers=portal,
    )
    assert rating.status_code == 201, rating.text
    # A retention run far enough ahead erases the rater's phone; its entry says up to when.
    later = datetime.now(UTC) + timedelta(days=4 * 365)
    with audit.acting("system:retention"):
        async with app.state.sessionmaker() as session:
            erased = await erase_expired(session, now=later, retention_days=1095)
            await session.commit()
    assert erased["ratings"] == 1
    entries = await client.get("/v1/audit", headers=admin)
    assert entries.status_code == 200, entries.text
    found = assert_local(entries.json(), "$.items[0].at", "$.items[1].at")
    (i,) = [i for i, e in enumerate(entries.json()["items"]) if e["action"].startswith("personal")]
    before = found[f"$.items[{i}].detail.before"]
    assert datetime.fromisoformat(before) == later - timedelta(days=1095)
