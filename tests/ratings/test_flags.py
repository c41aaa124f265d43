"""Integrity flags: suspicious ratings are stored and flagged, never dropped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.ratings import flags
from app.ratings.flags import IntegritySettings
from tests.fixtures.factories import (
    auth,
    event,
    make_department,
    make_device,
    make_key,
    make_window,
)

T0 = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)  # 09:00 in Beijing


@pytest.fixture(autouse=True)
def _two_days_after_t0(clock):
    """Ratings are judged at the app's clock: two days after T0, whatever day the tests run."""
    clock.set(T0 + timedelta(days=2))


def at(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat()


@pytest.fixture
async def keys(app, client, admin):
    await make_department(client, admin, "SJ")
    await make_department(client, admin, "GA", "公安局")
    await make_window(client, admin, "SJ", "A01")
    device, device_headers = await make_device(client, admin, "SJ", "A01")
    return {
        "admin": admin,
        "device": device_headers,
        "portal": auth(await make_key(app, "portal", "政务服务网")),
        "sj": auth(await make_key(app, "department", department_code="SJ")),
    }


async def _flags_by_event(client, admin) -> dict[str, list[str]]:
    items = (await client.get("/v1/ratings?limit=500", headers=admin)).json()["items"]
    return {i["event_id"]: i["flags"] for i in items}


def _device_event(event_id, seconds, **extra):
    return {"event_id": event_id, "level": 5, "rated_at": at(seconds), **extra}


# Three identical ratings at one window within two minutes are a burst: vary the level where
# a test is about something else.


async def test_a_device_rating_faster_than_a_person_is_flagged(client, keys):
    # Stored one by one, and in one batch: both ways the second of a close pair is flagged.
    for event_id, seconds, level in (("a", 0, 5), ("b", 4, 5), ("c", 60, 4)):
        r = await client.post(
            "/v1/ratings",
            json=_device_event(event_id, seconds, level=level),
            headers=keys["device"],
        )
        assert r.status_code == 201 and r.json()["flags"] is None, r.text  # senders are not told
    r = await client.post(
        "/v1/ratings/batch",
        json={"events": [_device_event("e", 300), _device_event("d", 295)]},
        headers=keys["device"],
    )
    assert r.json()["created"] == 2
    assert await _flags_by_event(client, keys["admin"]) == {
        "a": [],
        "b": ["rapid_device"],
        "c": [],
        "d": [],
        "e": ["rapid_device"],
    }


async def test_a_portal_may_post_many_ratings_a_second(client, keys):
    events = [event(event_id=f"p{i}", rated_at=at(i * 0.1), level=5) for i in range(20)]
    r = await client.post("/v1/ratings/batch", json={"events": events}, headers=keys["portal"])
    assert r.json()["created"] == 20
    assert set(map(tuple, (await _flags_by_event(client, keys["admin"])).values())) == {()}


async def test_one_phone_rating_a_department_many_times_a_day(client, keys):
    phone = {"phone": "13812345678"}
    # Two stored earlier in the (Beijing) day, then a batch with two more and one elsewhere.
    for i in range(2):
        await client.post(
            "/v1/ratings",
            json=event(event_id=f"s{i}", rated_at=at(i * 3600), rater=phone),
            headers=keys["portal"],
        )
    batch = [
        event(event_id="s2", rated_at=at(3 * 3600), rater={"phone": "+86 138 1234 5678"}),
        event(event_id="s3", rated_at=at(4 * 3600), rater=phone),
        event(event_id="other-dept", department_code="GA", rated_at=at(4 * 3600), rater=phone),
        event(event_id="next-day", rated_at=at(24 * 3600), rater=phone),
        event(event_id="other-phone", rated_at=at(5 * 3600), rater={"phone": "13900000000"}),
    ]
    r = await client.post("/v1/ratings/batch", json={"events": batch}, headers=keys["portal"])
    assert r.json()["created"] == 5, r.text
    got = await _flags_by_event(client, keys["admin"])
    assert got["s0"] == got["s1"] == [] and got["other-dept"] == [] and got["next-day"] == []
    assert got["s2"] == ["repeat_phone"] and got["s3"] == ["repeat_phone"]
    assert got["other-phone"] == []


async def test_bursts_of_identical_ratings(client, keys):
    same = {"level": 5, "comment": "非常好，点赞", "window_no": "A01"}
    await client.post(
        "/v1/ratings", json=event(event_id="i0", rated_at=at(0), **same), headers=keys["portal"]
    )
    batch = [event(event_id=f"i{i}", rated_at=at(i * 10), **same) for i in range(1, 4)]
    batch.append(event(event_id="later", rated_at=at(3600), **same))
    batch.append(event(event_id="other-words", rated_at=at(15), **{**same, "comment": "好"}))
    r = await client.post("/v1/ratings/batch", json={"events": batch}, headers=keys["portal"])
    assert r.json()["created"] == 5
    got = await _flags_by_event(client, keys["admin"])
    assert got["i0"] == got["i1"] == [] and got["later"] == [] and got["other-words"] == []
    assert got["i2"] == got["i3"] == ["identical_burst"]


async def test_flagged_listing_filter_and_who_sees_flags(client, keys):
    for event_id, seconds in (("a", 0), ("b", 1)):
        await client.post(
            "/v1/ratings", json=_device_event(event_id, seconds), headers=keys["device"]
        )
    r = await client.get("/v1/ratings?flagged=true", headers=keys["admin"])
    assert [i["event_id"] for i in r.json()["items"]] == ["b"]
    r = await client.get("/v1/ratings?flagged=false", headers=keys["sj"])
    assert [i["event_id"] for i in r.json()["items"]] == ["a"]
    r = await client.get("/v1/ratings?flagged=true", headers=keys["device"])
    assert r.status_code == 403
    r = await client.get("/v1/ratings", headers=keys["device"])
    assert {i["flags"] for i in r.json()["items"]} == {None}


async def test_flagged_counts_per_department(app, client, keys):
    from app.ratings import service

    for event_id, seconds, level in (("a", 0, 5), ("b", 1, 4), ("c", 2, 3)):
        await client.post(
            "/v1/ratings",
            json=_device_event(event_id, seconds, level=level),
            headers=keys["device"],
        )
    async with app.state.sessionmaker() as session:
        counts = await service.flagged_counts(session, T0, T0 + timedelta(days=1))
        assert counts == {"SJ": 2}
        assert (
            await service.flagged_counts(session, T0 + timedelta(days=1), T0 + timedelta(days=2))
            == {}
        )


async def test_statistics_report_flagged_counts_beside_the_rates(client, keys):
    for event_id, seconds, level in (("a", 0, 5), ("b", 1, 4), ("c", 2, 3), ("d", 90, 2)):
        r = await client.post(
            "/v1/ratings",
            json=_device_event(event_id, seconds, level=level),
            headers=keys["device"],
        )
        assert r.status_code == 201, r.text
    period = "period=2026-11"
    overview = (await client.get(f"/v1/stats/overview?{period}", headers=keys["admin"])).json()
    assert overview["ratings"]["counted"] == 4
    assert overview["ratings"]["flagged"] == 2  # b and c followed a within seconds
    table = (await client.get(f"/v1/stats/departments?{period}", headers=keys["admin"])).json()
    rows = {row["code"]: row["ratings"] for row in table["departments"]}
    assert rows["SJ"]["flagged"] == 2 and rows["GA"]["flagged"] == 0
    detail = (await client.get(f"/v1/stats/departments/SJ?{period}", headers=keys["sj"])).json()
    assert detail["ratings"]["flagged"] == 2
    flagged_ids = [
        i["id"]
        for i in (await client.get("/v1/ratings?flagged=true", headers=keys["admin"])).json()[
            "items"
        ]
    ]
    assert len(flagged_ids) == 2
    csv_text = (
        await client.get(f"/v1/stats/departments?{period}&format=csv", headers=keys["admin"])
    ).text
    assert "疑似异常评价数" in csv_text.splitlines()[0]


def test_batch_priors_pure():
    rules = IntegritySettings(
        device_seconds=10, phone_daily_limit=3, burst_count=3, burst_seconds=60
    )
    rows = [
        {
            "rated_at": T0 + timedelta(seconds=s),
            "rater_phone_hash": b"h",
            "department_code": "SJ",
            "window_no": None,
            "level": 5,
            "comment": "同一句话",
        }
        for s in (0, 5, 100, 130, 150)
    ]
    for row in rows:
        row.update(channel="mobile", rater_type="anonymous")
    priors = flags.batch_priors(rows, device=True, settings=rules)
    assert priors.fast == [False, True, False, False, False]
    assert priors.phone == [0, 1, 2, 3, 4]
    assert priors.burst == [0, 1, 0, 1, 2]
    assert priors.bare == [0, 0, 0, 0, 0]  # they carry a comment
    assert priors.share == [0, 1, 2, 3, 4]  # all within the hour
    assert flags.batch_priors(rows, device=False, settings=rules).fast == [False] * 5
    for row in rows:
        row["comment"] = None
    priors = flags.batch_priors(rows, device=False, settings=rules)
    assert priors.bare == [0, 0, 0, 0, 0]  # a second apart at most: none closer than 5 s
    rows[1]["rated_at"] = rows[0]["rated_at"]
    assert flags.batch_priors(rows, device=False, settings=rules).bare == [0, 1, 0, 0, 0]
    rows[1]["level"] = 4  # another level is another pattern
    assert flags.batch_priors(rows, device=False, settings=rules).bare == [0] * 5
    assert IntegritySettings(share_sample=30, share_percent=90).share_needed == 27
    assert IntegritySettings(share_sample=7, share_percent=50).share_needed == 4


# --- what a portal can send: bare bursts and one source swamping a department -----------------


async def _flag_counts(client, admin) -> dict[tuple[str, ...], int]:
    counts: dict[tuple[str, ...], int] = {}
    cursor = None
    while True:
        params = {"limit": 500, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/v1/ratings", params=params, headers=admin)).json()
        for item in page["items"]:
            key = tuple(item["flags"])
            counts[key] = counts.get(key, 0) + 1
        cursor = page["next_cursor"]
        if cursor is None:
            return counts


async def test_a_stuffed_portal_batch_is_flagged_and_counted(client, keys):
    """The attack: 1,000 identical anonymous 5s from a portal, one instant, no comment, no
    window. Stored (never dropped), flagged from the 20th on, and the figures say so."""
    stuffed = [
        event(event_id=f"s{i}", channel="mobile", level=5, rated_at=at(0)) for i in range(1000)
    ]
    r = await client.post("/v1/ratings/batch", json={"events": stuffed}, headers=keys["portal"])
    assert r.json()["created"] == 1000
    assert await _flag_counts(client, keys["admin"]) == {
        (): 19,
        ("bare_burst",): 10,  # the 20th to the 29th
        ("bare_burst", "source_share"): 971,  # from the 30th: 27 of the last 30 are its
    }
    r = await client.get("/v1/stats/overview?period=2026-11", headers=keys["admin"])
    assert r.json()["ratings"]["counted"] == 1000
    assert r.json()["ratings"]["flagged"] == 981


async def test_bare_bursts_sent_one_by_one_on_both_paths(client, keys, generic):
    for i in range(24):
        http = client if i % 2 else generic
        body = event(event_id=f"b{i}", channel="mobile", level=5, rated_at=at(i * 0.01))
        r = await http.post("/v1/ratings", json=body, headers=keys["portal"])
        assert r.status_code == 201, r.text
    # Not part of it: a comment, a name, another level or channel, another client.
    others = [
        event(channel="mobile", rated_at=at(0), comment="很好"),
        event(channel="mobile", rated_at=at(0), rater={"name": "张三"}),
        event(channel="mobile", rated_at=at(0), level=4),
        event(channel="pc", rated_at=at(0)),
    ]
    for body in others:
        r = await client.post("/v1/ratings", json=body, headers=keys["portal"])
        assert r.status_code == 201, r.text
    r = await client.post(
        "/v1/ratings",
        json=event(channel="mobile", rated_at=at(0)),
        headers=auth(await make_key_for(client, keys)),
    )
    assert r.status_code == 201
    got = await _flags_by_event(client, keys["admin"])
    assert [got[f"b{i}"] for i in range(24)] == [[]] * 19 + [["bare_burst"]] * 5
    assert sum(bool(f) for f in got.values()) == 5
    # The burst goes on while its ratings follow a flagged one within the gap (0.9 s apart
    # here, far from the first 20), and ends at a pause.
    for i, seconds in enumerate((0.9, 1.8, 2.7, 5.0)):
        body = event(event_id=f"c{i}", channel="mobile", level=5, rated_at=at(0.23 + seconds))
        r = await client.post("/v1/ratings", json=body, headers=keys["portal"])
        assert r.status_code == 201, r.text
    got = await _flags_by_event(client, keys["admin"])
    # (by now the portal has sent 29 of SJ's 30 latest ratings: source_share as well)
    assert ["bare_burst" in got[f"c{i}"] for i in range(4)] == [True, True, True, False]


async def make_key_for(client, keys) -> str:
    r = await client.post(
        "/v1/keys", json={"role": "portal", "client_name": "第二平台"}, headers=keys["admin"]
    )
    return r.json()["key"]


async def test_one_source_swamping_a_department(client, keys, generic):
    """Ratings a minute apart (no burst), varied levels: the 30th within the hour of which 27
    came from one portal is flagged; a department that others rate too is not."""
    second = auth(await make_key_for(client, keys))
    for i in range(40):
        level = 5 if i % 3 else 4
        body = event(event_id=f"p{i}", level=level, rated_at=at(60 * i))
        r = await (client if i % 2 else generic).post(
            "/v1/ratings", json=body, headers=keys["portal"]
        )
        assert r.status_code == 201, r.text
        if i % 4 == 0:  # GA: a quarter of its ratings come from another source
            await client.post(
                "/v1/ratings",
                json=event(department_code="GA", level=level, rated_at=at(60 * i)),
                headers=second,
            )
        await client.post(
            "/v1/ratings",
            json=event(event_id=f"ga{i}", department_code="GA", level=level, rated_at=at(60 * i)),
            headers=keys["portal"],
        )
    got = await _flags_by_event(client, keys["admin"])
    assert [got[f"p{i}"] for i in range(40)] == [[]] * 29 + [["source_share"]] * 11
    assert not any(got[f"ga{i}"] for i in range(40))
    # In one batch the same: the request's own events count as the latest.
    batch = [
        event(event_id=f"q{i}", level=5 if i % 3 else 4, rated_at=at(7200 + 60 * i))
        for i in range(31)
    ]
    r = await client.post("/v1/ratings/batch", json={"events": batch}, headers=keys["portal"])
    assert r.json()["created"] == 31
    got = await _flags_by_event(client, keys["admin"])
    assert [got[f"q{i}"] for i in range(31)] == [[]] * 29 + [["source_share"]] * 2
