"""Ratings in provincial fields: mapped by profile, stored once, validated by provincial name."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from app.provincial import profile as profiles
from tests.fixtures.stats import roll_up
from tests.provincial.conftest import T0, doc


async def _post(client, headers, document, profile="zhejiang"):
    return await client.post(
        f"/v1/provincial/ratings?profile={profile}", json=document, headers=headers
    )


async def _rating(client, admin, rating_id):
    response = await client.get(f"/v1/ratings/{rating_id}", headers=admin)
    assert response.status_code == 200, response.text
    return response.json()


async def _is_default(app, rating_id) -> bool:
    async with app.state.sessionmaker() as session:
        return (
            await session.execute(
                text("SELECT is_default FROM rating WHERE id = :id"), {"id": rating_id}
            )
        ).scalar_one()


async def test_pf_6_and_7_map_per_profile(app, client, admin, province):
    made = {}
    for profile in ("zhejiang", "generic"):
        for pf in (6, 7):
            response = await _post(client, province, doc(f"{profile}-{pf}", pf=pf), profile)
            assert response.status_code == 201, response.text
            made[(profile, pf)] = response.json()
    channel = {
        k: (await _rating(client, admin, v["rating_id"]))["channel"] for k, v in made.items()
    }
    assert channel[("zhejiang", 6)] == "sms"
    assert channel[("generic", 6)] == "phone_callback"
    assert channel[("generic", 7)] == "sms"
    # Zhejiang's 7 is 系统默认评价: stored (under the profile's default channel), marked apart
    assert made[("zhejiang", 7)]["is_default"] is True
    assert channel[("zhejiang", 7)] == "pc"
    assert await _is_default(app, made[("zhejiang", 7)]["rating_id"])
    for key in (("zhejiang", 6), ("generic", 6), ("generic", 7)):
        assert made[key]["is_default"] is False
        assert not await _is_default(app, made[key]["rating_id"])


async def test_default_ratings_are_counted_apart(app, client, admin, province):
    for number, pf in enumerate((1, 2, 7, 7)):
        response = await _post(client, province, doc(f"C{number}", pf=pf))
        assert response.status_code == 201, response.text
    response = await client.get("/v1/stats/overview?period=2026Q4", headers=admin)
    assert response.status_code == 200, response.text
    assert response.json()["ratings"]["counted"] == 2  # the two default ratings stay out
    await roll_up(app)  # and out of the roll-up tables, once folded in
    response = await client.get("/v1/stats/overview?period=2026Q4", headers=admin)
    assert response.json()["ratings"]["counted"] == 2
    assert response.json()["by_channel"]["pc"]["counted"] == 1


async def test_user_prop_3_to_6_and_9_count_as_enterprise(client, admin, province):
    types = {}
    for prop in (1, 2, 3, 4, 5, 6, 9):
        response = await _post(client, province, doc(f"U{prop}", userProp=prop))
        assert response.status_code == 201, response.text
        rating = await _rating(client, admin, response.json()["rating_id"])
        types[prop] = rating["rater"]["type"]
        assert rating["rater"]["name"] != "张三"  # masked
    assert types == {1: "individual", **{p: "enterprise" for p in (2, 3, 4, 5, 6, 9)}}
    response = await client.get("/v1/stats/overview?period=2026Q4", headers=admin)
    assert response.json()["by_rater_type"]["enterprise"]["counted"] == 6


async def test_assess_time_is_beijing_time_and_codes_may_be_strings(client, admin, province):
    document = doc(
        "T1",
        assessTime="2026-10-09 00:10:00",
        pf="2",
        satisfaction="2",
        evalDetail="501, 502",
        writingEvaluation="等了很久\n窗口没人",
    )
    response = await _post(client, province, document)
    assert response.status_code == 201, response.text
    rating = await _rating(client, admin, response.json()["rating_id"])
    assert rating["rated_at"] == "2026-10-09T00:10:00+08:00"  # not 08:10 (read as UTC)
    assert (rating["channel"], rating["level"], rating["is_bad"]) == ("mobile", 2, True)
    assert rating["tags"] == ["attitude", "efficiency"]
    assert rating["case_no"] == "T1" and rating["service_item_code"] == "330100-SJ-001"


async def test_a_retried_batch_is_stored_once(app, client, province):
    batch = {"ratings": [doc(f"B{i}", satisfaction=1 + i % 5) for i in range(20)]}
    batch["ratings"].append(doc("B0", assessNumber=2, satisfaction=4))  # its follow-up (追评)
    first = await client.post(
        "/v1/provincial/ratings/batch?profile=zhejiang", json=batch, headers=province
    )
    assert first.status_code == 200, first.text
    assert (first.json()["created"], first.json()["rejected"]) == (21, 0)
    again = await client.post(
        "/v1/provincial/ratings/batch?profile=zhejiang", json=batch, headers=province
    )
    assert (again.json()["created"], again.json()["duplicate"]) == (0, 21)
    assert [r["rating_id"] for r in again.json()["results"]] == [
        r["rating_id"] for r in first.json()["results"]
    ]
    async with app.state.sessionmaker() as session:
        count = (await session.execute(text("SELECT count(*) FROM rating"))).scalar_one()
    assert count == 21
    single = await _post(client, province, doc("B3", satisfaction=4))
    assert single.status_code == 200 and single.json()["status"] == "duplicate"


async def test_the_same_case_again_with_other_values_is_refused(client, province):
    assert (await _post(client, province, doc("R1", pf=7))).status_code == 201
    response = await _post(client, province, doc("R1", pf=1, satisfaction=3))
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "projectNo"
    # the same values but active instead of default: the stored one was a default rating
    response = await _post(client, province, doc("R1", pf=1))
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "pf"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"pf": 8}, "pf"),
        ({"pf": "PC"}, "pf"),
        ({"satisfaction": 6}, "satisfaction"),
        ({"userProp": 7}, "userProp"),
        ({"evalDetail": "501,777"}, "evalDetail"),
        ({"assessTime": "2026/10/09 09:30"}, "assessTime"),
        # ten days after the app's clock (T0): in the future
        ({"assessTime": f"{T0 + timedelta(days=10):%Y-%m-%d %H:%M:%S}"}, "assessTime"),
        ({"assessNumber": 3}, "assessNumber"),
        ({"assessNumber": 2, "projectNo": "NO-FIRST"}, "assessNumber"),
        ({"proDepartCode": "NOPE"}, "proDepartCode"),
        ({"deptCode": "123"}, "deptCode"),
        ({"proStatus": 4}, "proStatus"),
        ({"hallCode": "x"}, "hallCode"),
        ({"pf": 4}, "pf"),  # a window's tablet: from its own device key only
    ],
)
async def test_bad_fields_are_named_as_the_province_names_them(
    app, client, province, fields, field
):
    response = await _post(client, province, doc("BAD", **fields))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    named = [e["field"].removeprefix("body.") for e in response.json()["errors"]]
    assert field in named, named
    async with app.state.sessionmaker() as session:
        assert (await session.execute(text("SELECT count(*) FROM rating"))).scalar_one() == 0


async def test_unknown_profile_and_wrong_role(app, client, admin, province):
    response = await _post(client, province, doc("P1"), profile="atlantis")
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "profile"
    from tests.fixtures.factories import auth, make_key

    hotline = auth(await make_key(app, "hotline"))
    assert (await _post(client, hotline, doc("P1"))).status_code == 403


def test_a_centre_profile_is_validated_at_start(tmp_path: Path):
    shipped = json.loads((profiles.SHIPPED / "generic.json").read_text())
    good = {**shipped, "name": "anhui", "channels": {**shipped["channels"], "7": "default"}}
    (tmp_path / "anhui.json").write_text(json.dumps(good))
    loaded = profiles.load(tmp_path)
    assert loaded["anhui"].channels[7] == "default" and "zhejiang" in loaded
    bad = {**shipped, "name": "bad", "reasons": {"501": "rude"}}
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    with pytest.raises(profiles.ProfileError, match="rude"):
        profiles.load(tmp_path)
    (tmp_path / "bad.json").write_text(json.dumps({**shipped, "name": "other"}))
    with pytest.raises(profiles.ProfileError, match="not the file's"):
        profiles.load(tmp_path)
