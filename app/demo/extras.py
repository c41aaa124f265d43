"""The demo's other sources of figures, loaded after the ratings and work orders: the staff
register (names for the staff table), the case ledger (办件, for 办件量 and 主动评价率) and a
phone-callback survey per complete quarter (回访 samples, valid and invalid).

Every applicant rating of the demo names its own case (its `case_no`, written with the
rating); each such case is stored with the count of counted applicant ratings naming it, as
the case import does (app/cases/service.py), and some departments' cases more often go unrated
(a second, unrated case beside a share of the rated ones), so that 主动评价率 lies below 100%
and differs between departments. The day tallies (`case_day`) are summed from the stored cases
by the same grouping as the case import's (app/cases/repository.py); the tests recompute them
with the import's own statement and compare. All draws hash the case number: one demo seed,
one centre."""

from __future__ import annotations

import random
import uuid
from datetime import datetime, timedelta
from typing import Any

from app.config import BUSINESS_TZ
from app.demo.centre import SURVEY_CHANNELS, Centre, _person
from app.demo.progress import Report
from app.stats.periods import parse_period_label

SERVICE_ITEMS = [
    ("01", "企业设立登记"), ("02", "个体工商户登记"), ("03", "社会保障卡申领"),
    ("04", "不动产登记"), ("05", "住房公积金提取"), ("06", "医疗费用报销"),
    ("07", "居住证办理"), ("08", "纳税申报"),
]  # fmt: skip
# Unrated cases per 100 rated ones, by department (cycled): 主动评价率 from 62% to 87%.
UNRATED_PER_100 = (15, 35, 60, 25, 45)
# A survey's samples: one in SURVEY_EVERY of the quarter's cases, at most SURVEY_MAX.
SURVEY_EVERY, SURVEY_MAX = 50, 300
INVALID_REASONS = ("unreachable", "refused", "wrong_number", "not_applicant", "other")
_HASH = "(hashtext({}) :: bigint & 2147483647)"

_RATED_CASES = f"""
WITH named AS (
    SELECT case_no, min(department_code) AS d, min(window_no) AS w, min(staff_id) AS s,
           min(rated_at) AS at,
           count(*) FILTER (WHERE status = 'valid' AND channel <> ALL($2::text[])) AS n
      FROM rating WHERE case_no LIKE $1 || '-BJ%' GROUP BY case_no
)
INSERT INTO service_case (case_no, department_code, window_no, staff_id, service_item_code,
                          service_item_name, accepted_at, finished_at, on_time, rating_count)
SELECT n.case_no, n.d, n.w, n.s, n.d || '-' || i.code, i.name,
       n.at - make_interval(hours => 1 + (x.h % 72)::int),
       n.at - make_interval(mins => (x.h % 50)::int), x.h % 20 <> 0, n.n
  FROM named n
 CROSS JOIN LATERAL (SELECT {_HASH.format("n.case_no")} AS h) x
  JOIN unnest($3::text[], $4::text[]) WITH ORDINALITY AS i(code, name, k)
    ON i.k = 1 + x.h % cardinality($3::text[])
"""
_UNRATED_CASES = f"""
INSERT INTO service_case (case_no, department_code, window_no, staff_id, service_item_code,
                          service_item_name, accepted_at, finished_at, on_time, rating_count)
SELECT c.case_no || 'W', c.department_code, c.window_no, c.staff_id, c.service_item_code,
       c.service_item_name, c.accepted_at - make_interval(mins => (x.h % 600)::int),
       CASE WHEN x.h % 33 <> 0 THEN least(c.accepted_at + make_interval(
           mins => (30 + x.h % 2000)::int), $4) END,
       CASE WHEN x.h % 33 <> 0 THEN x.h % 15 <> 0 END, 0
  FROM service_case c
  JOIN unnest($2::text[], $3::int[]) AS u(code, per_100) ON u.code = c.department_code
 CROSS JOIN LATERAL (SELECT {_HASH.format("c.case_no || 'W'")} AS h) x
 WHERE c.case_no LIKE $1 || '-BJ%' AND x.h % 100 < u.per_100
"""
# The case import's tallies (app/cases/repository.py _APPLY, sign +1) over the demo's cases, in
# two steps: this load's days from its cases, its months from those days (the same sums, half
# the work), each added to what the tallies hold.
_DAYS = """
CREATE TEMPORARY TABLE demo_case_day ON COMMIT DROP AS
SELECT d.dimension, (c.accepted_at AT TIME ZONE 'Asia/Shanghai')::date AS bucket,
       c.department_code, d.key, max(d.label) AS label, count(*) AS cases,
       count(*) FILTER (WHERE c.finished_at IS NOT NULL) AS finished,
       count(*) FILTER (WHERE c.on_time) AS on_time,
       count(*) FILTER (WHERE c.rating_count > 0) AS rated
  FROM service_case c
 CROSS JOIN LATERAL (VALUES
      ('department', '', NULL),
      ('window', coalesce(c.window_no, ''), NULL),
      ('staff', coalesce(c.staff_id, ''), NULL),
      ('item', coalesce(c.service_item_code, ''), c.service_item_name)
  ) AS d(dimension, key, label)
 WHERE c.case_no LIKE $1 || '-BJ%'
 GROUP BY 1, 2, 3, 4
"""
_ADD = """
INSERT INTO case_day AS t (dimension, grain, bucket, department_code, key, label,
                           cases, finished, on_time, rated)
SELECT dimension, '{grain}', {bucket}, department_code, key, max(label), sum(cases),
       sum(finished), sum(on_time), sum(rated)
  FROM demo_case_day
 GROUP BY 1, 3, 4, 5
 ORDER BY 1, 3, 4, 5
ON CONFLICT (dimension, grain, bucket, department_code, key) DO UPDATE SET
    label = coalesce(excluded.label, t.label),
    cases = t.cases + excluded.cases,
    finished = t.finished + excluded.finished,
    on_time = t.on_time + excluded.on_time,
    rated = t.rated + excluded.rated
"""
_SURVEY_RATINGS = """
INSERT INTO rating (client_id, event_id, payload_hash, channel, department_code, window_no,
                    staff_id, case_no, level, rater_type, rated_at, received_at, historical,
                    status)
SELECT $1, e, $2, 'phone_callback', d, w, s, c, l, t, a, a, true, 'valid'
  FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::int[],
              $9::text[], $10::timestamptz[]) AS v(e, d, w, s, c, l, t, a)
RETURNING event_id, id
"""
_SURVEY_ITEM_COLUMNS = (
    "survey_id", "sample_no", "position", "department_code", "window_no", "staff_id", "case_no",
    "service_item_code", "service_item_name", "state", "invalid_reason", "rating_id",
    "surveyor", "attempted_at", "recorded_by",
)  # fmt: skip


async def _staff_register(conn, centre: Centre, seed: int) -> int:
    rng = random.Random(seed + 99)
    rows = [
        (staff_id, _person(rng)[0], code, window_no)
        for code, pool in centre.windows.items()
        for window_no, staff in pool
        for staff_id in staff
    ]
    await conn.executemany(
        "INSERT INTO staff (staff_id, name, department_code, window_no) VALUES ($1, $2, $3, $4) "
        "ON CONFLICT (staff_id) DO UPDATE SET name = excluded.name, active = true, "
        "department_code = excluded.department_code, window_no = excluded.window_no",
        rows,
    )
    return len(rows)


async def _cases(conn, centre: Centre, prefix: str, end: datetime) -> dict[str, int]:
    codes = [code for code, _ in centre.departments]
    per_100 = [UNRATED_PER_100[i % len(UNRATED_PER_100)] for i in range(len(codes))]
    items = [list(x) for x in zip(*SERVICE_ITEMS, strict=True)]
    rated = await conn.execute(_RATED_CASES, prefix, sorted(SURVEY_CHANNELS), *items)
    unrated = await conn.execute(_UNRATED_CASES, prefix, codes, per_100, end)
    await _tallies(conn, prefix)
    return {"cases": int(rated.split()[-1]), "unrated_cases": int(unrated.split()[-1])}


async def _tallies(conn, prefix: str) -> None:
    await conn.execute(_DAYS, prefix)
    await conn.execute(_ADD.format(grain="d", bucket="bucket"))
    await conn.execute(_ADD.format(grain="m", bucket="date_trunc('month', bucket)::date"))
    await conn.execute("DROP TABLE demo_case_day")


def _quarters(start: datetime, end: datetime) -> list[str]:
    """The labels of the complete quarters that end inside (start, end]."""
    local = end.astimezone(BUSINESS_TZ)
    year, quarter = local.year, (local.month - 1) // 3 + 1
    labels = []
    while True:
        year, quarter = (year, quarter - 1) if quarter > 1 else (year - 1, 4)
        period = parse_period_label(f"{year}Q{quarter}")
        if period.end_at <= start:
            return labels[::-1]
        labels.append(period.label)


async def _survey(conn, label: str, prefix: str, seed: int, by: uuid.UUID) -> int:
    """A phone-callback survey of the quarter's cases: invalid, pending and rated samples."""
    period = parse_period_label(label)
    frame = await conn.fetchval(
        "SELECT count(*) FROM service_case WHERE case_no LIKE $1 || '-BJ%' "
        "AND accepted_at >= $2 AND accepted_at < $3",
        prefix, period.start_at, period.end_at,
    )  # fmt: skip
    size = min(SURVEY_MAX, frame // SURVEY_EVERY)
    if not size:
        return 0
    survey_id = await conn.fetchval(
        "INSERT INTO survey (name, channel, frame, period_label, period_start_at, period_end_at, "
        "seed, size, frame_size, created_by) VALUES ($1, 'phone_callback', 'cases', $2, $3, $4, "
        "$5, $6, $7, $8) RETURNING id",
        f"{label} 办件电话回访", label, period.start_at, period.end_at, f"demo{seed}", size,
        frame, by,
    )  # fmt: skip
    drawn = await conn.fetch(
        "SELECT case_no, department_code, window_no, staff_id, service_item_code, "
        f"service_item_name, {_HASH.format('case_no')} AS h FROM service_case "
        "WHERE case_no LIKE $1 || '-BJ%' AND accepted_at >= $2 AND accepted_at < $3 "
        "ORDER BY md5($4 || case_no) LIMIT $5",
        prefix, period.start_at, period.end_at, f"demo{seed}", size,
    )  # fmt: skip
    last_day = period.end_at - timedelta(days=1, hours=8)
    rated = [r for r in drawn if r["h"] % 100 >= 16]
    at = {r["case_no"]: last_day - timedelta(days=r["h"] % 20, minutes=r["h"] % 480) for r in drawn}
    ids = dict(
        await conn.fetch(
            _SURVEY_RATINGS,
            by,
            b"\x00" * 32,
            [f"{prefix}-HF{label}-{r['case_no']}" for r in rated],
            *(
                [r[k] for r in rated]
                for k in ("department_code", "window_no", "staff_id", "case_no")
            ),
            [5 if r["h"] % 50 < 36 else 4 if r["h"] % 50 < 46 else 3 for r in rated],
            ["enterprise" if r["h"] % 7 < 2 else "individual" for r in rated],
            [at[r["case_no"]] for r in rated],
        )
    )
    records = []
    for position, r in enumerate(drawn, start=1):
        h, no = r["h"], r["case_no"]
        state = "invalid" if h % 100 < 12 else "pending" if h % 100 < 16 else "rated"
        records.append(
            (survey_id, no, position, r["department_code"], r["window_no"], r["staff_id"], no,
             r["service_item_code"], r["service_item_name"], state,
             INVALID_REASONS[h % 5] if state == "invalid" else None,
             ids.get(f"{prefix}-HF{label}-{no}"),
             None if state == "pending" else "回访员", None if state == "pending" else at[no],
             None if state == "pending" else by)
        )  # fmt: skip
    await conn.copy_records_to_table("survey_item", records=records, columns=_SURVEY_ITEM_COLUMNS)
    return len(records)


async def load_extras(
    conn,
    centre: Centre,
    *,
    start: datetime,
    end: datetime,
    seed: int,
    prefix: str,
    surveyor: uuid.UUID,
    report: Report,
) -> dict[str, Any]:
    """Load the demo's staff register, cases and survey samples over [start, end) in one
    transaction; their counts. `surveyor` is the client the surveys are recorded by."""
    async with conn.transaction():
        report("cases", 0, 1)
        staff = await _staff_register(conn, centre, seed)
        counts = await _cases(conn, centre, prefix, end)
        report("cases", 1, 1)
        quarters = _quarters(start, end)
        sizes = []
        for done, label in enumerate(quarters, start=1):
            sizes.append(await _survey(conn, label, prefix, seed, surveyor))
            report("surveys", done, len(quarters))
    surveys = sum(1 for n in sizes if n)
    return {"staff": staff, **counts, "surveys": surveys, "samples": sum(sizes)}
