"""The INSERT reads each of the bare_burst and source_share rules in one scan
(flag_sql.FLAG_SQL_MANY: batches, and single events outside a flood) or in two (flag_sql.FLAG_SQL:
a flood's single events where the flood stopped): both forms must flag alike. A flood's single
event is first tried in the continued form (flag_sql.GOES_ON), which stores it with the same
flags or not at all.

On real PostgreSQL: random stored ratings around the events (their department and another,
three clients, bare or not, levels 4 and 5, whole seconds so that ties are common, some
already flagged so that bursts and shares go on), then random requests of one event or a
batch; each is inserted once with each form of the rules, each in a transaction rolled back,
and the flags compared event by event."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from app.auth.service import Principal
from app.config import IntegritySettings
from app.db import positional
from app.ratings import ingest, insert
from tests.fixtures.factories import make_department

T0 = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)
# Small thresholds, so that random data crosses them often.
RULES = IntegritySettings(
    bare_burst_count=4, bare_burst_seconds=2, share_sample=6, share_percent=60, share_seconds=60
)


@pytest.fixture(autouse=True)
def _after_t0(clock):
    clock.set(T0 + timedelta(days=1))


def _values(rng: random.Random, i: int, department: str) -> dict:
    bare = rng.random() < 0.7
    return {
        "event_id": f"b-{i}-{uuid.uuid4().hex[:6]}",
        "channel": rng.choice(("mobile", "mobile", "pc")),
        "department_code": department,
        "level": rng.choice((4, 5, 5)),
        "comment": None if bare else "挺好",
        # whole seconds: ties with stored ratings are common
        "rated_at": (T0 + timedelta(seconds=rng.randint(-40, 40))).isoformat(),
    }


async def _clients(app, count: int) -> list[uuid.UUID]:
    async with app.state.sessionmaker() as session:
        ids = [
            (
                await session.execute(
                    text("INSERT INTO client (name, role) VALUES (:n, 'portal') RETURNING id"),
                    {"n": f"来源{i}"},
                )
            ).scalar_one()
            for i in range(count)
        ]
        await session.commit()
    return ids


async def _store(app, rng: random.Random, clients: list[uuid.UUID], count: int) -> None:
    """Stored ratings around T0; some already carry the flags (a burst or share going on)."""
    rows = []
    for i in range(count):
        values = _values(rng, i, rng.choice(("SJ", "SJ", "GA")))
        flags = [f for f in ("bare_burst", "source_share") if rng.random() < 0.3] or None
        rows.append(
            {
                "client_id": rng.choice(clients),
                "event_id": f"stored-{i}",
                "channel": values["channel"],
                "department_code": values["department_code"],
                "level": values["level"],
                "comment": values["comment"],
                "rated_at": datetime.fromisoformat(values["rated_at"]),
                "flags": flags,
            }
        )
    async with app.state.sessionmaker() as session:
        await session.execute(
            text(
                "INSERT INTO rating (client_id, event_id, payload_hash, channel, department_code,"
                " level, comment, rater_type, rated_at, flags)"
                " VALUES (:client_id, :event_id, '\\x00', :channel, :department_code, :level,"
                " :comment, 'anonymous', :rated_at, :flags)"
            ),
            rows,
        )
        await session.commit()


async def _flags_of(app, sql: str, names: tuple[str, ...], params: dict) -> dict[str, list]:
    """The flags the INSERT gives each event, in a transaction rolled back."""
    async with app.state.engine.connect() as conn:
        raw = (await conn.get_raw_connection()).driver_connection
        transaction = raw.transaction()
        await transaction.start()
        try:
            rows = await raw.fetch(sql, *[params[name] for name in names])
        finally:
            await transaction.rollback()
    return {row["event_id"]: sorted(row["flags"] or []) for row in rows}


async def test_one_scan_a_rule_flags_as_two_do(app, client, admin):
    await make_department(client, admin, "SJ")
    await make_department(client, admin, "GA", "公安局")
    rng = random.Random(20261120)
    clients = await _clients(app, 3)
    await _store(app, rng, clients, 400)
    settings = app.state.settings
    now = T0 + timedelta(days=1)

    flagged = compared = 0
    singles = 0
    for round_no in range(40):
        poster = rng.choice(clients)
        principal = Principal(uuid.uuid4(), poster, "来源", "portal")
        items = []
        for i in range(rng.choice((1, 1, rng.randint(2, 12)))):
            outcome, item = ingest.judge(
                i, _values(rng, i, rng.choice(("SJ", "GA"))), principal, settings=settings, now=now
            )
            assert item is not None, outcome.errors
            items.append(item)
        params = insert.insert_params(principal, items, RULES)
        shape = insert.shape(principal, [i.values for i in items], RULES)
        events = insert.ONE_EVENT if len(items) == 1 else insert._MANY
        merged = positional(insert.insert_sql(shape._replace(one_scan=True), events))
        split = positional(insert.insert_sql(shape._replace(one_scan=False), events))
        assert merged[0] != split[0]
        by_merged = await _flags_of(app, *merged, params)
        by_split = await _flags_of(app, *split, params)
        assert by_merged == by_split, round_no
        compared += len(by_merged)
        singles += len(items) == 1
        flagged += sum(bool(f) for f in by_merged.values())
    # The data crosses the thresholds both ways.
    assert compared > 100 and singles > 10
    assert 0.1 * compared < flagged < 0.9 * compared


async def test_a_flood_going_on_is_stored_with_the_flags_the_whole_rules_give(app, client, admin):
    """The continued form (a flood's single event) stores an event only where both rules go
    on, and then with the flags the two-scan form gives; else nothing. Half the stored ratings
    carry both flags, and most events repeat the pattern and client of their department's
    latest rating, so that floods go on and stop."""
    await make_department(client, admin, "SJ")
    await make_department(client, admin, "GA", "公安局")
    rng = random.Random(20261130)
    clients = await _clients(app, 3)
    await _store(app, rng, clients, 300)
    async with app.state.sessionmaker() as session:
        await session.execute(
            text(
                "UPDATE rating SET flags = ARRAY['bare_burst', 'source_share']"
                " WHERE id % 2 = 0 AND event_id LIKE 'stored-%'"
            )
        )
        latest_sql = text(
            "SELECT client_id, channel, level, comment, rated_at FROM rating"
            " WHERE department_code = :d AND rated_at <= :t ORDER BY rated_at DESC LIMIT 1"
        )
        rounds = []
        for _ in range(40):
            department = rng.choice(("SJ", "GA"))
            values = _values(rng, len(rounds), department)
            latest = (
                await session.execute(
                    latest_sql, {"d": department, "t": datetime.fromisoformat(values["rated_at"])}
                )
            ).one_or_none()
            poster = rng.choice(clients)
            if latest is not None and rng.random() < 0.8:  # the flood's next event
                poster = latest.client_id
                values.update(channel=latest.channel, level=latest.level, comment=latest.comment)
            rounds.append((poster, values))
        await session.commit()
    settings = app.state.settings
    now = T0 + timedelta(days=1)
    went_on = stopped = 0
    for round_no, (poster, values) in enumerate(rounds):
        principal = Principal(uuid.uuid4(), poster, "来源", "portal")
        outcome, item = ingest.judge(0, values, principal, settings=settings, now=now)
        assert item is not None, outcome.errors
        params = insert.insert_params(principal, [item], RULES)
        shape = insert.shape(principal, [item.values], RULES)
        whole = positional(insert.insert_sql(shape._replace(one_scan=False), insert.ONE_EVENT))
        going_on = shape._replace(one_scan=False, continued=True)
        continued = positional(insert.insert_sql(going_on, insert.ONE_EVENT))
        by_whole = await _flags_of(app, *whole, params)
        by_continued = await _flags_of(app, *continued, params)
        assert by_continued in ({}, by_whole), round_no
        went_on += bool(by_continued)
        stopped += not by_continued
    assert went_on >= 5 and stopped >= 5, (went_on, stopped)


def test_a_flood_single_ratings_take_the_continued_form_and_others_one_scan():
    """Which form a single event's statement takes follows the latest rating this process
    stored for the same client and department (insert.note_flags): a flood's, the continued
    form (its fallback the two-scan form); batches always one scan."""
    client_id = uuid.uuid4()
    principal = Principal(uuid.uuid4(), client_id, "来源", "portal")
    row = {
        "department_code": "SJ",
        "rater_phone_hash": None,
        "comment": None,
        "window_no": None,
        "rater_type": "anonymous",
        "assess_number": 1,
    }
    assert insert.shape(principal, [row], RULES).one_scan
    assert not insert.shape(principal, [row], RULES).continued
    insert.note_flags(client_id, "SJ", ["bare_burst"])
    flood = insert.shape(principal, [row], RULES)
    assert flood.continued and not flood.one_scan
    assert not flood.whole().continued and not flood.whole().one_scan
    assert insert.shape(principal, [row, row], RULES).one_scan  # a batch
    assert insert.shape(principal, [{**row, "department_code": "GA"}], RULES).one_scan
    insert.note_flags(client_id, "SJ", ["repeat_phone"])  # not a flood's flag
    assert insert.shape(principal, [row], RULES).one_scan
    insert.note_flags(client_id, "SJ", ["source_share"])
    assert not insert.shape(principal, [row], RULES).one_scan
    insert.note_flags(client_id, "SJ", None)
    assert insert.shape(principal, [row], RULES).one_scan
