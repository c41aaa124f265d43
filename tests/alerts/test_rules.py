"""Alert rules: only admins manage them, each kind's parameters are checked (422 naming the
field); and the kinds other than the burst: good rate, silent tablet, order due soon."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import text

from app.alerts.conditions import working_day_back
from app.workorders.calendar import WorkCalendar
from tests.alerts.conftest import T0, alerts, evaluate, make_rule, rate
from tests.fixtures.factories import assert_problem, make_device

BURST = {"name": "差评激增", "kind": "window_bad_burst", "threshold": 3, "minutes": 30}


async def test_only_admins_manage_rules_and_readers_read_them(client, keys):
    rule = await make_rule(client, keys["admin"], **BURST)
    assert rule["params"] == {"window_no": None, "threshold": 3, "minutes": 30}
    assert rule["department_code"] is None and rule["active"] is True
    assert rule["created_at"] == "2026-11-23T10:00:00+08:00"
    for who in ("reader", "sj", "portal"):
        assert_problem(await client.post("/v1/alert-rules", json=BURST, headers=keys[who]), 403)
        r = await client.patch(
            f"/v1/alert-rules/{rule['id']}", json={"threshold": 9}, headers=keys[who]
        )
        assert_problem(r, 403)
        assert_problem(await client.delete(f"/v1/alert-rules/{rule['id']}", headers=keys[who]), 403)
    for who in ("reader", "sj", "admin"):
        r = await client.get("/v1/alert-rules", headers=keys[who])
        assert r.status_code == 200 and r.json() == [rule]
    assert_problem(await client.get("/v1/alert-rules", headers=keys["portal"]), 403)
    r = await client.get(f"/v1/alert-rules/{rule['id']}", headers=keys["reader"])
    assert r.json() == rule


async def test_each_kind_checks_its_own_parameters(client, keys):
    admin = keys["admin"]
    cases = [
        ({**BURST, "threshold": 0}, "threshold"),
        ({k: v for k, v in BURST.items() if k != "minutes"}, "minutes"),
        ({**BURST, "sample_size": 5}, "sample_size"),
        ({**BURST, "window_no": "A01"}, "window_no"),  # a window needs its department
        ({**BURST, "department_code": "NOPE"}, "department_code"),
        ({**BURST, "department_code": "SJ", "window_no": "Z9"}, "window_no"),
        ({"name": "x", "kind": "department_good_rate", "sample_size": 10}, "min_rate_percent"),
        (
            {
                "name": "x",
                "kind": "department_good_rate",
                "sample_size": 10,
                "min_rate_percent": 101,
            },
            None,
        ),
        ({"name": "x", "kind": "device_silent", "working_days": 0}, "working_days"),
        ({"name": "x", "kind": "the_weather"}, "kind"),
        ({"kind": "order_due_soon"}, "name"),
    ]
    for body, field in cases:
        r = await client.post("/v1/alert-rules", json=body, headers=admin)
        problem = assert_problem(r, 422)
        if field:
            assert field in [e["field"] for e in problem["errors"]], (body, problem)
    assert (await client.get("/v1/alert-rules", headers=admin)).json() == []


async def test_a_patch_is_checked_against_the_rule_s_kind(client, keys, clock):
    admin = keys["admin"]
    rule = await make_rule(client, admin, **BURST)
    url = f"/v1/alert-rules/{rule['id']}"
    for body, field in (
        ({"sample_size": 5}, "sample_size"),
        ({"threshold": None}, "threshold"),
        ({"window_no": "A01"}, "window_no"),
        ({"department_code": "NOPE"}, "department_code"),
        ({"minutes": 0}, "minutes"),
    ):
        assert_problem(await client.patch(url, json=body, headers=admin), 422, field)
    assert (await client.get(url, headers=admin)).json() == rule  # nothing changed
    clock.set(T0 + timedelta(hours=1))
    r = await client.patch(
        url, json={"department_code": "SJ", "window_no": "A02", "threshold": 5}, headers=admin
    )
    assert r.status_code == 200, r.text
    changed = r.json()
    assert changed["params"] == {"window_no": "A02", "threshold": 5, "minutes": 30}
    assert changed["department_code"] == "SJ" and changed["kind"] == "window_bad_burst"
    assert changed["updated_at"] == "2026-11-23T11:00:00+08:00"
    assert_problem(await client.patch("/v1/alert-rules/999999", json={}, headers=admin), 404)


async def test_a_department_s_good_rate_below_its_threshold(app, client, keys, clock):
    rule = await make_rule(
        client,
        keys["admin"],
        name="好评率预警",
        kind="department_good_rate",
        sample_size=4,
        min_rate_percent=80,
    )
    start = T0 - timedelta(hours=2)
    # SJ: 3 好评 and 1 差评 in its last 4 (75%); GA has 3 差评 but fewer than K ratings.
    await rate(client, keys["portal"], [5, 4, 3, 2], at=start)
    await rate(client, keys["portal"], [1, 1, 1], at=start, department="GA", window="B01")
    assert (await evaluate(app, T0))["raised"] == 1
    (alert,) = await alerts(client, keys["admin"])
    assert (alert["subject_type"], alert["subject_key"]) == ("department", "SJ")
    assert alert["evidence"] == {
        "ratings": 4,
        "good": 3,
        "good_rate": "75.00",
        "min_rate_percent": "80.00",
        "sample_size": 4,
    }
    # Four 好评 later the 差评 is out of the last 4: the episode ends.
    await rate(client, keys["portal"], [5, 5, 5, 5], at=start + timedelta(hours=1))
    assert (await evaluate(app, T0 + timedelta(minutes=1)))["cleared"] == 1
    r = await client.patch(
        f"/v1/alert-rules/{rule['id']}", json={"min_rate_percent": 100}, headers=keys["admin"]
    )
    assert r.status_code == 200, r.text
    assert (await evaluate(app, T0 + timedelta(minutes=2)))["raised"] == 0  # 100% is not below


def test_one_working_day_back_skips_the_weekend():
    cal = WorkCalendar()
    assert working_day_back(cal, T0, 1) == T0 - timedelta(days=3)  # Monday -> Friday
    assert working_day_back(cal, T0 + timedelta(days=1), 1) == T0
    assert working_day_back(cal, T0, 2) == T0 - timedelta(days=4)


async def test_a_silent_tablet_at_an_open_window_during_working_hours(app, client, keys, clock):
    admin = keys["admin"]
    quiet, quiet_headers = await make_device(client, admin, "SJ", "A01")
    busy, busy_headers = await make_device(client, admin, "SJ", "A02")
    closed, _ = await make_device(client, admin, "GA", "B01")
    async with app.state.engine.begin() as conn:  # all three installed a week before
        await conn.execute(
            text("UPDATE device SET created_at = :at"), {"at": T0 - timedelta(days=7)}
        )
    r = await client.patch("/v1/departments/GA/windows/B01", json={"active": False}, headers=admin)
    assert r.status_code == 200, r.text
    await make_rule(client, admin, name="评价器静默", kind="device_silent")
    friday = T0 - timedelta(days=3)
    # The quiet one last rated on Friday at 09:00, before the working day back (Friday 10:00);
    # the busy one at 15:00.
    for headers, at in ((quiet_headers, friday - timedelta(hours=1)), (busy_headers, friday)):
        at += timedelta(hours=5) if headers is busy_headers else timedelta(0)
        payload = {"event_id": f"e-{at:%H}", "level": 5, "rated_at": at.isoformat()}
        r = await client.post("/v1/ratings", json=payload, headers=headers)
        assert r.status_code == 201, r.text

    # Monday 08:00 is outside the working hours: not judged.
    assert (await evaluate(app, T0 - timedelta(hours=2)))["rules"] == 0
    assert (await evaluate(app, T0))["raised"] == 1
    (alert,) = await alerts(client, admin)
    assert (alert["subject_type"], alert["subject_key"]) == ("device", quiet["id"])
    assert (alert["department_code"], alert["window_no"]) == ("SJ", "A01")
    assert alert["evidence"]["silent_since"] == "2026-11-20T10:00:00+08:00"
    assert alert["evidence"]["serial_no"] == quiet["serial_no"]
    # Outside the working hours the episode stays as it is; a rating ends it.
    assert (await evaluate(app, T0 + timedelta(hours=9)))["rules"] == 0
    clock.set(T0 + timedelta(minutes=30))
    r = await client.post(
        "/v1/ratings",
        json={"event_id": "e-mon", "level": 4, "rated_at": clock().isoformat()},
        headers=quiet_headers,
    )
    assert r.status_code == 201, r.text
    assert (await evaluate(app, T0 + timedelta(minutes=31)))["cleared"] == 1


async def test_a_work_order_due_within_one_working_day(app, client, keys, clock):
    await make_rule(
        client, keys["admin"], name="工单临期", kind="order_due_soon", department_code="SJ"
    )
    # A 差评 on Monday opens an order to contact the rater within 3 working days: by the end
    # of Thursday (24:00 = Friday 00:00).
    await rate(client, keys["portal"], [1], at=T0 - timedelta(minutes=1))
    await rate(
        client, keys["portal"], [1], at=T0 - timedelta(minutes=1), department="GA", window="B01"
    )
    assert (await evaluate(app, T0))["raised"] == 0
    # Due soon as the sweeper has it: by the end of the next working day.
    assert (await evaluate(app, T0 + timedelta(days=1)))["raised"] == 0  # Tuesday
    wednesday = T0 + timedelta(days=2)
    assert (await evaluate(app, wednesday))["raised"] == 1
    assert (await evaluate(app, wednesday + timedelta(days=1)))["raised"] == 0
    (alert,) = await alerts(client, keys["admin"])
    assert alert["subject_type"] == "order" and alert["department_code"] == "SJ"
    assert alert["evidence"]["stage"] == "contact"
    assert alert["evidence"]["due_at"] == "2026-11-27T00:00:00+08:00"
    r = await client.get(f"/v1/tickets/{alert['evidence']['order_id']}", headers=keys["admin"])
    assert r.status_code == 200 and r.json()["department_code"] == "SJ"
    # Past its deadline the order is overdue, no longer due soon: the episode ends.
    friday = T0 + timedelta(days=4)
    assert (await evaluate(app, friday - timedelta(hours=9, minutes=59)))["cleared"] == 1
