"""The kiosk's API on the real database: enrolment, the session at a device, rating links and
the QR page's ratings (follow-up, third refused, real name masked, limits)."""

from __future__ import annotations

import json
import re
import uuid
from datetime import timedelta

from app.kiosk.schemas import REASONS
from app.ratelimit import RateLimiter
from app.ratings.schemas import BAD_TAGS
from tests.fixtures.factories import assert_problem, auth, make_key
from tests.fixtures.signing import signed_request


def test_the_reasons_are_the_domain_tags():
    assert tuple(REASONS) == BAD_TAGS


async def _signed(client, device, method, path, payload=None):
    body = b"" if payload is None else json.dumps(payload).encode()
    headers = signed_request(device, method, path, body)
    return await client.request(method, path, content=body, headers=headers)


async def test_an_enrolment_link_hands_the_key_over_once(client, admin, device, clock):
    issued = await client.post(f"/v1/devices/{device['id']}/enrolment", headers=admin)
    assert issued.status_code == 201
    body = issued.json()
    assert body["url"].endswith(f"/kiosk#enrol={body['token']}")
    assert body["qr_svg"].startswith("<svg") and issued.headers["cache-control"] == "no-store"
    redeemed = await client.post("/v1/kiosk/enrolment", json={"token": body["token"]})
    assert redeemed.status_code == 200, redeemed.text
    enrolled = redeemed.json()
    assert enrolled["device_id"] == device["id"] and enrolled["window_no"] == "A01"
    assert enrolled["key"].startswith("hcp_") and enrolled["key"] != device["key"]
    # The link leaked after use: it hands nothing over again.
    again = await client.post("/v1/kiosk/enrolment", json={"token": body["token"]})
    assert_problem(again, 410)
    # The handed-over key signs as the device; its bare use is refused (devices sign).
    session = await _signed(
        client, {**device, **enrolled}, "GET", f"/v1/devices/{device['id']}/session"
    )
    assert session.status_code == 200, session.text
    assert session.json()["department_name"] == "市场监督管理局"
    bare = await client.get(f"/v1/devices/{device['id']}/session", headers=auth(enrolled["key"]))
    assert bare.json()["reason"] == "signature-required"


async def test_an_enrolment_link_expires_and_a_new_enrolment_revokes_the_old_key(
    client, admin, device, enrolled, clock
):
    late = await client.post(f"/v1/devices/{device['id']}/enrolment", headers=admin)
    clock.set(clock() + timedelta(minutes=16))
    assert_problem(
        await client.post("/v1/kiosk/enrolment", json={"token": late.json()["token"]}), 410
    )
    assert_problem(await client.post("/v1/kiosk/enrolment", json={"token": "x" * 43}), 404)
    clock.reset()  # signatures are checked against the service's clock
    fresh = await client.post(f"/v1/devices/{device['id']}/enrolment", headers=admin)
    second = await client.post("/v1/kiosk/enrolment", json={"token": fresh.json()["token"]})
    assert second.status_code == 200
    path = f"/v1/devices/{device['id']}/session"
    old = await _signed(client, {**device, **enrolled}, "GET", path)
    assert old.status_code == 401, old.text  # the first tablet's key is revoked
    assert (await _signed(client, {**device, **second.json()}, "GET", path)).status_code == 200
    assert_problem(await client.post(f"/v1/devices/{uuid.uuid4()}/enrolment", headers=admin), 404)


async def test_the_session_is_set_by_the_window_system_or_the_device(
    client, admin, app, device, enrolled
):
    path = f"/v1/devices/{device['id']}/session"
    empty = (await client.get(path, headers=admin)).json()
    assert empty["staff_id"] is None and empty["set_by"] is None
    pushed = await client.put(path, json={"staff_id": "SJ007", "case_no": "BJ-1"}, headers=admin)
    assert pushed.status_code == 200, pushed.text
    assert pushed.json()["set_by"] == "system" and pushed.json()["case_no"] == "BJ-1"
    mine = await _signed(client, {**device, **enrolled}, "PUT", path, {"staff_id": "SJ008"})
    assert mine.json()["set_by"] == "device" and mine.json()["case_no"] is None
    own_department = auth(await make_key(app, "department", "市监", department_code="SJ"))
    assert (await client.put(path, json={"staff_id": "SJ009"}, headers=own_department)).is_success
    await client.put("/v1/departments/GA", json={"name": "公安局"}, headers=admin)
    other = auth(await make_key(app, "department", "公安", department_code="GA"))
    assert_problem(await client.put(path, json={"staff_id": "X"}, headers=other), 403)
    assert_problem(await client.put(path, json={"staff_id": "a\x00"}, headers=admin), 422)


async def test_a_window_qr_code_is_stable_until_rotated(client, admin, device):
    path = "/v1/departments/SJ/windows/A01/qr"
    svg = await client.get(path, headers=admin)
    assert svg.status_code == 200 and svg.headers["content-type"] == "image/svg+xml"
    png = await client.get(path, params={"format": "png"}, headers=admin)
    assert png.content.startswith(b"\x89PNG") and png.headers["content-type"] == "image/png"
    url = svg.headers["x-rating-url"]
    assert png.headers["x-rating-url"] == url and "/r/" in url
    token = url.rsplit("/", 1)[1]
    assert (await client.get(f"/r/{token}")).status_code == 200
    rotated = await client.post(f"{path}/rotate", headers=admin)
    assert rotated.status_code == 200 and rotated.json()["token"] != token
    page = await client.get(f"/r/{token}")
    assert page.status_code == 410 and "已失效" in page.text
    gone = await client.post(
        "/v1/qr/ratings", json={"token": token, "event_id": "e" * 12, "level": 5}
    )
    assert_problem(gone, 410)
    assert_problem(await client.get("/v1/departments/SJ/windows/Z9/qr", headers=admin), 404)


async def _case_link(client, admin, case_no="BJ-2026-0001"):
    made = await client.post(
        "/v1/rating-links",
        json={"department_code": "SJ", "window_no": "A01", "case_no": case_no, "staff_id": "S1"},
        headers=admin,
    )
    assert made.status_code == 201, made.text
    return made.json()["token"]


async def test_a_case_is_rated_once_and_followed_up_once(client, admin, device):
    token = await _case_link(client, admin)
    page = await client.get(f"/r/{token}")
    assert "BJ-2026-0001" in page.text and "script-src" not in page.text
    first = {"token": token, "event_id": "first-0001", "level": 1, "tags": ["attitude"]}
    created = await client.post("/v1/qr/ratings", json=first)
    assert created.status_code == 201, created.text
    assert created.json()["assess_number"] == 1
    retried = await client.post("/v1/qr/ratings", json=first)
    assert retried.status_code == 200 and retried.json()["assess_number"] == 1
    follow = await client.post(
        "/v1/qr/ratings", json={"token": token, "event_id": "second-001", "level": 4}
    )
    assert follow.status_code == 201 and follow.json()["assess_number"] == 2
    third = await client.post(  # in Chinese, as the QR page asks for it
        "/v1/qr/ratings",
        json={"token": token, "event_id": "third-0001", "level": 5},
        headers={"Accept-Language": "zh-CN"},
    )
    body = assert_problem(third, 409)
    assert "不能再次评价" in body["detail"]
    items = (await client.get("/v1/ratings", headers=admin)).json()["items"]
    assert sorted((r["assess_number"], r["channel"], r["case_no"]) for r in items) == [
        (1, "qr_code", "BJ-2026-0001"),
        (2, "qr_code", "BJ-2026-0001"),
    ]
    orders = (await client.get("/v1/tickets", headers=admin)).json()
    assert len(orders["items"]) == 1  # the 非常不满意 opened its work order


async def test_a_real_name_rating_needs_consent_and_is_masked(client, admin, device):
    token = (await client.get("/v1/departments/SJ/windows/A01/qr/link", headers=admin)).json()[
        "token"
    ]
    rating = {
        "token": token,
        "event_id": "named-0001",
        "level": 2,
        "rater": {"name": "张三丰", "phone": "13812345678"},
    }
    assert_problem(await client.post("/v1/qr/ratings", json=rating), 422, "consent")
    stored = await client.post("/v1/qr/ratings", json={**rating, "consent": True})
    assert stored.status_code == 201 and stored.json()["real_name"] is True
    (item,) = (await client.get("/v1/ratings", headers=admin)).json()["items"]
    assert item["rater"]["phone"] == "138****5678" and item["rater"]["name"] != "张三丰"
    assert item["window_no"] == "A01" and item["channel"] == "qr_code"
    bad_phone = {**rating, "event_id": "named-0002", "consent": True}
    bad_phone["rater"] = {"phone": "12345"}
    assert_problem(await client.post("/v1/qr/ratings", json=bad_phone), 422, "rater.phone")


async def test_one_phone_number_cannot_stuff_a_window(client, admin, device, app):
    token = (await client.get("/v1/departments/SJ/windows/A01/qr/link", headers=admin)).json()[
        "token"
    ]
    phone = f"139{uuid.uuid4().int % 10**8:08d}"
    limit = app.state.settings.kiosk.qr_phone_per_day
    statuses = []
    for n in range(limit + 1):
        answer = await client.post(
            "/v1/qr/ratings",
            json={
                "token": token,
                "event_id": f"stuff-{n:05d}",
                "level": 5,
                "rater": {"phone": phone},
                "consent": True,
            },
        )
        statuses.append(answer.status_code)
    assert statuses == [201] * limit + [429]
    assert answer.headers["retry-after"]


async def test_links_belong_to_their_department(client, admin, app, device):
    await client.put("/v1/departments/GA", json={"name": "公安局"}, headers=admin)
    other = auth(await make_key(app, "department", "公安", department_code="GA"))
    assert_problem(await client.get("/v1/departments/SJ/windows/A01/qr", headers=other), 403)
    refused = await client.post(
        "/v1/rating-links", json={"department_code": "SJ", "case_no": "C1"}, headers=other
    )
    assert_problem(refused, 403)
    unknown = await client.post(
        "/v1/rating-links",
        json={"department_code": "SJ", "window_no": "Q9", "case_no": "C1"},
        headers=admin,
    )
    assert_problem(unknown, 422, "window_no")
    assert (await client.get("/r/nonexistent-token-value-123")).status_code == 404


async def test_one_address_cannot_stuff_a_window(client, admin, device, app):
    token = (await client.get("/v1/departments/SJ/windows/A01/qr/link", headers=admin)).json()[
        "token"
    ]
    kept = app.state.qr_limiter
    app.state.qr_limiter = RateLimiter({"ip": (1 / 3600, 2), "phone": (1, 100)})
    try:
        answers = [
            await client.post(
                "/v1/qr/ratings",
                json={"token": token, "event_id": f"ip-{n:06d}", "level": 5},
                headers={"Accept-Language": "zh-CN"},
            )
            for n in range(3)
        ]
    finally:
        app.state.qr_limiter = kept
    assert [a.status_code for a in answers] == [201, 201, 429]
    assert "评价过于频繁" in answers[2].json()["detail"]


async def test_the_pages_run_no_inline_script_or_style(client, admin, device):
    token = (await client.get("/v1/departments/SJ/windows/A01/qr/link", headers=admin)).json()[
        "token"
    ]
    for path in ("/kiosk", f"/r/{token}"):
        page = await client.get(path)
        assert page.status_code == 200 and page.headers["referrer-policy"] == "no-referrer"
        policy = page.headers["content-security-policy"]
        assert "default-src 'self'" in policy and "unsafe-inline" not in policy
        assert not re.search(r"<script(?![^>]*\bsrc=)", page.text), path
        assert " style=" not in page.text and "<style" not in page.text
        for url in re.findall(r'(?:src|href)="([^"]+)"', page.text):
            assert url.startswith("/static/"), url
            assert (await client.get(url)).headers["cache-control"].endswith("immutable")
    worker = await client.get("/kiosk/sw.js")
    assert worker.headers["service-worker-allowed"] == "/kiosk"
    assert worker.headers["content-type"].startswith("text/javascript")


async def test_a_case_rated_on_the_tablet_then_by_qr_is_counted_once(client, admin, clock):
    """The README's known limit: the follow-up rule is per sender, so the QR rating after a
    tablet rating is a second first rating; the limit of two holds, and the case ledger
    counts the case once."""
    from tests.fixtures.factories import make_device

    _, tablet = await make_device(client, admin, "SJ", "A01")
    now = clock().isoformat()
    r = await client.post(
        "/v1/cases/import",
        json={"cases": [{"case_no": "BJ-9", "department_code": "SJ", "accepted_at": now}]},
        headers=admin,
    )
    assert r.status_code == 200, r.text
    rated = await client.post(
        "/v1/ratings",
        json={
            "event_id": "tab-0001",
            "channel": "window_device",
            "department_code": "SJ",
            "window_no": "A01",
            "case_no": "BJ-9",
            "level": 5,
            "rated_at": now,
        },
        headers=tablet,
    )
    assert rated.status_code == 201, rated.text
    link = await client.post(
        "/v1/rating-links",
        json={"department_code": "SJ", "window_no": "A01", "case_no": "BJ-9"},
        headers=admin,
    )
    qr = await client.post(
        "/v1/qr/ratings",
        json={"token": link.json()["token"], "event_id": "phone-0001", "level": 4},
    )
    assert qr.status_code == 201, qr.text
    assert qr.json()["assess_number"] == 1  # per sender: not yet the case's follow-up
    # but two ratings a case, whoever sent them: no third one through the link
    third = await client.post(
        "/v1/qr/ratings",
        json={"token": link.json()["token"], "event_id": "phone-0002", "level": 3},
    )
    assert assert_problem(third, 409)["errors"][0]["code"] == "rated_twice"
    case = (await client.get("/v1/cases/BJ-9", headers=admin)).json()
    assert (case["rated"], case["rating_count"]) == (True, 2)
