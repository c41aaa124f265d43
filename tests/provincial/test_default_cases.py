"""Default ratings (系统默认评价) never make a case rated (主动评价率), and are counted apart."""

from __future__ import annotations

from tests.provincial.conftest import doc


def _case(no: str) -> dict:
    return {"case_no": no, "department_code": "SJ", "accepted_at": "2026-10-08T09:00:00+08:00"}


async def _import(client, admin, *nos):
    body = {"cases": [_case(n) for n in nos]}
    r = await client.post("/v1/cases/import", json=body, headers=admin)
    assert r.status_code == 200, r.text


async def _rate(client, headers, no, pf, number=1):
    r = await client.post(
        "/v1/provincial/ratings?profile=zhejiang",
        json=doc(no, pf=pf, assessNumber=number),
        headers=headers,
    )
    assert r.status_code == 201, r.text
    return r.json()


async def test_a_default_rating_is_not_an_active_rating(client, admin, province):
    await _import(client, admin, "D1", "D2", "D3")
    assert (await _rate(client, province, "D1", 7))["is_default"] is True  # default only
    await _rate(client, province, "D2", 7)  # a default rating, then the applicant's 追评
    await _rate(client, province, "D2", 2, number=2)
    await _rate(client, province, "D3", 1)  # the applicant's own
    # Ratings before their case: counted (or not) when the case is imported.
    await _rate(client, province, "D4", 7)
    await _rate(client, province, "D5", 2)
    await _import(client, admin, "D4", "D5")

    rated = {}
    for no in ("D1", "D2", "D3", "D4", "D5"):
        r = await client.get(f"/v1/cases/{no}", headers=admin)
        rated[no] = r.json()["rated"]
    assert rated == {"D1": False, "D2": True, "D3": True, "D4": False, "D5": True}
    r = await client.get("/v1/stats/cases", params={"period": "2026Q4"}, headers=admin)
    assert r.status_code == 200, r.text
    total = r.json()["total"]
    assert (total["cases"], total["rated"], total["active_rating_rate"]) == (5, 3, 60.0)

    overview = (await client.get("/v1/stats/overview?period=2026Q4", headers=admin)).json()
    assert overview["default_ratings"] == 3  # D1, D2's first, D4: counted apart
    assert overview["ratings"]["counted"] == 3  # D2's 追评, D3, D5
    empty = (await client.get("/v1/stats/overview?period=2026Q3", headers=admin)).json()
    assert empty["default_ratings"] == 0


async def test_withdrawing_the_active_rating_leaves_a_default_rated_case_unrated(
    app, client, admin, province
):
    from sqlalchemy import text

    await _import(client, admin, "W1")
    await _rate(client, province, "W1", 7)
    active = await _rate(client, province, "W1", 2, number=2)
    assert (await client.get("/v1/cases/W1", headers=admin)).json()["rated"] is True
    async with app.state.sessionmaker() as session:  # the status trigger, as a withdrawal runs it
        await session.execute(
            text("UPDATE rating SET status = 'withdrawn' WHERE id = :id"),
            {"id": active["rating_id"]},
        )
        await session.commit()
    assert (await client.get("/v1/cases/W1", headers=admin)).json()["rated"] is False
    r = await client.get("/v1/stats/cases", params={"period": "2026Q4"}, headers=admin)
    assert r.json()["total"]["rated"] == 0


async def test_migration_0018_recounts_cases_the_old_trigger_counted(app, client, admin, province):
    """A case with only a default rating, counted rated as the 0011 trigger did, is uncounted by
    the migration's recount (its tallies too); the downgrade's recount counts it again."""
    import importlib.util

    from sqlalchemy import text

    from tests.fixtures.paths import ROOT

    path = next((ROOT / "migrations" / "versions").glob("*_0018_*.py"))
    spec = importlib.util.spec_from_file_location("m0018", path)
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    await _import(client, admin, "R1", "R2")
    await _rate(client, province, "R1", 7)
    await _rate(client, province, "R2", 1)

    async def run(sql: str) -> None:
        async with app.state.sessionmaker() as session:
            await session.execute(text(sql))
            await session.commit()

    async def rated() -> tuple[int, int]:
        r = await client.get("/v1/stats/cases", params={"period": "2026Q4"}, headers=admin)
        return r.json()["total"]["rated"], r.json()["rows"][0]["rated"]

    assert await rated() == (1, 1)
    await run(migration._RECOUNT.replace("__COUNTS__", ""))  # the old rule: R1 counted
    assert await rated() == (2, 2)
    assert (await client.get("/v1/cases/R1", headers=admin)).json()["rated"] is True
    await run(migration._RECOUNT.replace("__COUNTS__", "AND NOT r.is_default"))
    assert await rated() == (1, 1)
    assert (await client.get("/v1/cases/R1", headers=admin)).json()["rated"] is False
