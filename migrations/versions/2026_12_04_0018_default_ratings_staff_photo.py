"""default ratings are never active ratings; staff photos; default ratings found by time

Revision ID: 0018
Revises: 0012
Create Date: 2026-12-04 08:00:00+00:00

A case is rated (主动评价) when the applicant rated it: a default rating (系统默认评价,
`rating.is_default`, migration 0012) is not an active rating. The 0011 case triggers counted every
valid rating naming a case, so a case with only a default rating counted as rated. The function
now counts a rating when it is valid, not a survey's and not a default one, and the update
trigger also fires on `is_default` (the provincial inbound path marks a default rating just after
its insert, in the same transaction). The counts of cases that already have a default rating are
taken again (the case's `rating_count` and its tallies' `rated`); the downgrade restores the old
function and trigger and counts those cases the old way again.

`staff_photo` keeps an optional photo per registered staff member (the tablet shows it beside
the name), with a random `token` for the URL the tablet page loads (a new one per upload).
`ix_rating_default_rated_at` finds a period's default ratings (counted apart in the overview).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | tuple[str, ...] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TZ = sa.DateTime(timezone=True)

_BODY = """
CREATE OR REPLACE FUNCTION rating_counts_for_case() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    delta integer;
    before integer;
    after integer;
    v_department text;
    v_window text;
    v_staff text;
    v_item text;
    v_day date;
BEGIN
    IF NEW.case_no IS NULL OR NEW.channel IN ('phone_callback', 'onsite_survey') THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'INSERT' THEN
        delta := (NEW.status = 'valid' __NEW_ACTIVE__)::integer;
    ELSE
        delta := (NEW.status = 'valid' __NEW_ACTIVE__)::integer
               - (OLD.status = 'valid' __OLD_ACTIVE__)::integer;
    END IF;
    IF delta = 0 THEN
        RETURN NULL;
    END IF;
    -- One statement reads the count before and writes it after (the row locked once).
    UPDATE service_case s SET rating_count = greatest(o.rating_count + delta, 0)
      FROM (SELECT id, rating_count FROM service_case WHERE case_no = NEW.case_no
            FOR UPDATE) AS o
     WHERE s.id = o.id
    RETURNING o.rating_count, s.rating_count, s.department_code, s.window_no, s.staff_id,
              s.service_item_code, (s.accepted_at AT TIME ZONE 'Asia/Shanghai')::date
      INTO before, after, v_department, v_window, v_staff, v_item, v_day;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF (after > 0) <> (before > 0) THEN
        UPDATE case_day t SET rated = t.rated + CASE WHEN after > 0 THEN 1 ELSE -1 END
          FROM (VALUES ('department', ''), ('window', coalesce(v_window, '')),
                       ('staff', coalesce(v_staff, '')),
                       ('item', coalesce(v_item, ''))) AS d(dimension, key),
               (VALUES ('d', v_day),
                       ('m', date_trunc('month', v_day)::date)) AS g(grain, bucket)
         WHERE t.dimension = d.dimension AND t.grain = g.grain AND t.bucket = g.bucket
           AND t.department_code = v_department AND t.key = d.key;
    END IF;
    RETURN NULL;
END
$$
"""
_NEW_FUNCTION = _BODY.replace("__NEW_ACTIVE__", "AND NOT NEW.is_default").replace(
    "__OLD_ACTIVE__", "AND NOT OLD.is_default"
)
_OLD_FUNCTION = _BODY.replace("__NEW_ACTIVE__", "").replace("__OLD_ACTIVE__", "")

_NEW_TRIGGER = (
    "CREATE TRIGGER rating_status_counts_for_case AFTER UPDATE OF status, is_default ON rating "
    "FOR EACH ROW WHEN (NEW.case_no IS NOT NULL AND (OLD.status IS DISTINCT FROM NEW.status "
    "OR OLD.is_default IS DISTINCT FROM NEW.is_default)) "
    "EXECUTE FUNCTION rating_counts_for_case()"
)
_OLD_TRIGGER = (
    "CREATE TRIGGER rating_status_counts_for_case AFTER UPDATE OF status ON rating "
    "FOR EACH ROW WHEN (NEW.case_no IS NOT NULL AND OLD.status IS DISTINCT FROM NEW.status) "
    "EXECUTE FUNCTION rating_counts_for_case()"
)

# The cases naming a default rating, counted again under the rule `counts` (a condition on r);
# the tallies' `rated` moves by the cases whose rated state flips.
_RECOUNT = """
WITH counted AS (
    SELECT c.id, c.rating_count AS before,
           (SELECT count(*) FROM rating r WHERE r.case_no = c.case_no AND r.status = 'valid'
               AND r.channel NOT IN ('phone_callback', 'onsite_survey') __COUNTS__) AS after
      FROM service_case c
     WHERE EXISTS (SELECT 1 FROM rating r WHERE r.case_no = c.case_no AND r.is_default)
),
changed AS (
    UPDATE service_case s SET rating_count = n.after
      FROM counted n WHERE s.id = n.id AND n.before <> n.after
    RETURNING s.department_code, s.window_no, s.staff_id, s.service_item_code, s.accepted_at,
              CASE WHEN n.after > 0 AND n.before = 0 THEN 1
                   WHEN n.after = 0 AND n.before > 0 THEN -1 ELSE 0 END AS flip
),
moves AS (
    SELECT d.dimension, g.grain, g.bucket, c.department_code, d.key, sum(c.flip) AS delta
      FROM changed c
      CROSS JOIN LATERAL (VALUES ('department', ''), ('window', coalesce(c.window_no, '')),
                                 ('staff', coalesce(c.staff_id, '')),
                                 ('item', coalesce(c.service_item_code, ''))) AS d(dimension, key)
      CROSS JOIN LATERAL (VALUES
          ('d', (c.accepted_at AT TIME ZONE 'Asia/Shanghai')::date),
          ('m', date_trunc('month', c.accepted_at AT TIME ZONE 'Asia/Shanghai')::date)
      ) AS g(grain, bucket)
     WHERE c.flip <> 0
     GROUP BY 1, 2, 3, 4, 5
)
UPDATE case_day t SET rated = t.rated + m.delta
  FROM moves m
 WHERE t.dimension = m.dimension AND t.grain = m.grain AND t.bucket = m.bucket
   AND t.department_code = m.department_code AND t.key = m.key
"""


def upgrade() -> None:
    op.execute(_NEW_FUNCTION)
    op.execute("DROP TRIGGER rating_status_counts_for_case ON rating")
    op.execute(_NEW_TRIGGER)
    op.execute(_RECOUNT.replace("__COUNTS__", "AND NOT r.is_default"))
    op.create_index(
        "ix_rating_default_rated_at",
        "rating",
        ["rated_at"],
        postgresql_where=sa.text("is_default"),
    )
    op.create_table(
        "staff_photo",
        sa.Column("staff_id", sa.String(64), primary_key=True),
        sa.Column("content_type", sa.String(20), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("token", sa.String(64), nullable=False),
        sa.Column("updated_at", _TZ, nullable=False),
        sa.CheckConstraint(
            "content_type IN ('image/jpeg', 'image/png')", name="ck_staff_photo_content_type"
        ),
        sa.ForeignKeyConstraint(
            ["staff_id"], ["staff.staff_id"], name="fk_staff_photo_staff_id_staff"
        ),
        sa.UniqueConstraint("token", name="uq_staff_photo_token"),
    )


def downgrade() -> None:
    op.drop_table("staff_photo")
    op.drop_index("ix_rating_default_rated_at", table_name="rating")
    op.execute("DROP TRIGGER rating_status_counts_for_case ON rating")
    op.execute(_OLD_TRIGGER)
    op.execute(_OLD_FUNCTION)
    op.execute(_RECOUNT.replace("__COUNTS__", ""))
