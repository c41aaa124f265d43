"""Seed 000 (Yueyang, 2023Q1): 594 samples by phone callback and on-site interview, 94 invalid,
500 valid (223 enterprises, 277 individuals), 51 不满意 → 89.80%; enterprises 91.03%,
individuals 88.81%. Recorded through the API and read back exactly."""

from __future__ import annotations

from datetime import datetime, timedelta

from app.surveys.schemas import SampleTable
from tests.cases.conftest import raw
from tests.fixtures.stats import contract
from tests.surveys.conftest import CODES, create, items

REASONS = ["unreachable", "unreachable", "refused", "wrong_number", "not_applicant"]


def rated(k: int, at: datetime) -> dict:
    """The k-th valid sample (0..499): enterprises first (20 of 223 不满意), then individuals
    (31 of 277 不满意)."""
    enterprise = k < 223
    bad = k < 20 if enterprise else k - 223 < 31
    return {
        "outcome": "rated",
        "level": (2 if k % 2 else 1) if bad else 5 - k % 3,
        "rater": {"type": "enterprise" if enterprise else "individual"},
        "attempted_at": (at + timedelta(minutes=k)).isoformat(),
        "surveyor": "测评专班",
    }


async def test_seed_000_samples_read_back(app, client, clock, admin, portal, yueyang):
    clock.set(datetime.fromisoformat("2023-04-26T18:00:00+08:00"))
    at = datetime.fromisoformat("2023-04-21T09:00:00+08:00")
    phone = await create(client, admin, frame="cases", size=394, seed="yueyang-2023q1")
    assert phone["drawn"] == 394 and sum(phone["strata"].values()) == 394
    listed = await items(client, portal, phone["id"], state="pending")
    attempts = []
    for i, item in enumerate(listed):
        if i < 94:  # 电话无人接听或本人拒绝回访等: 无效样本
            attempts.append(
                {
                    "sample_no": item["sample_no"],
                    "outcome": "invalid",
                    "reason": REASONS[i % 5],
                    "attempted_at": (at + timedelta(minutes=i)).isoformat(),
                }
            )
        else:
            attempts.append({"sample_no": item["sample_no"], **rated(i - 94, at)})
    r = await client.post(
        f"/v1/surveys/{phone['id']}/attempts", json={"attempts": attempts}, headers=portal
    )
    assert r.json() == {"recorded": 394, "duplicate": 0, "rated": 300, "invalid": 94}, r.text
    onsite = await create(client, admin, frame="none", channel="onsite_survey")
    interviews = [
        {"sample_no": f"XC{k:03d}", "department_code": CODES[k % 35], **rated(300 + k, at)}
        for k in range(200)
    ]
    r = await client.post(
        f"/v1/surveys/{onsite['id']}/attempts", json={"attempts": interviews}, headers=portal
    )
    assert r.json()["rated"] == 200, r.text

    body = contract(
        SampleTable,
        await client.get("/v1/stats/samples", params={"period": "2023Q1"}, headers=admin),
    )
    total = body["total"]
    assert (total["samples"], total["invalid"], total["valid"]) == (594, 94, 500)
    assert (total["counted"], total["bad"], total["good_rate"]) == (500, 51, 89.80)
    assert total["enterprise"] == {"counted": 223, "good": 203, "good_rate": 91.03}
    assert total["individual"] == {"counted": 277, "good": 246, "good_rate": 88.81}
    assert total["invalid_by_reason"] == {
        "unreachable": 38,
        "refused": 19,
        "wrong_number": 19,
        "not_applicant": 18,
        "other": 0,
    }
    by_channel = {row["channel"]: row for row in body["by_channel"]}
    assert by_channel["phone_callback"]["samples"] == 394
    assert by_channel["phone_callback"]["invalid"] == 94
    assert by_channel["onsite_survey"]["valid"] == 200
    # Each department's counts equal a raw count of the samples and their ratings.
    expected = await raw(
        app,
        "SELECT i.department_code, count(*), count(*) FILTER (WHERE i.state = 'invalid'), "
        "count(r.id) FILTER (WHERE r.level <= 2) FROM survey_item i "
        "LEFT JOIN rating r ON r.id = i.rating_id GROUP BY 1 ORDER BY 1",
    )
    assert [
        (d["department_code"], d["samples"], d["invalid"], d["bad"]) for d in body["by_department"]
    ] == [tuple(e) for e in expected]
    assert len(body["by_department"]) == 35
    year = await client.get("/v1/stats/samples", params={"period": "2023"}, headers=admin)
    assert year.json()["total"] == total
    empty = await client.get("/v1/stats/samples", params={"period": "2023Q2"}, headers=admin)
    assert empty.json()["total"]["samples"] == 0 and empty.json()["total"]["good_rate"] is None
    # The callback ratings are ratings of their channel, and never make a case actively rated.
    channels = await raw(app, "SELECT channel, count(*) FROM rating GROUP BY 1 ORDER BY 1")
    assert [tuple(c) for c in channels] == [("onsite_survey", 200), ("phone_callback", 300)]
    assert await raw(app, "SELECT 1 FROM service_case WHERE rating_count > 0") == []
