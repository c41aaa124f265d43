"""Rate limits: token buckets per client by role, 429 problem+json with Retry-After."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from pydantic import ValidationError

from app.config import DEFAULT_RATE_LIMITS, Settings
from app.ratelimit import RateLimited, RateLimiter
from tests.fixtures.factories import (
    assert_problem,
    auth,
    event,
    make_department,
    make_device,
    make_key,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_allows_the_burst_then_the_rate():
    clock = FakeClock()
    limiter = RateLimiter({"device": (10, 50)}, clock=clock)
    assert all(limiter.check("tablet", "device") == 0 for _ in range(50))
    wait = limiter.check("tablet", "device")
    assert wait == pytest.approx(0.1)
    clock.now += 0.1
    assert limiter.check("tablet", "device") == 0
    assert limiter.check("tablet", "device") > 0
    # A second client has its own bucket; a role without a limit is never limited.
    assert limiter.check("other tablet", "device") == 0
    assert all(limiter.check("portal", "portal") == 0 for _ in range(10_000))
    # Idle time refills up to the burst, no further.
    clock.now += 3600
    assert sum(limiter.check("tablet", "device") == 0 for _ in range(100)) == 50


def test_a_sustained_stream_is_held_to_the_rate():
    clock = FakeClock()
    limiter = RateLimiter({"portal": (200, 400)}, clock=clock)
    allowed = 0
    for _ in range(10_000):  # 1,000 requests a second for ten seconds
        clock.now += 0.001
        allowed += limiter.check("p", "portal") == 0
    assert 400 + 200 * 10 - 2 <= allowed <= 400 + 200 * 10 + 2


def test_retry_after_is_whole_seconds_and_at_least_one():
    clock = FakeClock()
    limiter = RateLimiter({"reader": (0.2, 1)}, clock=clock)
    limiter.enforce("r", "reader")
    with pytest.raises(RateLimited) as limited:
        limiter.enforce("r", "reader")
    assert limited.value.status == 429
    assert limited.value.headers == {"Retry-After": "5"}
    limiter = RateLimiter({"device": (10, 1)}, clock=clock)
    limiter.enforce("d", "device")
    with pytest.raises(RateLimited) as limited:
        limiter.enforce("d", "device")
    assert limited.value.headers == {"Retry-After": "1"}


def test_idle_buckets_are_forgotten_when_there_are_too_many():
    clock = FakeClock()
    limiter = RateLimiter({"device": (10, 50)}, clock=clock, max_clients=100)
    for i in range(100):
        limiter.check(i, "device")
    clock.now += 60
    limiter.check("new", "device")
    assert len(limiter._buckets) == 1


def test_a_check_costs_about_a_microsecond():
    limiter = RateLimiter(DEFAULT_RATE_LIMITS)
    clients = [uuid.uuid4() for _ in range(1000)]
    rounds = 200
    start = time.perf_counter()
    for _ in range(rounds):
        for client_id in clients:
            limiter.check(client_id, "portal")
    per_check = (time.perf_counter() - start) / (rounds * len(clients))
    print(f"rate limit check: {per_check * 1e6:.2f} µs")
    assert per_check < 10e-6, per_check


def test_settings_merge_over_the_defaults_and_refuse_nonsense(monkeypatch):
    assert Settings().role_rate_limits == DEFAULT_RATE_LIMITS
    monkeypatch.setenv("HAOCHAPING_RATE_LIMITS", '{"portal": [500, 2000], "admin": null}')
    limits = Settings().role_rate_limits
    assert limits["portal"] == (500, 2000) and "admin" not in limits
    assert limits["device"] == (10, 50)
    monkeypatch.setenv("HAOCHAPING_RATE_LIMITS_ENABLED", "false")
    assert Settings().role_rate_limits == {}
    for bad in ('{"robot": [1, 1]}', '{"device": [0, 5]}', '{"device": [5, 0]}'):
        monkeypatch.setenv("HAOCHAPING_RATE_LIMITS", bad)
        with pytest.raises(ValidationError):
            Settings()


@pytest.fixture
def limits(app):
    """Swap the app's buckets for the test; restore the configured ones afterwards."""
    configured = app.state.rate_limiter

    def install(**by_role):
        app.state.rate_limiter = RateLimiter(by_role)
        return app.state.rate_limiter

    yield install
    app.state.rate_limiter = configured


async def test_a_device_over_its_limit_gets_429_with_retry_after(app, client, admin, limits):
    device, headers = await make_device(client, admin)
    limits(device=(1, 3))
    payloads = [
        {"event_id": f"t-{i}", "level": 5, "rated_at": event()["rated_at"]} for i in range(4)
    ]
    statuses = [
        (await client.post("/v1/ratings", json=p, headers=headers)).status_code for p in payloads
    ]
    assert statuses == [201, 201, 201, 429]
    r = await client.post("/v1/ratings", json=payloads[3], headers=headers)
    problem = assert_problem(r, 429, type_suffix="rate-limited")
    assert r.headers["Retry-After"] == "1"
    assert 0 < problem["retry_after"] <= 1
    assert "device" in problem["detail"]
    # Limits are per client: the admin and another device are not held back.
    assert (await client.get("/v1/devices", headers=admin)).status_code == 200
    _, other = await make_device(client, admin, window_no="A02")
    assert (await client.post("/v1/ratings", json=payloads[3], headers=other)).status_code == 201


async def test_two_keys_of_one_client_share_its_bucket(app, client, admin, limits):
    await make_department(client, admin, "SJ")
    r = await client.post("/v1/keys", json={"role": "portal", "client_name": "网厅"}, headers=admin)
    old = auth(r.json()["key"])
    r = await client.post("/v1/keys", json={"client_id": r.json()["client_id"]}, headers=admin)
    new = auth(r.json()["key"])
    limits(portal=(0.5, 2))
    codes = [
        (await client.get("/v1/ratings", headers=headers)).status_code
        for headers in (old, new, old, new)
    ]
    assert codes == [200, 200, 429, 429]


async def test_a_concurrent_burst_is_cut_at_the_burst(app, client, admin, limits):
    await make_department(client, admin, "SJ")
    reader = auth(await make_key(app, "reader"))
    limits(reader=(0.01, 5))
    responses = await asyncio.gather(
        *(client.get("/v1/departments", headers=reader) for _ in range(12))
    )
    assert sorted(r.status_code for r in responses) == [200] * 5 + [429] * 7
    assert all(r.headers["Retry-After"] == "100" for r in responses if r.status_code == 429)


async def test_the_default_limits_are_in_force(app, client, admin):
    assert app.state.rate_limiter.limits == app.state.settings.role_rate_limits
    assert app.state.rate_limiter.limits["device"] == (10, 50)
