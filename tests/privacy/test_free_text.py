"""Personal data in free text (issue 10, point 5): a comment, an order's summary and a 12345
complaint's content are sealed at rest, masked in every response (phones, 身份证号, the
rater's or caller's own name), read whole only by the audited admin read, and reduced to their
masked form by the retention job."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from app import privacy
from app.privacy import retention
from tests.fixtures.factories import event

FINDING = "请回电13955554444 我叫孙七"
ID_NUMBER = "43010219900307123X"
SECRETS = ("13955554444", "139 5555 4444", "孙七", ID_NUMBER, "19900307")


def assert_masked(body) -> None:
    """No phone, ID number or name of the finding anywhere in a response body."""
    dumped = json.dumps(body, ensure_ascii=False)
    for secret in SECRETS:
        assert secret not in dumped, (secret, dumped)


async def _stored(app, sql: str, **params):
    async with app.state.engine.connect() as conn:
        return (await conn.execute(text(sql), params)).one()


async def test_the_finding_a_comment_with_a_phone_and_a_name(app, client, keys):
    body = event(
        level=1,
        window_no="A01",
        comment=FINDING + f"，身份证{ID_NUMBER}",
        rater={"type": "individual", "name": "孙七", "phone": "13812345678"},
    )
    r = await client.post("/v1/ratings", json=body, headers=keys["portal"])
    assert r.status_code == 201, r.text
    rating = r.json()
    assert rating["comment"] == "请回电139****4444 我叫孙*，身份证430***********123X"
    assert rating["rater"]["name"] == "孙*" and rating["rater"]["phone"] == "138****5678"
    assert_masked(rating)
    rating_id = rating["id"]

    # Stored sealed: neither the comment nor the summary holds the text in clear.
    row = await _stored(
        app,
        "SELECT r.comment, r.comment_hash, w.summary, w.id AS order_id FROM rating r "
        "JOIN work_order w ON w.rating_id = r.id WHERE r.id = :id",
        id=rating_id,
    )
    assert privacy.is_envelope(row.comment) and privacy.is_envelope(row.summary)
    assert_masked([row.comment, row.summary])
    assert row.comment_hash == privacy.keyring().text_digest(body["comment"])

    # The reader and the department: the rating, the list, the work order and its list.
    for who in ("reader", "department", "admin"):
        one = await client.get(f"/v1/ratings/{rating_id}", headers=keys[who])
        assert one.status_code == 200 and one.json()["comment"] == rating["comment"], one.text
        listed = await client.get("/v1/ratings?department_code=SJ", headers=keys[who])
        assert listed.status_code == 200 and listed.json()["items"], listed.text
        assert_masked([one.json(), listed.json()])
    for who in ("department", "admin"):
        detail = await client.get(f"/v1/tickets/{row.order_id}", headers=keys[who])
        assert detail.status_code == 200, detail.text
        assert detail.json()["summary"] == rating["comment"]
        page = await client.get("/v1/tickets", headers=keys[who])
        assert page.status_code == 200 and page.json()["items"], page.text
        assert_masked([detail.json(), page.json()])

    # The audited unmasked read shows it whole, and says so in the audit log.
    whole = await client.get(f"/v1/ratings/{rating_id}/personal-data", headers=keys["admin"])
    assert whole.status_code == 200, whole.text
    assert whole.json()["comment"] == body["comment"]
    assert whole.json()["name"] == "孙七"
    entries = (
        await client.get(
            f"/v1/audit?action=rating.personal_data.read&target=rating:{rating_id}",
            headers=keys["admin"],
        )
    ).json()["items"]
    assert len(entries) == 1
    for who in ("reader", "department"):
        refused = await client.get(f"/v1/ratings/{rating_id}/personal-data", headers=keys[who])
        assert refused.status_code == 403


async def test_an_anonymous_comment_through_the_direct_path(app, client, keys):
    # A 好评 with a comment goes through the single-event direct path (app/ratings/fastpath.py).
    body = event(level=5, comment="很好 有事打0731-12345678或139-5555-4444")
    r = await client.post("/v1/ratings", json=body, headers=keys["portal"])
    assert r.status_code == 201, r.text
    assert r.json()["comment"] == "很好 有事打073*****5678或139****4444"
    row = await _stored(app, "SELECT comment FROM rating WHERE id = :id", id=r.json()["id"])
    assert privacy.is_envelope(row.comment) and "5555" not in row.comment
    # A retry is recognised (the digest is of the event as sent) and answered masked.
    again = await client.post("/v1/ratings", json=body, headers=keys["portal"])
    assert again.status_code == 200 and again.json()["comment"] == r.json()["comment"]


async def test_a_batch_masks_and_seals_and_finds_identical_comments(app, client, keys):
    events = [
        event(level=4, window_no="A01", comment=f"第{i}次 电话13955554444") for i in range(3)
    ] + [event(level=4, window_no="A01", comment="一样的评价13955554444") for _ in range(3)]
    r = await client.post("/v1/ratings/batch", json={"events": events}, headers=keys["portal"])
    assert r.status_code in (200, 201, 207), r.text
    assert_masked(r.json())
    listed = (
        await client.get("/v1/ratings?department_code=SJ&limit=10", headers=keys["reader"])
    ).json()["items"]
    by_comment = {}
    for item in listed:
        by_comment.setdefault(item["comment"], []).append(item)
    # identical_burst compares sealed comments by their keyed digests: the 3rd identical one.
    same = by_comment["一样的评价139****4444"]
    assert sum("identical_burst" in (i["flags"] or []) for i in same) == 1
    assert not any("identical_burst" in (i["flags"] or []) for i in listed if i not in same)


async def test_a_complaints_content_the_same_way(app, client, keys):
    filing = {
        "order_no": "12345-2026-000777",
        "department_code": "SJ",
        "window_no": "A01",
        "content": f"来电人孙七反映窗口态度差，请回电139 5555 4444，身份证{ID_NUMBER}",
        "citizen_name": "孙七",
        "citizen_phone": "13955554444",
        "received_at": datetime.now(UTC).isoformat(),
    }
    r = await client.post("/v1/complaints", json=filing, headers=keys["hotline"])
    assert r.status_code == 201, r.text
    masked = "来电人孙*反映窗口态度差，请回电139****4444，身份证430***********123X"
    assert r.json()["complaint"]["content"] == masked
    assert r.json()["ticket"]["summary"] == masked
    assert_masked(r.json())
    order_id = r.json()["ticket"]["id"]
    row = await _stored(
        app,
        "SELECT c.content, w.summary FROM complaint c JOIN work_order w ON w.complaint_id = c.id "
        "WHERE c.order_no = :no",
        no=filing["order_no"],
    )
    assert privacy.is_envelope(row.content) and privacy.is_envelope(row.summary)
    for who in ("department", "hotline", "admin"):
        seen = await client.get(f"/v1/complaints/{filing['order_no']}", headers=keys[who])
        assert seen.status_code == 200, seen.text
        assert seen.json()["complaint"]["content"] == masked
        detail = await client.get(f"/v1/tickets/{order_id}", headers=keys[who])
        assert detail.status_code == 200 and detail.json()["summary"] == masked
        assert_masked([seen.json(), detail.json()])
    # A retry of the same filing is recognised (the digest is of the complaint as sent).
    again = await client.post("/v1/complaints", json=filing, headers=keys["hotline"])
    assert again.status_code == 200, again.text
    assert_masked(again.json())

    whole = await client.get(
        f"/v1/complaints/{filing['order_no']}/personal-data", headers=keys["admin"]
    )
    assert whole.status_code == 200 and whole.json()["content"] == filing["content"]
    entries = (
        await client.get("/v1/audit?action=complaint.personal_data.read", headers=keys["admin"])
    ).json()["items"]
    assert [e["target"] for e in entries] == [f"complaint:{filing['order_no']}"]


async def test_retention_keeps_only_the_masked_text(app, client, keys):
    now = datetime.now(UTC)
    events = [
        event(
            event_id="named",
            level=1,
            comment=FINDING,
            rater={"type": "individual", "name": "孙七", "phone": "13812345678"},
        ),
        event(event_id="anonymous", level=4, comment="打13955554444"),
        event(event_id="recent", level=4, comment="打13955554444"),
    ]
    r = await client.post("/v1/ratings/batch", json={"events": events}, headers=keys["portal"])
    assert r.json()["created"] == 3, r.text
    filing = {
        "order_no": "12345-2026-000888",
        "department_code": "SJ",
        "content": "匿名来电，回电13955554444",
        "received_at": now.isoformat(),
    }
    assert (await client.post("/v1/complaints", json=filing, headers=keys["hotline"])).is_success
    async with app.state.engine.begin() as conn:
        await conn.execute(
            text("UPDATE rating SET rated_at = :old WHERE event_id <> 'recent'"),
            {"old": now - timedelta(days=10)},
        )
        await conn.execute(
            text("UPDATE complaint SET received_at = :old"), {"old": now - timedelta(days=10)}
        )
    erased = await retention.erase_all_expired(app.state.sessionmaker, now=now, retention_days=5)
    assert erased == {"ratings": 2, "complaints": 1}
    # Again: nothing left to do.
    assert await retention.erase_all_expired(app.state.sessionmaker, now=now, retention_days=5) == {
        "ratings": 0,
        "complaints": 0,
    }

    ring = privacy.keyring()
    async with app.state.engine.connect() as conn:
        rows = {
            row.event_id: row
            for row in await conn.execute(
                text(
                    "SELECT id, event_id, comment, comment_hash, rater_name, rater_erased_at "
                    "FROM rating"
                )
            )
        }
        content = (await conn.execute(text("SELECT content FROM complaint"))).scalar_one()
    assert ring.open_text(rows["named"].comment, "rating.comment") == "请回电139****4444 我叫孙*"
    assert rows["named"].rater_name is None and rows["named"].rater_erased_at == now
    assert ring.open_text(rows["anonymous"].comment, "rating.comment") == "打139****4444"
    assert rows["anonymous"].comment_hash is None and rows["anonymous"].rater_erased_at is None
    assert ring.open_text(rows["recent"].comment, "rating.comment") == "打13955554444"
    assert ring.open_text(content, "complaint.content") == "匿名来电，回电139****4444"
    # The audited read now has the masked form only.
    whole = await client.get(f"/v1/ratings/{rows['named'].id}/personal-data", headers=keys["admin"])
    assert whole.json()["comment"] == "请回电139****4444 我叫孙*"
    assert whole.json()["name"] is None and whole.json()["erased_at"] is not None


async def test_clear_text_from_before_the_migration_is_still_masked(app, client, keys):
    r = await client.post("/v1/ratings", json=event(level=1, comment="好"), headers=keys["portal"])
    rating_id = r.json()["id"]
    async with app.state.engine.begin() as conn:
        await conn.execute(
            text("UPDATE rating SET comment = :c WHERE id = :id"), {"c": FINDING, "id": rating_id}
        )
        await conn.execute(
            text("UPDATE work_order SET summary = :c WHERE rating_id = :id"),
            {"c": FINDING, "id": rating_id},
        )
    one = await client.get(f"/v1/ratings/{rating_id}", headers=keys["reader"])
    assert one.json()["comment"] == "请回电139****4444 我叫孙七"  # anonymous: no name to mask
    page = (await client.get("/v1/tickets", headers=keys["department"])).json()["items"]
    assert [o["summary"] for o in page] == ["请回电139****4444 我叫孙七"]


async def test_migration_0009_seals_free_text_and_the_downgrade_opens_it(app, pg_url):
    """0008 -> 0009 on a database of its own with clear comments, contents and summaries."""
    import asyncio

    from sqlalchemy.ext.asyncio import create_async_engine

    from app import migrate

    base, _, query = pg_url.partition("?")
    suffix = ("?" + query) if query else ""
    admin_url = base.rsplit("/", 1)[0] + "/postgres" + suffix
    url = base.rsplit("/", 1)[0] + "/haochaping_migration_0009" + suffix
    engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(text('DROP DATABASE IF EXISTS "haochaping_migration_0009" WITH (FORCE)'))
        await conn.execute(text('CREATE DATABASE "haochaping_migration_0009"'))
    await engine.dispose()
    await asyncio.to_thread(migrate.upgrade, url, "0008")
    ring = privacy.keyring()
    db = create_async_engine(url)
    try:
        async with db.begin() as conn:
            await conn.execute(text("INSERT INTO department (code, name) VALUES ('SJ', '市场')"))
            client_id = (
                await conn.execute(
                    text("INSERT INTO client (name, role) VALUES ('p', 'portal') RETURNING id")
                )
            ).scalar_one()
            rating_id = (
                await conn.execute(
                    text(
                        "INSERT INTO rating (client_id, event_id, payload_hash, channel, "
                        "department_code, level, rater_type, rater_name, comment, rated_at) "
                        "VALUES (:c, 'e1', '\\x00', 'pc', 'SJ', 1, 'individual', :n, :t, now()) "
                        "RETURNING id"
                    ),
                    {"c": client_id, "n": ring.encrypt("孙七", "rating.rater_name"), "t": FINDING},
                )
            ).scalar_one()
            complaint_id = (
                await conn.execute(
                    text(
                        "INSERT INTO complaint (order_no, client_id, payload_hash, "
                        "department_code, content, received_at) "
                        "VALUES ('n1', :c, '\\x00', 'SJ', :t, now()) RETURNING id"
                    ),
                    {"c": client_id, "t": "回电13955554444"},
                )
            ).scalar_one()
            for source, link, summary in (
                ("rating", rating_id, FINDING),
                ("complaint", complaint_id, "回电13955554444"),
            ):
                await conn.execute(
                    text(
                        f"INSERT INTO work_order (source, {source}_id, department_code, "
                        "summary, real_name, opened_at, deadline_basis_at, policy, deadlines, "
                        "resolve_due_at) VALUES (:s, :l, 'SJ', :t, true, now(), now(), "
                        "'{}', '{}', now())"
                    ),
                    {"s": source, "l": link, "t": summary},
                )
        await asyncio.to_thread(migrate.upgrade, url, "0009")
        async with db.connect() as conn:
            rating = (await conn.execute(text("SELECT comment, comment_hash FROM rating"))).one()
            content = (await conn.execute(text("SELECT content FROM complaint"))).scalar_one()
            summaries = (
                await conn.execute(text("SELECT summary FROM work_order ORDER BY source DESC"))
            ).scalars()
            summaries = [ring.open_text(s, "work_order.summary") for s in summaries]
        assert ring.open_text(rating.comment, "rating.comment") == FINDING
        assert privacy.is_envelope(rating.comment) and privacy.is_envelope(content)
        assert rating.comment_hash == ring.text_digest(FINDING)
        assert ring.open_text(content, "complaint.content") == "回电13955554444"
        assert summaries == ["请回电139****4444 我叫孙*", "回电139****4444"]

        await asyncio.to_thread(migrate.downgrade, url, "0008")
        async with db.connect() as conn:
            assert (await conn.execute(text("SELECT comment FROM rating"))).scalar_one() == FINDING
            assert (
                await conn.execute(text("SELECT content FROM complaint"))
            ).scalar_one() == "回电13955554444"
            assert list(
                (
                    await conn.execute(text("SELECT summary FROM work_order ORDER BY source DESC"))
                ).scalars()
            ) == [FINDING, "回电13955554444"]
        await asyncio.to_thread(migrate.upgrade, url, "heads")
    finally:
        await db.dispose()
        engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
        async with engine.connect() as conn:
            await conn.execute(
                text('DROP DATABASE IF EXISTS "haochaping_migration_0009" WITH (FORCE)')
            )
        await engine.dispose()
