"""Departments, windows and devices: create, update, import, deactivate, keep history."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from tests.fixtures.factories import assert_problem, make_department, make_device, make_window


async def departments(client, admin) -> dict[str, dict]:
    r = await client.get("/v1/departments", headers=admin)
    assert r.status_code == 200, r.text
    return {d["code"]: d for d in r.json()}


async def test_put_creates_then_updates_a_department(client, admin):
    r = await client.put("/v1/departments/SJ", json={"name": "市场监管局"}, headers=admin)
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["code"] == "SJ" and created["active"] is True and created["parent_code"] is None
    r = await client.put("/v1/departments/SJ", json={"name": "市场监督管理局"}, headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "市场监督管理局"
    assert r.json()["created_at"] == created["created_at"]
    assert datetime.fromisoformat(r.json()["updated_at"]) >= datetime.fromisoformat(
        created["updated_at"]
    )
    assert list(await departments(client, admin)) == ["SJ"]


async def test_put_with_a_parent(client, admin):
    await make_department(client, admin, "ZWFW", "政务服务中心")
    r = await client.put(
        "/v1/departments/SJ", json={"name": "市场监督管理局", "parent_code": "ZWFW"}, headers=admin
    )
    assert r.status_code == 201, r.text
    assert r.json()["parent_code"] == "ZWFW"
    single = await client.get("/v1/departments/SJ", headers=admin)
    assert single.json()["parent_code"] == "ZWFW"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "parent_code": "NOPE"}, "parent_code"),
        ({"name": "x", "parent_code": "SJ"}, "parent_code"),
        ({"name": ""}, "name"),
        ({}, "name"),
        ({"name": "x", "colour": "red"}, "colour"),
        ({"name": "x", "active": "maybe"}, "active"),
        ({"name": "市场\u0000监管"}, "name"),
    ],
)
async def test_put_department_refuses_bad_bodies(app, client, admin, body, field):
    r = await client.put("/v1/departments/SJ", json=body, headers=admin)
    assert_problem(r, 422, field)
    assert await departments(client, admin) == {}


@pytest.mark.parametrize("code", ["X" * 65, "a b", "%20"])
async def test_put_department_refuses_bad_codes(client, admin, code):
    r = await client.put(f"/v1/departments/{code}", json={"name": "x"}, headers=admin)
    assert_problem(r, 422, "path.code")
    assert await departments(client, admin) == {}


async def test_put_department_refuses_a_cycle(client, admin):
    await make_department(client, admin, "A", "甲")
    await make_department(client, admin, "B", "乙", parent_code="A")
    await make_department(client, admin, "C", "丙", parent_code="B")
    r = await client.put(
        "/v1/departments/A", json={"name": "甲", "parent_code": "C"}, headers=admin
    )
    assert_problem(r, 422, "parent_code")
    assert (await departments(client, admin))["A"]["parent_code"] is None


async def test_import_counts_created_and_updated(client, admin):
    await make_department(client, admin, "SJ", "市场监管局")
    body = {
        "departments": [
            {"code": "SJ", "name": "市场监督管理局", "parent_code": "ZWFW"},
            {"code": "GA", "name": "公安局", "parent_code": "ZWFW"},
            {"code": "ZWFW", "name": "政务服务中心"},
            {"code": "RS", "name": "人社局", "active": False},
        ]
    }
    r = await client.post("/v1/departments/import", json=body, headers=admin)
    assert r.status_code == 200, r.text
    result = r.json()
    assert (result["created"], result["updated"]) == (3, 1)
    assert [d["code"] for d in result["departments"]] == ["SJ", "GA", "ZWFW", "RS"]
    stored = await departments(client, admin)
    assert stored["SJ"]["name"] == "市场监督管理局"
    assert stored["SJ"]["parent_code"] == stored["GA"]["parent_code"] == "ZWFW"
    assert stored["RS"]["active"] is False
    # Importing the same list again updates all and creates none.
    again = await client.post("/v1/departments/import", json=body, headers=admin)
    assert (again.json()["created"], again.json()["updated"]) == (0, 4)
    active = await client.get("/v1/departments", params={"active": "true"}, headers=admin)
    assert sorted(d["code"] for d in active.json()) == ["GA", "SJ", "ZWFW"]


async def test_import_of_a_hundred_departments(client, admin):
    body = {
        "departments": [{"code": "ZWFW", "name": "政务服务中心"}]
        + [{"code": f"D{i:03d}", "name": f"部门{i}", "parent_code": "ZWFW"} for i in range(120)]
    }
    r = await client.post("/v1/departments/import", json=body, headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["created"] == 121
    assert len(await departments(client, admin)) == 121


@pytest.mark.parametrize(
    ("items", "field"),
    [
        (
            [{"code": "SJ", "name": "a", "parent_code": "NOPE"}, {"code": "GA", "name": "b"}],
            "departments.0.parent_code",
        ),
        ([{"code": "SJ", "name": "a"}, {"code": "SJ", "name": "b"}], "departments.1.code"),
        (
            [
                {"code": "A", "name": "a", "parent_code": "B"},
                {"code": "B", "name": "b", "parent_code": "A"},
            ],
            "departments.1.parent_code",
        ),
        ([{"code": "A", "name": "a", "parent_code": "A"}], "departments.0.parent_code"),
        ([{"code": "bad code", "name": "a"}], "departments.0.code"),
        ([{"name": "a"}], "departments.0.code"),
        ([{"code": "A", "name": "a\u0000"}], "departments.0.name"),
    ],
)
async def test_import_refuses_bad_lists_whole(client, admin, items, field):
    await make_department(client, admin, "OLD", "原部门")
    r = await client.post("/v1/departments/import", json={"departments": items}, headers=admin)
    assert_problem(r, 422, field)
    assert list(await departments(client, admin)) == ["OLD"]


async def test_import_cycle_through_an_existing_department(client, admin):
    await make_department(client, admin, "A", "甲")
    await make_department(client, admin, "B", "乙", parent_code="A")
    items = [{"code": "C", "name": "丙"}, {"code": "A", "name": "甲", "parent_code": "B"}]
    r = await client.post("/v1/departments/import", json={"departments": items}, headers=admin)
    assert_problem(r, 422, "departments.1.parent_code")
    assert "C" not in await departments(client, admin)
    assert (await departments(client, admin))["A"]["parent_code"] is None


async def test_nul_in_a_path_is_422_not_500(client, admin):
    await make_department(client, admin, "SJ")
    for path in ("/v1/departments/S%00J", "/v1/departments/S%00J/windows"):
        assert_problem(await client.get(path, headers=admin), 422)
    r = await client.put("/v1/departments/SJ/windows/A%0001", json={"name": "x"}, headers=admin)
    assert_problem(r, 422)
    assert (await client.get("/v1/departments/SJ/windows", headers=admin)).json() == []


async def test_unknown_department_is_404(client, admin):
    assert_problem(await client.get("/v1/departments/NOPE", headers=admin), 404)
    assert_problem(await client.get("/v1/departments/NOPE/windows", headers=admin), 404)
    r = await client.put("/v1/departments/NOPE/windows/A01", json={"name": "x"}, headers=admin)
    assert_problem(r, 404)


async def test_windows_put_and_get(client, admin):
    await make_department(client, admin, "SJ")
    r = await client.put("/v1/departments/SJ/windows/A02", json={"name": "登记"}, headers=admin)
    assert r.status_code == 201, r.text
    r = await client.put("/v1/departments/SJ/windows/A01", json={"name": "综合"}, headers=admin)
    assert r.status_code == 201
    r = await client.put(
        "/v1/departments/SJ/windows/A01", json={"name": "综合受理", "active": False}, headers=admin
    )
    assert r.status_code == 200
    assert r.json() == {**r.json(), "department_code": "SJ", "window_no": "A01", "active": False}
    windows = (await client.get("/v1/departments/SJ/windows", headers=admin)).json()
    assert [(w["window_no"], w["name"], w["active"]) for w in windows] == [
        ("A01", "综合受理", False),
        ("A02", "登记", True),
    ]


async def test_the_same_window_number_in_two_departments(client, admin):
    await make_department(client, admin, "SJ")
    await make_department(client, admin, "GA", "公安局")
    await make_window(client, admin, "SJ", "A01", "市场")
    await make_window(client, admin, "GA", "A01", "户籍")
    ga = (await client.get("/v1/departments/GA/windows", headers=admin)).json()
    assert [w["name"] for w in ga] == ["户籍"]


@pytest.mark.parametrize(
    ("body", "field"),
    [({"name": ""}, "name"), ({"name": "x", "extra": 1}, "extra")],
)
async def test_window_refuses_bad_bodies(client, admin, body, field):
    await make_department(client, admin, "SJ")
    r = await client.put("/v1/departments/SJ/windows/A01", json=body, headers=admin)
    assert_problem(r, 422, field)
    assert (await client.get("/v1/departments/SJ/windows", headers=admin)).json() == []


async def test_window_number_too_long_is_422(client, admin):
    await make_department(client, admin, "SJ")
    r = await client.put(
        f"/v1/departments/SJ/windows/{'A' * 33}", json={"name": "x"}, headers=admin
    )
    assert_problem(r, 422, "path.window_no")


async def test_register_a_device_returns_its_key_once(app, client, admin):
    device, headers = await make_device(client, admin, "SJ", "A01", serial_no="PJQ-0001")
    assert device["key"].startswith("hcp_") and device["active"] is True
    assert (device["department_code"], device["window_no"]) == ("SJ", "A01")
    listed = await client.get("/v1/devices", headers=admin)
    assert listed.status_code == 200
    assert [d["serial_no"] for d in listed.json()] == ["PJQ-0001"]
    assert device["key"] not in listed.text
    keys = await client.get("/v1/keys", headers=admin)
    assert device["key"] not in keys.text
    assert device["key_id"] in keys.text
    # The key works.
    r = await client.post(
        "/v1/ratings",
        json={"event_id": "1", "level": 5, "rated_at": datetime.now(UTC).isoformat()},
        headers=headers,
    )
    assert r.status_code == 201, r.text


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"serial_no": "P1", "department_code": "SJ", "window_no": "Z99"}, "window_no"),
        ({"serial_no": "P1", "department_code": "NOPE", "window_no": "A01"}, "department_code"),
        ({"serial_no": "P1", "department_code": "SJ"}, "window_no"),
        ({"serial_no": "", "department_code": "SJ", "window_no": "A01"}, "serial_no"),
        ({"serial_no": "P\u00001", "department_code": "SJ", "window_no": "A01"}, "serial_no"),
        ({"serial_no": "P1", "department_code": "SJ", "window_no": "A\u0000"}, "window_no"),
    ],
)
async def test_register_device_refuses_bad_bodies(app, client, admin, body, field):
    await make_department(client, admin, "SJ")
    await make_window(client, admin, "SJ", "A01")
    r = await client.post("/v1/devices", json=body, headers=admin)
    assert_problem(r, 422, field)
    assert (await client.get("/v1/devices", headers=admin)).json() == []
    async with app.state.engine.connect() as conn:
        clients = await conn.execute(text("SELECT count(*) FROM client WHERE role = 'device'"))
        assert clients.scalar_one() == 0


async def test_duplicate_serial_number_is_409(app, client, admin):
    await make_device(client, admin, "SJ", "A01", serial_no="PJQ-0001")
    await make_window(client, admin, "SJ", "A02")
    r = await client.post(
        "/v1/devices",
        json={"serial_no": "PJQ-0001", "department_code": "SJ", "window_no": "A02"},
        headers=admin,
    )
    assert_problem(r, 409)
    assert len((await client.get("/v1/devices", headers=admin)).json()) == 1
    async with app.state.engine.connect() as conn:
        keys = await conn.execute(text("SELECT count(*) FROM api_key"))
        assert keys.scalar_one() == 2  # the admin's and the first device's


async def test_move_a_device_to_another_window(client, admin):
    device, headers = await make_device(client, admin, "SJ", "A01")
    await make_window(client, admin, "SJ", "A02")
    r = await client.patch(f"/v1/devices/{device['id']}", json={"window_no": "A02"}, headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["window_no"] == "A02"
    rating = await client.post(
        "/v1/ratings",
        json={"event_id": "1", "level": 5, "rated_at": datetime.now(UTC).isoformat()},
        headers=headers,
    )
    assert rating.json()["window_no"] == "A02"
    bad = await client.patch(
        f"/v1/devices/{device['id']}", json={"window_no": "Z99"}, headers=admin
    )
    assert_problem(bad, 422, "window_no")
    missing = await client.patch(
        f"/v1/devices/{uuid.uuid4()}", json={"active": False}, headers=admin
    )
    assert_problem(missing, 404)


async def test_a_moved_device_retrying_an_old_event_gets_the_stored_rating(app, client, admin):
    """A tablet moved to another window still retries what it buffered at the old one."""
    device, headers = await make_device(client, admin, "SJ", "A01")
    await make_window(client, admin, "SJ", "A02")
    payload = {"event_id": "1", "level": 2, "rated_at": datetime.now(UTC).isoformat()}
    first = await client.post("/v1/ratings", json=payload, headers=headers)
    await client.patch(f"/v1/devices/{device['id']}", json={"window_no": "A02"}, headers=admin)
    retry = await client.post("/v1/ratings", json=payload, headers=headers)
    assert retry.status_code == 200, retry.text
    assert retry.json() == first.json() and retry.json()["window_no"] == "A01"


async def test_deactivation_keeps_history(client, admin):
    device, headers = await make_device(client, admin, "SJ", "A01")
    stamp = datetime.now(UTC).isoformat()
    r = await client.post(
        "/v1/ratings", json={"event_id": "1", "level": 1, "rated_at": stamp}, headers=headers
    )
    assert r.status_code == 201
    rating = r.json()

    r = await client.patch(f"/v1/devices/{device['id']}", json={"active": False}, headers=admin)
    assert r.status_code == 200 and r.json()["active"] is False
    await make_department(client, admin, "SJ", active=False)
    await client.put(
        "/v1/departments/SJ/windows/A01", json={"name": "综合", "active": False}, headers=admin
    )

    # Everything is still there, marked inactive, and the rating is still readable.
    assert (await departments(client, admin))["SJ"]["active"] is False
    inactive = await client.get("/v1/departments", params={"active": "false"}, headers=admin)
    assert [d["code"] for d in inactive.json()] == ["SJ"]
    assert (await client.get("/v1/devices", headers=admin)).json()[0]["active"] is False
    stored = (await client.get(f"/v1/ratings/{rating['id']}", headers=admin)).json()
    assert {**stored, "flags": None} == rating  # the admin also sees the integrity flags
    listed = await client.get("/v1/ratings", params={"department_code": "SJ"}, headers=admin)
    assert [x["id"] for x in listed.json()["items"]] == [rating["id"]]
    # No new ratings from the deactivated device.
    r = await client.post(
        "/v1/ratings", json={"event_id": "2", "level": 5, "rated_at": stamp}, headers=headers
    )
    assert_problem(r, 422)

    # Reactivation brings it back.
    await client.patch(f"/v1/devices/{device['id']}", json={"active": True}, headers=admin)
    await make_department(client, admin, "SJ", active=True)
    r = await client.post(
        "/v1/ratings", json={"event_id": "2", "level": 5, "rated_at": stamp}, headers=headers
    )
    assert r.status_code == 201, r.text


async def test_there_is_no_delete(client, admin):
    await make_department(client, admin, "SJ")
    r = await client.delete("/v1/departments/SJ", headers=admin)
    assert r.status_code == 405
    assert r.headers["content-type"].startswith("application/problem+json")
    assert "SJ" in await departments(client, admin)


async def test_patch_changes_only_what_it_names(client, admin):
    await make_department(client, admin, "GA", "公安局")
    await make_department(client, admin, "GAJ", "公安局", parent_code="GA")
    r = await client.patch("/v1/departments/GAJ", json={"active": False}, headers=admin)
    assert r.status_code == 200, r.text
    assert (r.json()["name"], r.json()["parent_code"], r.json()["active"]) == (
        "公安局",
        "GA",
        False,
    )
    r = await client.patch("/v1/departments/GAJ", json={"name": "市公安局"}, headers=admin)
    assert (r.json()["name"], r.json()["active"]) == ("市公安局", False)
    r = await client.patch("/v1/departments/GAJ", json={"parent_code": None}, headers=admin)
    assert r.status_code == 200 and r.json()["parent_code"] is None
    stored = (await client.get("/v1/departments/GAJ", headers=admin)).json()
    assert (stored["name"], stored["parent_code"], stored["active"]) == ("市公安局", None, False)


@pytest.mark.parametrize(
    "body, field",
    [
        ({"active": None}, "active"),
        ({"name": None}, "name"),
        ({"name": ""}, "name"),
        ({"parent_code": "NOPE"}, "parent_code"),
        ({"parent_code": "GAJ"}, "parent_code"),  # its own parent
        ({"colour": "red"}, "colour"),
    ],
)
async def test_patch_department_refuses_bad_bodies(client, admin, body, field):
    await make_department(client, admin, "GAJ", "公安局")
    r = await client.patch("/v1/departments/GAJ", json=body, headers=admin)
    assert r.status_code == 422, r.text
    assert field in {e["field"] for e in r.json()["errors"]}
    stored = (await client.get("/v1/departments/GAJ", headers=admin)).json()
    assert (stored["name"], stored["parent_code"], stored["active"]) == ("公安局", None, True)


async def test_patch_unknown_department_or_window_is_404(client, admin):
    r = await client.patch("/v1/departments/NOPE", json={"active": False}, headers=admin)
    assert r.status_code == 404
    await make_department(client, admin, "GAJ", "公安局")
    r = await client.patch("/v1/departments/GAJ/windows/Z9", json={"active": False}, headers=admin)
    assert r.status_code == 404


async def test_patch_a_window(client, admin):
    await make_department(client, admin, "GAJ", "公安局")
    await make_window(client, admin, "GAJ", "B02", "户籍窗口")
    r = await client.patch("/v1/departments/GAJ/windows/B02", json={"active": False}, headers=admin)
    assert r.status_code == 200, r.text
    assert (r.json()["name"], r.json()["active"]) == ("户籍窗口", False)
    r = await client.patch("/v1/departments/GAJ/windows/B02", json={"name": None}, headers=admin)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "name"
