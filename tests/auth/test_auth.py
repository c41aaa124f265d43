"""API keys and roles: 401 without a valid key, 403 for the wrong role or department."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from tests.fixtures.factories import (
    assert_problem,
    auth,
    count_ratings,
    event,
    make_department,
    make_device,
    make_key,
)


@pytest.fixture
async def departments(client, admin):
    await make_department(client, admin, "SJ", "市场监督管理局")
    await make_department(client, admin, "GA", "公安局")


async def test_missing_key_is_401(client, admin):
    for method, path in [
        ("GET", "/v1/ratings"),
        ("POST", "/v1/ratings"),
        ("GET", "/v1/departments"),
        ("GET", "/v1/keys"),
    ]:
        r = await client.request(method, path)
        assert_problem(r, 401, type_suffix="unauthenticated")
        assert r.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Bearer hcp_not-a-real-key"},
        {"Authorization": "Bearer " + "x" * 40},
        {"Authorization": "Bearer hcp_" + "a" * 200},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"X-API-Key": "hcp_wrong"},
    ],
)
async def test_bad_key_is_401(client, admin, departments, headers):
    r = await client.post("/v1/ratings", json=event(), headers=headers)
    assert_problem(r, 401)
    r = await client.get("/v1/ratings", headers=headers)
    assert_problem(r, 401)


async def test_the_x_api_key_header_works_too(app, client, admin):
    key = admin["Authorization"].removeprefix("Bearer ")
    r = await client.get("/v1/departments", headers={"X-API-Key": key})
    assert r.status_code == 200


async def test_a_revoked_key_is_refused_on_the_very_next_request(app, client, admin, departments):
    r = await client.post("/v1/keys", json={"role": "portal", "client_name": "网厅"}, headers=admin)
    assert r.status_code == 201, r.text
    issued = r.json()
    headers = auth(issued["key"])
    assert (await client.post("/v1/ratings", json=event(), headers=headers)).status_code == 201
    r = await client.delete(f"/v1/keys/{issued['id']}", headers=admin)
    assert r.status_code == 200 and r.json()["revoked_at"] is not None
    assert_problem(await client.post("/v1/ratings", json=event(), headers=headers), 401)
    assert_problem(await client.get("/v1/ratings", headers=headers), 401)
    assert await count_ratings(app) == 1
    # Revoking again is harmless; an unknown key id is 404.
    assert (await client.delete(f"/v1/keys/{issued['id']}", headers=admin)).status_code == 200
    unknown = await client.delete(f"/v1/keys/{issued['client_id']}", headers=admin)
    assert_problem(unknown, 404)


async def test_a_revoked_device_key_is_refused(client, admin):
    device, headers = await make_device(client, admin)
    await client.delete(f"/v1/keys/{device['key_id']}", headers=admin)
    payload = {"event_id": "1", "level": 5, "rated_at": datetime.now(UTC).isoformat()}
    assert_problem(await client.post("/v1/ratings", json=payload, headers=headers), 401)


@pytest.mark.parametrize("role", ["reader", "department"])
async def test_readers_and_departments_cannot_post_ratings(app, client, admin, departments, role):
    headers = auth(
        await make_key(app, role, department_code="SJ" if role == "department" else None)
    )
    r = await client.post("/v1/ratings", json=event(), headers=headers)
    assert_problem(r, 403, type_suffix="forbidden")
    r = await client.post("/v1/ratings/batch", json={"events": [event()]}, headers=headers)
    assert_problem(r, 403, type_suffix="forbidden")
    assert await count_ratings(app) == 0


@pytest.mark.parametrize("role", ["hotline", "portal", "admin"])
async def test_senders_may_post_ratings(app, client, admin, departments, role):
    headers = admin if role == "admin" else auth(await make_key(app, role))
    r = await client.post("/v1/ratings", json=event(channel="hotline"), headers=headers)
    assert r.status_code == 201, r.text


ADMIN_ONLY = [
    ("PUT", "/v1/departments/XX", {"name": "新部门"}),
    ("POST", "/v1/departments/import", {"departments": [{"code": "XX", "name": "新部门"}]}),
    ("PUT", "/v1/departments/SJ/windows/A09", {"name": "新窗口"}),
    ("POST", "/v1/devices", {"serial_no": "P9", "department_code": "SJ", "window_no": "A01"}),
    ("GET", "/v1/devices", None),
    ("PATCH", "/v1/devices/00000000-0000-0000-0000-000000000000", {"active": False}),
    ("POST", "/v1/keys", {"role": "admin", "client_name": "me"}),
    ("GET", "/v1/keys", None),
    ("DELETE", "/v1/keys/00000000-0000-0000-0000-000000000000", None),
]


@pytest.mark.parametrize("role", ["reader", "department", "portal", "hotline", "device"])
async def test_only_admins_manage_registry_and_keys(app, client, admin, role):
    device, device_headers = await make_device(client, admin, "SJ", "A01")
    if role == "device":
        headers = device_headers
    else:
        headers = auth(
            await make_key(app, role, department_code="SJ" if role == "department" else None)
        )
    for method, path, body in ADMIN_ONLY:
        r = await client.request(method, path, json=body, headers=headers)
        assert_problem(r, 403, type_suffix="forbidden")
    assert [d["code"] for d in (await client.get("/v1/departments", headers=admin)).json()] == [
        "SJ"
    ]
    windows = (await client.get("/v1/departments/SJ/windows", headers=admin)).json()
    assert [w["window_no"] for w in windows] == ["A01"]
    assert len((await client.get("/v1/devices", headers=admin)).json()) == 1
    keys = (await client.get("/v1/keys", headers=admin)).json()
    assert all(k["revoked_at"] is None for k in keys)
    assert {k["role"] for k in keys} <= {"admin", "device", role}


async def test_a_department_key_reads_only_its_own_department(app, client, admin, departments):
    portal = auth(await make_key(app, "portal"))
    sj_rating = (
        await client.post("/v1/ratings", json=event(department_code="SJ"), headers=portal)
    ).json()
    ga_rating = (
        await client.post("/v1/ratings", json=event(department_code="GA"), headers=portal)
    ).json()
    sj = auth(await make_key(app, "department", department_code="SJ"))

    own = await client.get("/v1/ratings", headers=sj)
    assert [x["id"] for x in own.json()["items"]] == [sj_rating["id"]]
    explicit = await client.get("/v1/ratings", params={"department_code": "SJ"}, headers=sj)
    assert [x["id"] for x in explicit.json()["items"]] == [sj_rating["id"]]
    other = await client.get("/v1/ratings", params={"department_code": "GA"}, headers=sj)
    assert_problem(other, 403, type_suffix="forbidden")

    assert (await client.get(f"/v1/ratings/{sj_rating['id']}", headers=sj)).status_code == 200
    assert_problem(await client.get(f"/v1/ratings/{ga_rating['id']}", headers=sj), 403)


async def test_a_reader_reads_every_department(app, client, admin, departments):
    portal = auth(await make_key(app, "portal"))
    for code in ("SJ", "GA"):
        await client.post("/v1/ratings", json=event(department_code=code), headers=portal)
    reader = auth(await make_key(app, "reader"))
    r = await client.get("/v1/ratings", headers=reader)
    assert sorted(x["department_code"] for x in r.json()["items"]) == ["GA", "SJ"]


async def test_key_rotation_keeps_the_client(app, client, admin, departments):
    r = await client.post("/v1/keys", json={"role": "portal", "client_name": "网厅"}, headers=admin)
    old = r.json()
    payload = event(event_id="portal-0001")
    first = await client.post("/v1/ratings", json=payload, headers=auth(old["key"]))
    assert first.status_code == 201

    r = await client.post("/v1/keys", json={"client_id": old["client_id"]}, headers=admin)
    assert r.status_code == 201, r.text
    new = r.json()
    assert new["client_id"] == old["client_id"] and new["role"] == "portal"
    assert new["key"] != old["key"] and new["id"] != old["id"]
    await client.delete(f"/v1/keys/{old['id']}", headers=admin)

    retry = await client.post("/v1/ratings", json=payload, headers=auth(new["key"]))
    assert retry.status_code == 200, retry.text
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.json()["id"] == first.json()["id"]
    assert await count_ratings(app) == 1


async def test_device_key_rotation_keeps_the_device(app, client, admin):
    device, old_headers = await make_device(client, admin)
    payload = {"event_id": "t-1", "level": 4, "rated_at": datetime.now(UTC).isoformat()}
    first = await client.post("/v1/ratings", json=payload, headers=old_headers)
    r = await client.post("/v1/keys", json={"client_id": device["client_id"]}, headers=admin)
    assert r.status_code == 201, r.text
    retry = await client.post("/v1/ratings", json=payload, headers=auth(r.json()["key"]))
    assert retry.status_code == 200 and retry.json()["id"] == first.json()["id"]
    assert retry.json()["window_no"] == "A01"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"client_name": "x"}, "role"),
        ({"role": "portal"}, "client_name"),
        ({"role": "device", "client_name": "x"}, "role"),
        ({"role": "department", "client_name": "x"}, "department_code"),
        ({"role": "department", "client_name": "x", "department_code": "NOPE"}, "department_code"),
        ({"role": "reader", "client_name": "x", "department_code": "SJ"}, "department_code"),
        ({"role": "root", "client_name": "x"}, "role"),
        ({"client_id": "00000000-0000-0000-0000-000000000000"}, "client_id"),
        ({"role": "admin", "client_name": "x", "secret": "y"}, "secret"),
        ({"role": "portal", "client_name": "网\u0000厅"}, "client_name"),
    ],
)
async def test_bad_key_requests_are_422(app, client, admin, departments, body, field):
    before = len((await client.get("/v1/keys", headers=admin)).json())
    r = await client.post("/v1/keys", json=body, headers=admin)
    assert_problem(r, 422, field)
    assert len((await client.get("/v1/keys", headers=admin)).json()) == before


async def test_rotation_cannot_change_the_role(client, admin):
    r = await client.post(
        "/v1/keys", json={"role": "reader", "client_name": "统计局"}, headers=admin
    )
    r = await client.post(
        "/v1/keys", json={"client_id": r.json()["client_id"], "role": "admin"}, headers=admin
    )
    assert_problem(r, 422, "role")


async def test_keys_are_stored_only_as_hashes(app, client, admin, departments):
    issued = [
        (await client.post("/v1/keys", json=body, headers=admin)).json()["key"]
        for body in (
            {"role": "portal", "client_name": "网厅"},
            {"role": "department", "client_name": "市场局", "department_code": "SJ"},
        )
    ]
    device, _ = await make_device(client, admin)
    issued.append(device["key"])
    issued.append(admin["Authorization"].removeprefix("Bearer "))
    async with app.state.engine.connect() as conn:
        rows = []
        for table in ("api_key", "client", "device"):
            rows += (await conn.execute(text(f"SELECT * FROM {table}"))).all()
    dump = "\n".join(str(tuple(row)) for row in rows)
    assert len(rows) >= 8
    for key in issued:
        secret = key.removeprefix("hcp_")
        assert secret not in dump
        assert secret[10:] not in dump
    listed = await client.get("/v1/keys", headers=admin)
    assert all(key not in listed.text for key in issued)
    assert all(len(k["prefix"]) <= 10 for k in listed.json())
