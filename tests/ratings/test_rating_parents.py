"""What a rating names stays: its client and its department are never deleted nor re-keyed
(migration 0019's guards, which stand in for the foreign keys), and its CHECKs still hold."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from tests.fixtures.factories import event, make_department


async def _sql(app, statement: str, **params):
    async with app.state.sessionmaker() as session:
        result = await session.execute(text(statement), params)
        await session.commit()
        return result


async def _refused(app, statement: str, **params) -> str:
    with pytest.raises(DBAPIError) as caught:
        await _sql(app, statement, **params)
    assert caught.value.orig.sqlstate == "23001"  # restrict_violation
    return str(caught.value.orig)


async def _rate(client, portal) -> dict:
    r = await client.post("/v1/ratings", json=event(), headers=portal)
    assert r.status_code == 201, r.text
    return r.json()


async def test_a_rated_department_and_client_cannot_be_deleted_nor_re_keyed(app, client, portal):
    rating = await _rate(client, portal)
    (client_id,) = (
        await _sql(app, "SELECT client_id FROM rating WHERE id = :id", id=rating["id"])
    ).one()

    message = await _refused(app, "DELETE FROM department WHERE code = 'SJ'")
    assert "deactivate it instead" in message
    await _refused(app, "UPDATE department SET code = 'SJ2' WHERE code = 'SJ'")
    message = await _refused(app, "DELETE FROM client WHERE id = :id", id=client_id)
    assert "revoke its keys instead" in message
    await _refused(app, "UPDATE client SET id = gen_random_uuid() WHERE id = :id", id=client_id)

    # Nothing changed, and everything else about the parents can still change.
    await _sql(app, "UPDATE department SET name = '改名后' WHERE code = 'SJ'")
    await _sql(app, "UPDATE client SET name = '改名后' WHERE id = :id", id=client_id)
    (orphans,) = (
        await _sql(
            app,
            "SELECT count(*) FROM rating r WHERE NOT EXISTS "
            "(SELECT 1 FROM department d WHERE d.code = r.department_code) OR NOT EXISTS "
            "(SELECT 1 FROM client c WHERE c.id = r.client_id)",
        )
    ).one()
    assert orphans == 0
    r = await client.get(f"/v1/ratings/{rating['id']}", headers=portal)
    assert r.status_code == 200 and r.json()["department_code"] == "SJ"


async def test_a_department_without_ratings_is_kept_too(app, client, admin):
    await make_department(client, admin, "EMPTY", "无评价部门")
    await _refused(app, "DELETE FROM department WHERE code = 'EMPTY'")
    r = await client.patch("/v1/departments/EMPTY", json={"active": False}, headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["active"] is False


@pytest.mark.parametrize(
    ("column", "value"),
    [("channel", "fax"), ("rater_type", "robot"), ("status", "deleted")],
)
async def test_the_checks_refuse_what_they_refused(app, client, portal, column, value):
    rating = await _rate(client, portal)
    with pytest.raises(DBAPIError) as caught:
        await _sql(
            app, f"UPDATE rating SET {column} = :value WHERE id = :id", value=value, id=rating["id"]
        )
    assert caught.value.orig.sqlstate == "23514"  # check_violation
    assert f"ck_rating_{column}" in str(caught.value.orig)
    for allowed in {"channel": ("mobile",), "rater_type": ("enterprise",), "status": ()}[column]:
        await _sql(
            app,
            f"UPDATE rating SET {column} = :value WHERE id = :id",
            value=allowed,
            id=rating["id"],
        )
