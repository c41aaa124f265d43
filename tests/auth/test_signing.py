"""Signed requests: the pure verifier (hypothesis properties) and the service end to end (replays,
stale timestamps, require_signature, a week-old backlog uploaded once, nonce expiry)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from app.auth import signing
from app.auth import usage as key_upkeep
from examples.device_client import HcpAuth, sign_headers, upload_backlog
from tests.fixtures.factories import assert_problem, auth, count_ratings, make_device
from tests.fixtures.signing import rating, signed, signed_request

# --- the verifier, without a database ----------------------------------------------------------

KEY = "hcp_" + "k" * 43
KEY_ID = uuid.UUID("6f1d0c2e-8f0a-4a57-9d6b-3c1f0a9e2b11")
NOW = 1_790_000_000

methods = st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE"])
targets = st.from_regex(r"/v1/[a-z/]{0,30}(\?[a-z_]{1,8}=[A-Za-z0-9%]{0,12})?", fullmatch=True)
nonces = st.from_regex(r"[A-Za-z0-9_-]{16,64}", fullmatch=True)
bodies = st.binary(max_size=2048)
skews = st.integers(min_value=-300, max_value=300)
requests = st.tuples(methods, targets, bodies, nonces, skews)


def _headers(method, target, body, nonce, timestamp, key=KEY) -> dict[str, str]:
    return signing.sign(key, KEY_ID, method, target, body, timestamp=timestamp, nonce=nonce)


def _check(headers, method, target, body, *, now=NOW, key=KEY) -> None:
    parsed = signing.parse(headers)
    signing.verify(signing.signing_key(key), parsed, method, target, body, now=now)


@given(requests)
def test_a_signed_request_verifies(request):
    method, target, body, nonce, skew = request
    headers = _headers(method, target, body, nonce, NOW + skew)
    _check(headers, method, target, body)
    # The reference client computes the same headers.
    assert sign_headers(str(KEY_ID), KEY, method, target, body, NOW + skew, nonce) == headers


@given(requests, st.data())
def test_any_change_breaks_the_signature(request, data):
    method, target, body, nonce, skew = request
    headers = _headers(method, target, body, nonce, NOW + skew)
    part = data.draw(st.sampled_from(["method", "target", "body", "nonce", "timestamp", "key"]))
    changed = {"method": method, "target": target, "body": body, "key": KEY}
    if part == "method":
        changed["method"] = data.draw(methods.filter(lambda m: m != method))
    elif part == "target":
        changed["target"] = data.draw(targets.filter(lambda t: t != target))
    elif part == "body":
        changed["body"] = data.draw(bodies.filter(lambda b: b != body))
    elif part == "nonce":
        headers = {**headers, signing.NONCE_HEADER: data.draw(nonces.filter(lambda n: n != nonce))}
    elif part == "timestamp":
        other = data.draw(skews.filter(lambda s: s != skew))
        headers = {**headers, signing.TIMESTAMP_HEADER: str(NOW + other)}
    else:
        changed["key"] = "hcp_" + data.draw(st.text(min_size=1, max_size=50))
        if changed["key"] == KEY:
            return
    with pytest.raises(signing.SignatureError) as refused:
        _check(headers, changed["method"], changed["target"], changed["body"], key=changed["key"])
    assert refused.value.reason == "mismatch"


@given(requests, st.integers(min_value=301, max_value=10**9), st.sampled_from([-1, 1]))
def test_a_timestamp_outside_five_minutes_is_stale(request, distance, sign):
    method, target, body, nonce, _ = request
    headers = _headers(method, target, body, nonce, NOW + sign * distance)
    with pytest.raises(signing.SignatureError) as refused:
        _check(headers, method, target, body)
    assert refused.value.reason == "stale"


@given(requests, requests)
def test_distinct_requests_have_distinct_strings_to_sign(a, b):
    def message(r):
        method, target, body, nonce, skew = r
        return signing.string_to_sign(method, target, NOW + skew, nonce, body)

    if a != b:
        assert message(a) != message(b)


header_values = st.one_of(st.text(max_size=80), st.from_regex(r"[0-9a-f-]{1,70}", fullmatch=True))


@given(
    st.dictionaries(
        st.sampled_from(signing.HEADERS), header_values, min_size=0, max_size=len(signing.HEADERS)
    )
)
@settings(suppress_health_check=[HealthCheck.too_slow])
def test_malformed_headers_are_refused_without_surprises(headers):
    """Whatever arrives, parse() either yields well-formed values or says malformed."""
    try:
        parsed = signing.parse(headers)
    except signing.SignatureError as exc:
        assert exc.reason == "malformed"
        return
    with pytest.raises(signing.SignatureError):
        signing.verify(b"k" * 32, parsed, "POST", "/v1/ratings", b"", now=NOW)


def test_the_documented_example():
    """The README's worked example, so that the documentation cannot drift from the code."""
    headers = signing.sign(
        "hcp_example-key-do-not-use",
        "3f2c1a9e-0000-4000-8000-000000000001",
        "POST",
        "/v1/ratings/batch",
        b'{"events":[]}',
        timestamp=1764000000,
        nonce="q7Z0bS1mVQ9k3XrT2LwYhA",
    )
    message = signing.string_to_sign(
        "POST", "/v1/ratings/batch", 1764000000, "q7Z0bS1mVQ9k3XrT2LwYhA", b'{"events":[]}'
    )
    assert message.decode().splitlines()[0] == "HCP1-HMAC-SHA256"
    assert headers[signing.SIGNATURE_HEADER] == EXAMPLE_SIGNATURE


EXAMPLE_SIGNATURE = "024d2b2b019dd92175d2adce13d178b770707cf73dc3aada39df209fd49cf59e"


# --- the service -------------------------------------------------------------------------------


@pytest.fixture
async def device(client, admin):
    """A registered tablet that must sign (the default for devices)."""
    created, _ = await make_device(client, admin, signed=True)
    return created


async def test_a_new_device_must_sign(app, client, admin, device):
    r = await client.post("/v1/ratings", json=rating(), headers=auth(device["key"]))
    body = assert_problem(r, 401, type_suffix="unauthenticated")
    assert body["reason"] == "signature-required"
    assert r.headers["www-authenticate"] == "HCP1-HMAC-SHA256"
    async with signed(client, device) as http:
        r = await http.post("/v1/ratings", json=rating())
        assert r.status_code == 201, r.text
        assert r.json()["window_no"] == "A01"
        listed = await http.get("/v1/ratings", params={"limit": 5})
        assert listed.status_code == 200 and len(listed.json()["items"]) == 1
    assert await count_ratings(app) == 1


async def test_a_replay_inside_the_window_is_401_and_stores_nothing(app, client, device):
    body = json.dumps(rating()).encode()
    headers = signed_request(device, "POST", "/v1/ratings", body)
    first = await client.post("/v1/ratings", content=body, headers=headers)
    assert first.status_code == 201, first.text
    again = await client.post("/v1/ratings", content=body, headers=headers)
    assert assert_problem(again, 401)["reason"] == "replay"
    # Re-signed (new nonce) it is an honest retry: the stored rating, once.
    retry = await client.post(
        "/v1/ratings", content=body, headers=signed_request(device, "POST", "/v1/ratings", body)
    )
    assert retry.status_code == 200 and retry.headers["Idempotent-Replayed"] == "true"
    assert await count_ratings(app) == 1


async def test_racing_copies_of_one_signed_request_pass_once(app, client, device):
    body = json.dumps({"events": [rating() for _ in range(3)]}).encode()
    headers = signed_request(device, "POST", "/v1/ratings/batch", body)
    responses = await asyncio.gather(
        *(client.post("/v1/ratings/batch", content=body, headers=headers) for _ in range(6))
    )
    assert sorted(r.status_code for r in responses) == [200] + [401] * 5
    assert await count_ratings(app) == 3


async def test_nonces_are_per_key(app, client, admin, device):
    other, _ = await make_device(client, admin, window_no="A02", signed=True)
    nonce = uuid.uuid4().hex
    for d in (device, other):
        body = json.dumps(rating()).encode()
        headers = signed_request(d, "POST", "/v1/ratings", body, nonce=nonce)
        assert (await client.post("/v1/ratings", content=body, headers=headers)).status_code == 201


@pytest.mark.parametrize(
    "tamper",
    ["body", "path", "query", "method", "timestamp", "nonce", "key", "key_id", "signature"],
)
async def test_a_tampered_request_is_401(app, client, admin, device, tamper):
    body = json.dumps(rating()).encode()
    method, target = "POST", "/v1/ratings"
    headers = signed_request(device, method, target, body)
    if tamper == "body":
        body = json.dumps(rating(level=1)).encode()
    elif tamper == "path":
        target = "/v1/ratings/batch"
        body = json.dumps({"events": [json.loads(body)]}).encode()
    elif tamper == "query":
        target = "/v1/ratings?x=1"
    elif tamper == "method":
        method = "PUT"
    elif tamper == "timestamp":
        headers["X-HCP-Timestamp"] = str(int(headers["X-HCP-Timestamp"]) - 1)
    elif tamper == "nonce":
        headers["X-HCP-Nonce"] = uuid.uuid4().hex
    elif tamper == "key":
        headers = signed_request(device, method, target, body, key="hcp_" + "x" * 43)
    elif tamper == "key_id":
        headers["X-HCP-Key-Id"] = str(uuid.uuid4())
    else:
        headers["X-HCP-Signature"] = "0" * 64
    r = await client.request(method, target, content=body, headers=headers)
    if tamper == "method":
        assert r.status_code in (401, 405)
    else:
        assert_problem(r, 401, type_suffix="unauthenticated")
    assert await count_ratings(app) == 0


@pytest.mark.parametrize(
    "change",
    [
        {"X-HCP-Signature": None},
        {"X-HCP-Nonce": None},
        {"X-HCP-Nonce": "short"},
        {"X-HCP-Nonce": "has spaces in it!!"},
        {"X-HCP-Timestamp": "yesterday"},
        {"X-HCP-Timestamp": "-5"},
        {"X-HCP-Key-Id": "not-a-uuid"},
        {"X-HCP-Signature": "ABCDEF" * 10 + "ABCD"},
        {"Authorization": "bearer"},
    ],
)
async def test_malformed_signing_headers_are_401(app, client, device, change):
    body = json.dumps(rating()).encode()
    headers = signed_request(device, "POST", "/v1/ratings", body)
    for name, value in change.items():
        if value is None:
            headers.pop(name)
        elif name == "Authorization":
            headers[name] = "Bearer " + device["key"]
        else:
            headers[name] = value
    r = await client.post("/v1/ratings", content=body, headers=headers)
    assert_problem(r, 401)
    assert await count_ratings(app) == 0


async def test_a_stale_timestamp_is_401_with_the_server_time(app, client, device):
    body = json.dumps(rating()).encode()
    for skew in (-301, 301, -7 * 86400):
        headers = signed_request(
            device, "POST", "/v1/ratings", body, timestamp=int(time.time()) + skew
        )
        r = await client.post("/v1/ratings", content=body, headers=headers)
        problem = assert_problem(r, 401)
        assert problem["reason"] == "stale"
        assert abs(problem["server_time"] - time.time()) < 5
    for skew in (-290, 290):
        headers = signed_request(
            device, "POST", "/v1/ratings", body, timestamp=int(time.time()) + skew
        )
        r = await client.post("/v1/ratings", content=body, headers=headers)
        assert r.status_code in (200, 201), r.text
    assert await count_ratings(app) == 1


async def test_the_window_is_judged_on_the_apps_clock(app, client, device, clock):
    at = clock.set(datetime(2026, 6, 1, 1, 0, tzinfo=UTC))
    body = json.dumps(rating(rated_at=at)).encode()
    headers = signed_request(device, "POST", "/v1/ratings", body)  # stamped at the real time
    problem = assert_problem(await client.post("/v1/ratings", content=body, headers=headers), 401)
    assert problem["reason"] == "stale" and problem["server_time"] == int(at.timestamp())
    headers = signed_request(
        device, "POST", "/v1/ratings", body, timestamp=int(at.timestamp()) - 100
    )
    r = await client.post("/v1/ratings", content=body, headers=headers)
    assert r.status_code == 201, r.text
    assert datetime.fromisoformat(r.json()["received_at"]) == at


async def test_the_reference_client_corrects_a_drifting_clock(app, client, device):
    slow = lambda: time.time() - 3600  # noqa: E731 (a tablet an hour behind)
    async with signed(client, device, clock=slow) as http:
        r = await http.post("/v1/ratings", json=rating())
        assert r.status_code == 201, r.text
        assert abs(http.auth.offset - 3600) <= 2
        assert (await http.post("/v1/ratings", json=rating())).status_code == 201


async def test_a_tablet_offline_for_a_week_uploads_its_backlog_once(app, client, device):
    """Ratings made over a week offline; the signed upload that the tablet prepared a week ago is
    stale, each attempt is signed anew, and a retry after a lost response stores nothing twice."""
    week_ago = datetime.now(UTC) - timedelta(days=7)
    backlog = [
        rating(f"off-{i:04d}", 1 + i % 5, week_ago + timedelta(minutes=7 * i)) for i in range(1200)
    ]
    body = json.dumps({"events": backlog[:500]}).encode()
    prepared = signed_request(
        device, "POST", "/v1/ratings/batch", body, timestamp=int(week_ago.timestamp())
    )
    stale = await client.post("/v1/ratings/batch", content=body, headers=prepared)
    assert assert_problem(stale, 401)["reason"] == "stale"

    async with signed(client, device) as http:
        # The first upload: its response is lost (the tablet cannot tell), so it uploads again.
        first = await http.post("/v1/ratings/batch", json={"events": backlog[:500]})
        assert first.status_code == 200 and first.json()["created"] == 500
        assert first.request.headers["X-HCP-Nonce"] != prepared["X-HCP-Nonce"]
        results = []
        for start in range(0, len(backlog), 500):
            r = await http.post("/v1/ratings/batch", json={"events": backlog[start : start + 500]})
            assert r.status_code == 200, r.text
            results.append(r.json())
        totals = {k: sum(r[k] for r in results) for k in ("created", "duplicate", "rejected")}
    assert totals == {"created": 700, "duplicate": 500, "rejected": 0}
    assert await count_ratings(app) == 1200


def test_upload_backlog_retries_and_resigns_each_attempt():
    """The reference client's loop: a 503 and a dropped connection, then success; each attempt
    carries a new nonce and timestamp, the same events."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if len(seen) == 1:
            return httpx.Response(503, headers={"Retry-After": "1"})
        if len(seen) == 2:
            raise httpx.ConnectError("tablet lost its network")
        n = len(json.loads(request.content)["events"])
        return httpx.Response(200, json={"created": n, "duplicate": 0, "rejected": 0})

    waits: list[float] = []
    with httpx.Client(
        base_url="http://hcp",
        transport=httpx.MockTransport(handler),
        auth=HcpAuth(str(KEY_ID), KEY),
    ) as http:
        totals = upload_backlog(http, [rating() for _ in range(3)], sleep=waits.append)
    assert totals == {"created": 3, "duplicate": 0, "rejected": 0}
    assert len(seen) == 3 and waits == [1.0, 2.0]
    assert len({r.headers["X-HCP-Nonce"] for r in seen}) == 3
    assert len({r.content for r in seen}) == 1
    for r in seen:
        _check(
            r.headers,
            "POST",
            "/v1/ratings/batch",
            r.content,
            now=int(r.headers["X-HCP-Timestamp"]),
        )


async def test_require_signature_is_an_admin_setting(app, client, admin):
    device, bare = await make_device(client, admin)  # the factory turns it off
    assert (await client.post("/v1/ratings", json=rating(), headers=bare)).status_code == 201
    path = f"/v1/clients/{device['client_id']}"
    r = await client.patch(path, json={"require_signature": True}, headers=admin)
    assert r.status_code == 200 and r.json()["require_signature"] is True
    assert r.json()["role"] == "device"
    # From the very next request.
    assert_problem(await client.post("/v1/ratings", json=rating(), headers=bare), 401)
    keys = (await client.get("/v1/keys", headers=admin)).json()
    assert [k["require_signature"] for k in keys if k["client_id"] == device["client_id"]] == [True]
    assert (await client.get(path, headers=admin)).json()["require_signature"] is True
    # Only admins; unknown clients are 404; unknown fields 422.
    assert_problem(await client.patch(path, json={"require_signature": False}, headers=bare), 401)
    unknown = f"/v1/clients/{uuid.uuid4()}"
    assert_problem(
        await client.patch(unknown, json={"require_signature": False}, headers=admin), 404
    )
    assert_problem(await client.patch(path, json={"signed": False}, headers=admin), 422, "signed")


async def test_any_client_may_sign_and_a_portal_can_be_made_to(app, client, admin):
    await client.put("/v1/departments/SJ", json={"name": "市场监督管理局"}, headers=admin)
    r = await client.post(
        "/v1/keys",
        json={"role": "portal", "client_name": "网厅", "require_signature": True},
        headers=admin,
    )
    assert r.status_code == 201 and r.json()["require_signature"] is True
    portal = {"key_id": r.json()["id"], "key": r.json()["key"]}
    event = {**rating(), "channel": "pc", "department_code": "SJ"}
    assert_problem(await client.post("/v1/ratings", json=event, headers=auth(portal["key"])), 401)
    async with signed(client, portal) as http:
        assert (await http.post("/v1/ratings", json=event)).status_code == 201
    # An admin key that need not sign may still sign (and then the signature must hold).
    admin_key = admin["Authorization"].removeprefix("Bearer ")
    admin_id = next(
        k["id"]
        for k in (await client.get("/v1/keys", headers=admin)).json()
        if k["role"] == "admin"
    )
    async with signed(client, {"key_id": admin_id, "key": admin_key}) as http:
        assert (await http.get("/v1/keys", params={"x": "1"})).status_code == 200
    # A rotated key keeps the client's setting; it cannot be given one of its own.
    r = await client.post(
        "/v1/keys",
        json={"client_id": r.json()["client_id"], "require_signature": False},
        headers=admin,
    )
    assert_problem(r, 422, "require_signature")


async def test_a_revoked_key_cannot_sign(app, client, admin, device):
    async with signed(client, device) as http:
        assert (await http.post("/v1/ratings", json=rating())).status_code == 201
        await client.delete(f"/v1/keys/{device['key_id']}", headers=admin)
        r = await http.post("/v1/ratings", json=rating())
        assert_problem(r, 401)
    assert await count_ratings(app) == 1


async def test_spent_nonces_expire_and_are_purged(app, client, device):
    async with signed(client, device) as http:
        for _ in range(3):
            assert (await http.post("/v1/ratings", json=rating())).status_code == 201
    async with app.state.engine.begin() as conn:
        rows = (await conn.execute(text("SELECT expires_at FROM request_nonce"))).scalars().all()
        assert len(rows) == 3
        for expires_at in rows:
            # The timestamp's acceptance window (5 minutes) and a minute of clock margin.
            assert timedelta(minutes=5) < expires_at - datetime.now(UTC) <= timedelta(minutes=6)
    # Purged once their timestamps can no longer be accepted at the given now, not before.
    now = datetime.now(UTC)
    assert await key_upkeep.purge(app.state.sessionmaker, now) == 0
    assert await key_upkeep.purge(app.state.sessionmaker, now + timedelta(minutes=7)) == 3
    async with app.state.engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM request_nonce"))).scalar_one() == 0
