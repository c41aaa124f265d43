"""Personal data: encrypted at rest with rotating keys, masked in responses, absent from the
database's plain text and from the logs, read in clear only by an audited admin call, erased
after the retention period."""

from __future__ import annotations

import base64
import hashlib
import logging
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from app import privacy
from app.privacy import DataKeyError, Keyring, PrivacySettings, load_keyring, retention
from tests.fixtures.factories import event

PHONE = "13812345678"
CITIZEN_PHONE = "13987654321"
LANDLINE = "0730-8123456"


def key(byte: int) -> str:
    return base64.b64encode(bytes([byte]) * 32).decode()


# --- the key ring and envelopes (no database) ---------------------------------------------------


def test_envelope_round_trip_names_its_key_and_binds_its_column():
    ring = Keyring.parse(f"k2:{key(2)},k1:{key(1)}")
    sealed = ring.encrypt(PHONE, "rating.rater_phone")
    assert sealed.startswith("hcp1:k2:") and PHONE not in sealed
    assert ring.decrypt(sealed, "rating.rater_phone") == PHONE
    # A fresh nonce each time: equal phones do not give equal ciphertexts.
    assert ring.encrypt(PHONE, "rating.rater_phone") != sealed
    with pytest.raises(DataKeyError):
        ring.decrypt(sealed, "complaint.citizen_phone")
    assert ring.encrypt(None, "rating.rater_phone") is None


def test_rotation_old_values_still_open_new_ones_use_the_first_key():
    old = Keyring.parse(f"k1:{key(1)}")
    sealed_old = old.encrypt(PHONE, "rating.rater_phone")
    rotated = Keyring.parse(f"k2:{key(2)}\nk1:{key(1)}")
    assert rotated.decrypt(sealed_old, "rating.rater_phone") == PHONE
    assert rotated.needs_rekey(sealed_old)
    assert rotated.encrypt(PHONE, "x").startswith("hcp1:k2:")
    # Lookups match rows hashed under either key.
    assert old.phone_hash(PHONE) in rotated.phone_hashes(PHONE)
    assert rotated.phone_hash(PHONE) != old.phone_hash(PHONE)
    # Without the old key, its values do not open (and say which key is missing).
    with pytest.raises(DataKeyError, match="k1"):
        Keyring.parse(f"k2:{key(2)}").decrypt(sealed_old, "rating.rater_phone")


def test_phone_hash_normalises_and_is_keyed():
    ring = Keyring.parse(f"k1:{key(1)}")
    assert ring.phone_hash("+86 138 1234 5678") == ring.phone_hash(PHONE)
    assert ring.phone_hash("0730-8123456") == ring.phone_hash("07308123456")
    assert Keyring.parse(f"k1:{key(9)}").phone_hash(PHONE) != ring.phone_hash(PHONE)


@pytest.mark.parametrize(
    "spec",
    [
        "",
        "k1",
        f"k1:{base64.b64encode(b'short').decode()}",
        f"k 1:{key(1)}",
        f"a:{key(1)},a:{key(2)}",
    ],
)
def test_malformed_keys_are_refused(spec):
    with pytest.raises(DataKeyError):
        Keyring.parse(spec)


def test_key_sources_environment_file_and_generated_development_key(tmp_path, caplog):
    from_env = load_keyring(PrivacySettings(data_keys=f"k7:{key(7)}", data_dir=tmp_path))
    assert from_env.key_ids == ["k7"]
    key_file = tmp_path / "keys"
    key_file.write_text(f"# rotated 2026-11\nk3:{key(3)}\nk2:{key(2)}\n")
    assert load_keyring(PrivacySettings(data_key_file=key_file)).key_ids == ["k3", "k2"]
    with caplog.at_level(logging.WARNING, logger="app.privacy"):
        dev = load_keyring(PrivacySettings(data_dir=tmp_path / "data"))
    assert "generated" in caplog.text
    assert (tmp_path / "data" / privacy.DEV_KEY_FILE).stat().st_mode & 0o077 == 0
    # The same key on the next start.
    again = load_keyring(PrivacySettings(data_dir=tmp_path / "data"))
    sealed = dev.encrypt(PHONE, "c")
    assert again.decrypt(sealed, "c") == PHONE


# --- through the API ----------------------------------------------------------------------------


def complaint(order_no="12345-2026-000001", **extra):
    return {
        "order_no": order_no,
        "department_code": "SJ",
        "window_no": "A01",
        "content": "窗口工作人员态度生硬",
        "citizen_name": "李四",
        "citizen_phone": CITIZEN_PHONE,
        "received_at": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
        **extra,
    }


async def _dump_database(engine) -> str:
    """Every row of every table as JSON text (what a pg_dump would show)."""
    async with engine.connect() as conn:
        tables = (
            await conn.execute(
                text("SELECT quote_ident(tablename) FROM pg_tables WHERE schemaname = 'public'")
            )
        ).scalars()
        parts = []
        for table in list(tables):
            rows = await conn.execute(text(f"SELECT row_to_json(t)::text FROM {table} t"))
            parts.extend(rows.scalars())
    return "\n".join(parts)


def _digits_forms(phone: str) -> list[str]:
    digits = phone.replace("-", "")
    return [phone, digits, digits[-8:]]


async def test_no_full_phone_number_in_the_database_logs_or_responses(
    app,
    client,
    keys,
    caplog,
):
    caplog.set_level(logging.DEBUG)
    responses = []
    r = await client.post(
        "/v1/ratings",
        json=event(level=1, rater={"name": "张三丰", "phone": PHONE}, comment="差"),
        headers=keys["portal"],
    )
    assert r.status_code == 201, r.text
    rating_id = r.json()["id"]
    responses.append(r)
    r = await client.post(
        "/v1/ratings/batch",
        json={"events": [event(rater={"phone": LANDLINE}), event(rater={"phone": "+86" + PHONE})]},
        headers=keys["portal"],
    )
    responses.append(r)
    # A retry answers with the stored (encrypted) row, masked.
    responses.append(
        await client.post(
            "/v1/ratings/batch",
            json={"events": [event(event_id="x1", rater={"phone": PHONE})] * 2},
            headers=keys["portal"],
        )
    )
    r = await client.post("/v1/complaints", json=complaint(), headers=keys["hotline"])
    assert r.status_code == 201, r.text
    responses.append(r)
    # An invalid phone: refused without repeating it.
    responses.append(
        await client.post(
            "/v1/ratings", json=event(rater={"phone": "23812345678"}), headers=keys["portal"]
        )
    )
    for path in (
        "/v1/ratings",
        f"/v1/ratings/{rating_id}",
        "/v1/complaints/12345-2026-000001",
        "/v1/tickets",
        "/v1/audit",
    ):
        r = await client.get(path, headers=keys["admin"])
        assert r.status_code == 200, (path, r.text)
        responses.append(r)
    r = await client.post("/v1/ratings/by-phone", json={"phone": PHONE}, headers=keys["admin"])
    assert r.status_code == 200 and len(r.json()["items"]) == 3, r.text
    responses.append(r)

    forbidden = [*_digits_forms(PHONE), *_digits_forms(LANDLINE), *_digits_forms(CITIZEN_PHONE)]
    forbidden += ["23812345678", "张三丰", "李四"]
    dump = await _dump_database(app.state.engine)
    assert "rating" in dump and "hcp1:" in dump
    for secret in forbidden:
        assert secret not in dump, secret
        assert secret not in caplog.text, secret
        for response in responses:
            assert secret not in response.text, (secret, response.request.url)
    assert "138****5678" in responses[0].text

    # The one exception: the audited unmasked read.
    r = await client.get(f"/v1/ratings/{rating_id}/personal-data", headers=keys["admin"])
    assert r.status_code == 200, r.text
    assert r.json()["phone"] == PHONE and r.json()["name"] == "张三丰"
    r = await client.get("/v1/complaints/12345-2026-000001/personal-data", headers=keys["admin"])
    assert r.status_code == 200 and r.json()["phone"] == CITIZEN_PHONE, r.text
    entries = (await client.get("/v1/audit", headers=keys["admin"])).json()["items"]
    reads = [e for e in entries if e["action"].endswith("personal_data.read")]
    assert [e["target"] for e in reads] == [
        "complaint:12345-2026-000001",
        f"rating:{rating_id}",
    ]
    assert all(e["actor"] == "admin:supervisor" for e in reads)
    lookups = [e for e in entries if e["action"] == "rating.lookup_by_phone"]
    assert lookups[0]["detail"] == {"phone": "138****5678", "found": 3}


async def test_only_an_admin_reads_personal_data_in_clear(app, client, keys):
    r = await client.post("/v1/ratings", json=event(rater={"phone": PHONE}), headers=keys["portal"])
    rating_id = r.json()["id"]
    for role in ("portal", "reader"):
        r = await client.get(f"/v1/ratings/{rating_id}/personal-data", headers=keys[role])
        assert r.status_code == 403, r.text
        r = await client.post("/v1/ratings/by-phone", json={"phone": PHONE}, headers=keys[role])
        assert r.status_code == 403, r.text
    r = await client.get("/v1/ratings/999999/personal-data", headers=keys["admin"])
    assert r.status_code == 404


async def test_retention_erases_rater_data_and_keeps_the_rating(app, client, keys):
    now = datetime.now(UTC)
    old = now - timedelta(days=10)
    r = await client.post(
        "/v1/ratings/batch",
        json={
            "events": [
                event(event_id="old", level=1, rater={"name": "王五", "phone": PHONE}),
                event(event_id="new", rater={"name": "赵六", "phone": PHONE}),
            ]
        },
        headers=keys["portal"],
    )
    assert r.json()["created"] == 2, r.text
    await client.post("/v1/complaints", json=complaint(), headers=keys["hotline"])
    async with app.state.engine.begin() as conn:
        await conn.execute(
            text("UPDATE rating SET rated_at = :old WHERE event_id = 'old'"), {"old": old}
        )
    # Injected clock: with 5 days' retention the old rating (and the complaint, 1 h old, not) goes.
    erased = await retention.erase_all_expired(
        app.state.sessionmaker, now=now, retention_days=5, batch=1
    )
    assert erased == {"ratings": 1, "complaints": 0}
    async with app.state.engine.connect() as conn:
        rows = {
            r.event_id: r
            for r in await conn.execute(
                text(
                    "SELECT event_id, rater_name, rater_phone, rater_phone_hash, rater_erased_at,"
                    " rater_type, level FROM rating"
                )
            )
        }
    assert rows["old"].rater_name is None and rows["old"].rater_phone is None
    assert rows["old"].rater_phone_hash is None and rows["old"].rater_erased_at == now
    assert rows["old"].rater_type == "individual" and rows["old"].level == 1
    assert rows["new"].rater_phone is not None
    # The rating is still listed, still real-name, with nothing to show.
    listed = (await client.get("/v1/ratings", headers=keys["admin"])).json()["items"]
    old_view = next(i for i in listed if i["event_id"] == "old")
    assert old_view["rater"] == {
        "type": "individual",
        "name": None,
        "phone": None,
        "real_name": True,
    }
    # Run again: nothing more; the run was audited as the system.
    assert await retention.erase_all_expired(app.state.sessionmaker, now=now, retention_days=5) == {
        "ratings": 0,
        "complaints": 0,
    }
    audit = (
        await client.get("/v1/audit?action=personal_data.erase_expired", headers=keys["admin"])
    ).json()
    assert len(audit["items"]) == 1 and audit["items"][0]["actor"] == "system:retention"
    assert audit["items"][0]["detail"]["ratings"] == 1
    # The complaint goes once it is older than the period; the admin trigger does it.
    async with app.state.engine.begin() as conn:
        await conn.execute(
            text("UPDATE complaint SET received_at = :old"), {"old": old - timedelta(days=2000)}
        )
    r = await client.post("/v1/privacy/retention", headers=keys["admin"])
    assert r.status_code == 200 and r.json()["complaints"] == 1, r.text
    r = await client.get("/v1/complaints/12345-2026-000001/personal-data", headers=keys["admin"])
    assert r.json()["phone"] is None and r.json()["erased_at"] is not None


async def test_migration_encrypts_existing_plaintext_and_downgrade_restores_it(app, pg_url):
    """0004 -> 0005 on a copy of the schema with plaintext rows, and back."""
    import asyncio

    from sqlalchemy.ext.asyncio import create_async_engine

    from app import migrate

    base, _, query = pg_url.partition("?")
    admin_url = base.rsplit("/", 1)[0] + "/postgres" + (("?" + query) if query else "")
    url = base.rsplit("/", 1)[0] + "/haochaping_migration" + (("?" + query) if query else "")
    engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(text('DROP DATABASE IF EXISTS "haochaping_migration" WITH (FORCE)'))
        await conn.execute(text('CREATE DATABASE "haochaping_migration"'))
    await engine.dispose()
    await asyncio.to_thread(migrate.upgrade, url, "0004")
    db = create_async_engine(url)
    try:
        async with db.begin() as conn:
            await conn.execute(text("INSERT INTO department (code, name) VALUES ('SJ', '市场')"))
            client_id = (
                await conn.execute(
                    text("INSERT INTO client (name, role) VALUES ('p', 'portal') RETURNING id")
                )
            ).scalar_one()
            await conn.execute(
                text(
                    "INSERT INTO rating (client_id, event_id, payload_hash, channel, "
                    "department_code, level, rater_type, rater_name, rater_phone, rated_at) "
                    "VALUES (:c, 'e1', '\\x00', 'pc', 'SJ', 5, 'individual', '张三', :p, now()),"
                    " (:c, 'e2', '\\x00', 'pc', 'SJ', 5, 'anonymous', NULL, NULL, now())"
                ),
                {"c": client_id, "p": PHONE},
            )
        await asyncio.to_thread(migrate.upgrade, url, "0005")
        async with db.connect() as conn:
            row = (
                await conn.execute(
                    text(
                        "SELECT rater_name, rater_phone, rater_phone_hash FROM rating "
                        "WHERE event_id = 'e1'"
                    )
                )
            ).one()
        ring = privacy.keyring()
        assert ring.decrypt(row.rater_phone, "rating.rater_phone") == PHONE
        assert ring.decrypt(row.rater_name, "rating.rater_name") == "张三"
        assert row.rater_phone_hash == ring.phone_hash(PHONE)
        await asyncio.to_thread(migrate.downgrade, url, "0004")
        async with db.connect() as conn:
            rows = (
                await conn.execute(
                    text("SELECT rater_name, rater_phone FROM rating ORDER BY event_id")
                )
            ).all()
            tables = set(
                (
                    await conn.execute(
                        text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
                    )
                ).scalars()
            )
        assert [tuple(r) for r in rows] == [("张三", PHONE), (None, None)]
        assert "audit_log" not in tables
        await asyncio.to_thread(migrate.upgrade, url, "heads")
    finally:
        await db.dispose()
        engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
        async with engine.connect() as conn:
            await conn.execute(text('DROP DATABASE IF EXISTS "haochaping_migration" WITH (FORCE)'))
        await engine.dispose()


# --- the digests that tell a retry from a reused id ---------------------------------------------


def test_payload_digest_is_keyed_and_matches_under_older_keys_and_the_legacy_form():
    old = Keyring.parse(f"k1:{key(1)}")
    rotated = Keyring.parse(f"k2:{key(2)}\nk1:{key(1)}")
    canonical = b'{"event_id":"e1","rater":{"phone":"13812345678"}}'
    digest = old.payload_digest(canonical)
    assert digest != hashlib.sha256(canonical).digest()  # a guess cannot be checked offline
    assert Keyring.parse(f"k1:{key(9)}").payload_digest(canonical) != digest
    assert rotated.payload_matches(digest, canonical)
    assert rotated.payload_matches(hashlib.sha256(canonical).digest(), canonical)
    assert not rotated.payload_matches(digest, canonical.replace(b"5678", b"5679"))
    assert not Keyring.parse(f"k2:{key(2)}").payload_matches(digest, canonical)


async def test_retries_are_recognised_across_a_key_rotation(app, client, keys):
    original = privacy.keyring()
    body = event(window_no="A01", rater={"type": "individual", "name": "张三", "phone": PHONE})
    first = await client.post("/v1/ratings", json=body, headers=keys["portal"])
    assert first.status_code == 201, first.text
    filing = complaint()
    filed = await client.post("/v1/complaints", json=filing, headers=keys["hotline"])
    assert filed.status_code == 201, filed.text
    async with app.state.engine.connect() as conn:
        stored = (
            await conn.execute(
                text("SELECT payload_hash FROM rating WHERE event_id = :e"),
                {"e": body["event_id"]},
            )
        ).scalar_one()
    from app.ratings.ingest import canonical_payload
    from app.ratings.schemas import RatingIn

    canonical = canonical_payload(RatingIn.model_validate(body))
    assert bytes(stored) == original.payload_digest(canonical)
    assert bytes(stored) != hashlib.sha256(canonical).digest()

    newer = Keyring.parse(f"k9:{key(9)}")
    privacy.install(Keyring([*newer.keys, *original.keys]))
    try:
        again = await client.post("/v1/ratings", json=body, headers=keys["portal"])
        assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
        changed = await client.post(
            "/v1/ratings", json={**body, "level": 4}, headers=keys["portal"]
        )
        assert changed.status_code == 422 and changed.json()["type"].endswith("event-id-reused")
        refiled = await client.post("/v1/complaints", json=filing, headers=keys["hotline"])
        assert refiled.status_code == 200, refiled.text
        altered = await client.post(
            "/v1/complaints", json={**filing, "content": "另一件事"}, headers=keys["hotline"]
        )
        assert altered.status_code == 422, altered.text
    finally:
        privacy.install(original)


async def test_a_row_with_a_legacy_unkeyed_digest_still_replays(app, client, keys):
    body = event(rater={"type": "individual", "phone": PHONE})
    assert (await client.post("/v1/ratings", json=body, headers=keys["portal"])).status_code == 201
    from app.ratings.ingest import canonical_payload
    from app.ratings.schemas import RatingIn

    legacy = hashlib.sha256(canonical_payload(RatingIn.model_validate(body))).digest()
    async with app.state.engine.begin() as conn:
        await conn.execute(
            text("UPDATE rating SET payload_hash = :h WHERE event_id = :e"),
            {"h": legacy, "e": body["event_id"]},
        )
    again = await client.post("/v1/ratings", json=body, headers=keys["portal"])
    assert again.status_code == 200, again.text
