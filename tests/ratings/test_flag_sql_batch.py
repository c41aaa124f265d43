"""A batch's INSERT reads each of the bare_burst and source_share rules in one scan
(insert.FLAG_SQL_MANY), one event's in two (insert.FLAG_SQL): both must flag alike.

On real PostgreSQL: random stored ratings around the batch (its department and another, three
clients, bare or not, levels 4 and 5, some already flagged so that bursts and shares go on),
then random batches; each batch is inserted once with each form of the rules, each in a
transaction rolled back, and the flags compared event by event."""

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


async def _flags(app, sql: str, names: tuple[str, ...], params: dict) -> dict[str, list]:
    """The flags the INSERT gives each event, in a transaction rolled back."""
    async with app.state.engine.connect() as conn:
        raw = (await conn.get_raw_connection()).driver_connection
        async with raw.transaction():
            rows = await raw.fetch(sql, *[params[name] for name in names])
            result = {row["event_id"]: sorted(row["flags"] or []) for row in rows}
            raise _Rollback(result)


class _Rollback(Exception):
    def __init__(self, result):
        self.result = result


async def _flags_of(app, sql, names, params) -> dict[str, list]:
    try:
        await _flags(app, sql, names, params)
    except _Rollback as done:
        return done.result
    raise AssertionError("not rolled back")


async def test_a_batch_flags_as_the_two_scan_rules_do(app, client, admin, monkeypatch):
    await make_department(client, admin, "SJ")
    await make_department(client, admin, "GA", "公安局")
    rng = random.Random(20261120)
    clients = await _clients(app, 3)
    await _store(app, rng, clients, 400)
    settings = app.state.settings
    now = T0 + timedelta(days=1)

    flagged = compared = 0
    for round_no in range(25):
        poster = rng.choice(clients)
        principal = Principal(uuid.uuid4(), poster, "来源", "portal")
        items = []
        for i in range(rng.randint(2, 12)):
            outcome, item = ingest.judge(
                i, _values(rng, i, rng.choice(("SJ", "GA"))), principal, settings=settings, now=now
            )
            assert item is not None, outcome.errors
            items.append(item)
        params = insert.insert_params(principal, items, RULES)
        shape = insert.shape(principal, [i.values for i in items], RULES)
        merged = positional(insert.insert_sql.__wrapped__(shape, insert._MANY))
        with monkeypatch.context() as patch:
            patch.setattr(insert, "FLAG_SQL_MANY", insert.FLAG_SQL)
            split = positional(insert.insert_sql.__wrapped__(shape, insert._MANY))
        assert merged[0] != split[0]
        by_merged = await _flags_of(app, *merged, params)
        by_split = await _flags_of(app, *split, params)
        assert by_merged == by_split, round_no
        compared += len(by_merged)
        flagged += sum(bool(f) for f in by_merged.values())
    # The data crosses the thresholds both ways.
    assert compared > 100
    assert 0.1 * compared < flagged < 0.9 * compared
