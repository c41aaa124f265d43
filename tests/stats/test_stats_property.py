"""The aggregates equal a raw GROUP BY over the rating table: on random event streams with
withdrawals and appeals interleaved with roll-ups, and at any moment under concurrent ingest."""

from __future__ import annotations

import asyncio
import math
import random
import uuid
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.ratings import service as ratings_service
from app.stats import exports, rollup
from app.stats import queries as stats
from app.stats.periods import GRAINS, Period, bucket_start
from app.stats.scheduled import stop_rollup_loop

DEPARTMENTS = ("RSJ", "SJJ", "GAJ")
CHANNELS = ("window_device", "mobile", "hotline")
RATER_TYPES = ("individual", "enterprise", "anonymous")
TAGS = ("attitude", "waiting", "praise_attitude")
BASE = datetime(2023, 3, 31, 16, 0, tzinfo=UTC)  # 2023-04-01 00:00 in Beijing


_RESET = text(
    "TRUNCATE rating, rating_rollup, rating_staff_rollup, rating_tag_rollup, "
    "rating_staff_tag_rollup, rating_department_rollup, rating_split_rollup, "
    "rating_rollup_watermark RESTART IDENTITY CASCADE"
)


async def reset_ratings(app) -> None:
    """No ratings, no roll-ups, no watermark: each test starts from an empty history."""
    async with app.state.sessionmaker() as session:
        await session.execute(_RESET)
        await session.commit()


@pytest.fixture(scope="module")
async def world(app):
    """Departments and a client to own the ratings; the background roll-up stopped."""
    await stop_rollup_loop(app)
    from app.auth import service as auth

    async with app.state.sessionmaker() as session:
        await session.execute(_RESET)
        for code in DEPARTMENTS:
            await session.execute(
                text("INSERT INTO department (code, name) VALUES (:c, :c) ON CONFLICT DO NOTHING"),
                {"c": code},
            )
        client = await auth.create_client(
            session, name=f"prop-{uuid.uuid4().hex[:6]}", role="admin"
        )
        await session.commit()
    return client.id


_INSERT = text(
    """
    INSERT INTO rating (client_id, event_id, payload_hash, channel, department_code, window_no,
                        staff_id, level, tags, rater_type, rated_at, historical, flags)
    VALUES (:client_id, :event_id, '\\x00', :channel, :department_code, :window_no, :staff_id,
            :level, CAST(:tags AS text[]), :rater_type, :rated_at, true, CAST(:flags AS text[]))
    RETURNING id
    """
)


def rating_values(draw_or_rng, client_id) -> dict:
    rng = draw_or_rng
    return {
        "client_id": client_id,
        "event_id": uuid.uuid4().hex,
        "channel": rng.choice(CHANNELS),
        "department_code": rng.choice(DEPARTMENTS),
        "window_no": rng.choice([None, "A01", "A02"]),
        "staff_id": rng.choice([None, "001", "002"]),
        "level": rng.choice([5, 5, 4, 3, 2, 1]),
        "tags": rng.sample(TAGS, rng.randint(0, 2)),
        "rater_type": rng.choice(RATER_TYPES),
        # around the Q1/Q2 boundary and local midnights, over about 13 months
        "rated_at": BASE
        + timedelta(days=rng.choice([-400, -40, -1, 0, 0, 1, 30, 61, 300]))
        + timedelta(minutes=rng.choice([-1, 0, 1, 59, 600, 1439])),
        # integrity flags, set at insert and never changed (exclude_flagged leaves them out)
        "flags": rng.choice([None, None, None, ["bare_burst"], ["source_share", "bare_burst"]]),
    }


# --- the raw baselines -------------------------------------------------------------------------

# {excluded}: with exclude_flagged, the valid flagged ratings are not there
_RAW_MAIN = """
    SELECT department_code, channel, rater_type, status, level, count(*) AS n
      FROM rating WHERE rated_at >= :start_at AND rated_at < :end_at{excluded}
     GROUP BY 1, 2, 3, 4, 5
    """
_RAW_STAFF = """
    SELECT department_code, coalesce(window_no, '') AS w, coalesce(staff_id, '') AS s, status,
           level, count(*) AS n
      FROM rating WHERE rated_at >= :start_at AND rated_at < :end_at{excluded}
     GROUP BY 1, 2, 3, 4, 5
    """
_RAW_TAGS = """
    SELECT department_code, tag, count(*) AS n
      FROM rating CROSS JOIN LATERAL unnest(tags) AS tag
     WHERE rated_at >= :start_at AND rated_at < :end_at AND status = 'valid' AND level <= 2
           {excluded}
     GROUP BY 1, 2
    """


def _raw(sql: str, exclude: bool) -> Any:
    excluded = " AND NOT (flags IS NOT NULL AND status = 'valid')" if exclude else ""
    return text(sql.format(excluded=excluded))


async def compare(session: AsyncSession, period: Period) -> None:
    """Aggregates (rollups + tail) == raw GROUP BY, in the session's snapshot: as they are, and
    with exclude_flagged (the raw GROUP BY without the valid flagged ratings)."""
    for exclude in (False, True):
        await _compare(session, period, exclude=exclude)


async def _compare(session: AsyncSession, period: Period, *, exclude: bool) -> None:
    bounds = {"start_at": period.start_at, "end_at": period.end_at}
    params = await stats._params(session, period)
    rows = await session.execute(
        text(
            stats._main_rows(stats.Filters(), params, exclude=exclude)
            + " SELECT department_code, channel, rater_type, status, level, sum(n) AS n"
            " FROM src GROUP BY 1, 2, 3, 4, 5 HAVING sum(n) <> 0"
        ),
        params,
    )
    ours = {tuple(r[:5]): r.n for r in rows}
    raw = {tuple(r[:5]): r.n for r in await session.execute(_raw(_RAW_MAIN, exclude), bounds)}
    assert ours == raw

    # the narrow rollups (unfiltered overview and department table) agree too
    total, by_rater, by_channel, rated = await stats._overview_figures(
        session, period, exclude=exclude
    )
    by_department = await stats._department_tallies(
        session, period, stats.Filters(), exclude=exclude
    )
    named = await stats._department_rows(
        session, period, stats.Filters(), names=True, exclude=exclude
    )
    assert {code: t for code, _, t in named if code in by_department} == by_department
    valid_by_department: Counter = Counter()
    for key, n in raw.items():
        if key[3] == "valid":
            valid_by_department[key[0]] += n
    assert rated == sum(1 for n in valid_by_department.values() if n > 0)
    for position, groups in ((2, by_rater), (1, by_channel), (0, by_department)):
        expected: Counter = Counter()
        for key, n in raw.items():
            expected[(key[position], key[3], key[4])] += n
        got = {
            (k, status, level): n
            for k, tally in groups.items()
            for (status, level), n in tally.counts.items()
            if n
        }
        assert got == {k: v for k, v in expected.items() if v}
    assert sum(total.counts.values()) == sum(raw.values())
    expected_total: Counter = Counter()
    for key, n in raw.items():
        expected_total[key[3:]] += n
    assert {k: n for k, n in total.counts.items() if n} == {
        k: n for k, n in expected_total.items() if n
    }

    # the department table filtered by a channel or a rater type (the wide rollup)
    for position, name, value in ((1, "channel", "window_device"), (2, "rater_type", "enterprise")):
        filtered = await stats._department_tallies(
            session, period, stats.Filters(**{name: value}), exclude=exclude
        )
        expected = Counter()
        for key, n in raw.items():
            if key[position] == value:
                expected[(key[0], key[3], key[4])] += n
        got = {
            (code, status, level): n
            for code, tally in filtered.items()
            for (status, level), n in tally.counts.items()
            if n
        }
        assert got == {k: v for k, v in expected.items() if v}

    raw_staff: Counter = Counter()
    for r in await session.execute(_raw(_RAW_STAFF, exclude), bounds):
        raw_staff[(r.department_code, r.w, r.s, r.status, r.level)] = r.n
    for code in DEPARTMENTS:
        windows, staff = await stats._staff_tallies(session, period, code, exclude=exclude)
        for key, tally in windows.items():
            for (status, level), n in tally.counts.items():
                expected = sum(
                    v
                    for k, v in raw_staff.items()
                    if k[:2] == (code, key) and k[3:] == (status, level)
                )
                assert n == expected
        assert sum(sum(t.counts.values()) for t in staff.values()) == sum(
            v for k, v in raw_staff.items() if k[0] == code
        )

    tags = await stats._tag_counts(session, period, stats.Filters(), exclude=exclude)
    raw_tags = {
        (r.department_code, r.tag): r.n
        for r in await session.execute(_raw(_RAW_TAGS, exclude), bounds)
    }
    ours_tags = {(d, t): n for d, counts in tags.items() if d for t, n in counts.items()}
    assert ours_tags == raw_tags


async def check_rollups(session: AsyncSession) -> None:
    """Every grain of every rollup holds exactly the ratings at or below the watermark."""
    rolled_to = (
        await session.execute(
            text("SELECT coalesce(max(rolled_to), 0) FROM rating_rollup_watermark")
        )
    ).scalar_one()
    raw = {
        tuple(r[:6]): r.n
        for r in await session.execute(
            text(
                "SELECT (rated_at AT TIME ZONE 'Asia/Shanghai')::date AS day, department_code,"
                " channel, rater_type, status, level, count(*) AS n FROM rating"
                " WHERE id <= :w GROUP BY 1, 2, 3, 4, 5, 6"
            ),
            {"w": rolled_to},
        )
    }
    for grain in GRAINS:
        expected: Counter = Counter()
        for (day, *rest), n in raw.items():
            expected[(bucket_start(grain, day), *rest)] += n
        got = {
            tuple(r[:6]): r.n
            for r in await session.execute(
                text(
                    "SELECT bucket, department_code, channel, rater_type, status, level, n"
                    " FROM rating_rollup WHERE grain = :g AND n <> 0"
                ),
                {"g": grain},
            )
        }
        assert got == dict(expected), grain


PERIODS = [
    Period("2023Q1", date(2023, 1, 1), date(2023, 4, 1)),
    Period("2023Q2", date(2023, 4, 1), date(2023, 7, 1)),
    Period("2023", date(2023, 1, 1), date(2024, 1, 1)),
    Period("2022-02-16..2023-05-31", date(2022, 2, 16), date(2023, 6, 1)),
    Period("2023-03-31..2023-04-01", date(2023, 3, 31), date(2023, 4, 2)),
]

ops = st.lists(
    st.one_of(
        st.tuples(st.just("insert"), st.integers(1, 6), st.randoms(use_true_random=False)),
        st.tuples(
            st.just("status"),
            st.integers(0, 10_000),
            st.sampled_from(["withdrawn", "invalidated", "valid"]),
        ),
        st.tuples(st.just("rollup"), st.integers(1, 7)),
    ),
    min_size=1,
    max_size=25,
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(stream=ops, period_index=st.integers(0, len(PERIODS) - 1))
async def test_aggregates_equal_raw_group_by(app, world, stream, period_index):
    engine = app.state.engine
    await reset_ratings(app)
    ids: list[int] = []
    for op in stream:
        if op[0] == "insert":
            async with app.state.sessionmaker() as session:
                for _ in range(op[1]):
                    values = rating_values(op[2], world)
                    ids.append((await session.execute(_INSERT, values)).scalar_one())
                await session.commit()
        elif op[0] == "status" and ids:
            async with app.state.sessionmaker() as session:
                await ratings_service.set_status(session, ids[op[1] % len(ids)], op[2])
                await session.commit()
        elif op[0] == "rollup":
            await rollup.roll_up(engine, chunk=op[1])
    async with app.state.sessionmaker() as session:
        await check_rollups(session)
        await compare(session, PERIODS[period_index])
    await rollup.roll_up(engine)
    async with app.state.sessionmaker() as session:
        await check_rollups(session)
        for period in PERIODS:
            await compare(session, period)


async def test_exact_under_concurrent_ingest_with_out_of_order_commits(app, world):
    """Writers hold their transactions open for random times (ids commit out of order) while
    roll-ups and status changes run; every snapshot agrees with a raw GROUP BY."""
    engine = app.state.engine
    await reset_ratings(app)
    rng = random.Random(4)
    stop = asyncio.Event()
    inserted: list[int] = []

    async def writer(seed: int) -> None:
        local = random.Random(seed)
        while not stop.is_set():
            mine = []
            async with app.state.sessionmaker() as session:
                for _ in range(local.randint(1, 5)):
                    row = (await session.execute(_INSERT, rating_values(local, world))).scalar_one()
                    await asyncio.sleep(local.random() * 0.02)
                    mine.append(row)
                await session.commit()
            inserted.extend(mine)

    async def changer() -> None:
        while not stop.is_set():
            await asyncio.sleep(0.01)
            if inserted:
                async with app.state.sessionmaker() as session:
                    await ratings_service.set_status(
                        session,
                        rng.choice(inserted),
                        rng.choice(["withdrawn", "invalidated", "valid"]),
                    )
                    await session.commit()

    async def roller() -> None:
        while not stop.is_set():
            await rollup.roll_up(engine, wait_seconds=0.5, chunk=rng.randint(1, 20))
            await asyncio.sleep(0.005)

    tasks = [asyncio.create_task(writer(s)) for s in range(4)]
    tasks += [asyncio.create_task(changer()), asyncio.create_task(roller())]
    try:
        for _ in range(15):
            await asyncio.sleep(0.1)
            async with engine.connect() as conn:
                await conn.execution_options(isolation_level="REPEATABLE READ")
                session = AsyncSession(bind=conn)
                for period in PERIODS:
                    await compare(session, period)
                await conn.rollback()
    finally:
        stop.set()
        await asyncio.gather(*tasks)
    await rollup.roll_up(engine)
    async with app.state.sessionmaker() as session:
        rolled_to = (
            await session.execute(text("SELECT rolled_to FROM rating_rollup_watermark"))
        ).scalar_one()
        assert rolled_to == max(inserted) and len(inserted) > 50
        await check_rollups(session)
        for period in PERIODS:
            await compare(session, period)


async def test_rollup_waits_for_a_transaction_holding_a_lower_id(app, world):
    engine = app.state.engine
    await reset_ratings(app)
    rng = random.Random(1)
    async with app.state.sessionmaker() as slow:
        low = (await slow.execute(_INSERT, rating_values(rng, world))).scalar_one()
        async with app.state.sessionmaker() as fast:
            high = (await fast.execute(_INSERT, rating_values(rng, world))).scalar_one()
            await fast.commit()
        assert low < high
        assert await rollup.roll_up(engine, wait_seconds=0.2) == 0  # id `low` is in flight
        await slow.commit()
    assert await rollup.roll_up(engine, wait_seconds=1) == 2
    async with app.state.sessionmaker() as session:
        await check_rollups(session)


async def test_plan_waits_for_the_newest_writer_beyond_the_snapshot_xmax(app, world):
    """A snapshot does not list running transactions at or above its xmax (the latest completed
    id plus one). A writer that took the newest transaction id and drew a rating id just before
    the plan, with nothing completing since, must still be waited for."""
    engine = app.state.engine
    await reset_ratings(app)
    await rollup.roll_up(engine)  # the watermark row exists: planning writes nothing
    async with app.state.sessionmaker() as writer:
        rating_id = (
            await writer.execute(_INSERT, rating_values(random.Random(7), world))
        ).scalar_one()
        xid = (await writer.execute(text("SELECT pg_current_xact_id()::text::bigint"))).scalar()
        candidate = await rollup.plan(engine)
        assert candidate.upto >= rating_id
        assert xid in candidate.running
        assert not await rollup.ready(engine, candidate)
        await writer.commit()
    assert await rollup.ready(engine, candidate)
    assert await rollup.apply(engine, candidate) == 1
    async with app.state.sessionmaker() as session:
        await check_rollups(session)


# --- the arithmetic and the format choice (pure) ----------------------------------------------


@given(st.integers(0, 10**12), st.integers(0, 10**12))
def test_every_rate_is_its_exact_fraction_rounded_half_up(a, b):
    part, whole = min(a, b), max(a, b)
    if whole == 0:
        assert stats.rate(part, whole) is None
        return
    exact_hundredths = Fraction(100 * 100 * part, whole)
    rounded = math.floor(exact_hundredths + Fraction(1, 2))  # half-up, non-negative
    assert Decimal(str(stats.rate(part, whole))) == Decimal(rounded) / 100


_MEDIA = {"json": "application/json", "csv": "text/csv", "xlsx": exports.XLSX_MEDIA_TYPE}


@given(st.dictionaries(st.sampled_from(list(_MEDIA)), st.sampled_from([0, 0.1, 0.5, 0.9, 1])))
def test_accept_picks_the_most_wanted_offered_format(wanted):
    accept = ", ".join(f"{_MEDIA[kind]};q={q}" for kind, q in wanted.items())
    best = max((q for q in wanted.values()), default=0)
    if best == 0:
        if wanted:
            with pytest.raises(exports.NotAcceptable):
                exports.negotiate(None, accept)
        else:
            assert exports.negotiate(None, accept) == "json"  # no Accept at all
        return
    chosen = exports.negotiate(None, accept)
    assert wanted[chosen] == best
    assert chosen == next(kind for kind in _MEDIA if wanted.get(kind) == best)  # json, csv, xlsx
    assert exports.negotiate("csv", accept) == "csv"  # format= wins
