from datetime import UTC, datetime

from tests.fixtures.factories import make_device


async def test_device_posts_a_rating(client, admin):
    device, headers = await make_device(client, admin)
    now = datetime.now(UTC).isoformat()
    r = await client.post(
        "/v1/ratings", json={"event_id": "e1", "level": 5, "rated_at": now}, headers=headers
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["department_code"] == "SJ" and body["window_no"] == "A01"
    r2 = await client.post(
        "/v1/ratings", json={"event_id": "e1", "level": 5, "rated_at": now}, headers=headers
    )
    assert r2.status_code == 200 and r2.headers["Idempotent-Replayed"] == "true"
    assert r2.json()["id"] == body["id"]
