"""cases and surveys: the case ledger (办件) with its day tallies; surveys and their samples

Revision ID: 0011
Revises: 0014
Create Date: 2026-12-03 08:00:00+00:00

`service_case` holds one row per 办件编号 (app/cases/): department, window, staff, service item,
accepted and finished times, on time, and how many counted applicant ratings name it (kept by
the ratings' hooks). `case_day` sums them per local accepted day, department and one of window,
staff or item, by month and by day, so that a period's figures read the tallies, not every
case. Existing ratings
are not linked here: cases arrive by import, which counts the ratings already naming them.

`survey` and `survey_item` (app/surveys/): a phone-callback or on-site survey's task list, each
sample pending, rated (the rating it gave) or invalid with its reason (无效样本).

`ix_rating_case_no` finds the ratings naming a case, whatever their client. The triggers
`rating_counts_for_case` (insert) and `rating_status_counts_for_case` (status change) keep a
case's count of counted applicant ratings (status valid, not a survey channel) and its tallies'
`rated` in the rating's own transaction, on every path that stores a rating or changes its
status (the direct single-event path and COPY included).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0011"
down_revision: str | tuple[str, ...] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TZ = sa.DateTime(timezone=True)


_TRIGGER_FUNCTION = """
CREATE FUNCTION rating_counts_for_case() RETURNS trigger LANGUAGE plpgsql AS $$
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
        delta := (NEW.status = 'valid')::integer;
    ELSE
        delta := (NEW.status = 'valid')::integer - (OLD.status = 'valid')::integer;
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


def upgrade() -> None:
    op.create_table(
        "service_case",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("case_no", sa.String(64), nullable=False),
        sa.Column("department_code", sa.String(64), nullable=False),
        sa.Column("window_no", sa.String(32)),
        sa.Column("staff_id", sa.String(64)),
        sa.Column("service_item_code", sa.String(64)),
        sa.Column("service_item_name", sa.String(200)),
        sa.Column("accepted_at", _TZ, nullable=False),
        sa.Column("finished_at", _TZ),
        sa.Column("on_time", sa.Boolean()),
        sa.Column("rating_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("imported_at", _TZ, server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", _TZ, server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint(
            "finished_at IS NULL OR finished_at >= accepted_at", name="ck_service_case_finished"
        ),
        sa.CheckConstraint("rating_count >= 0", name="ck_service_case_rating_count"),
        sa.ForeignKeyConstraint(
            ["department_code"],
            ["department.code"],
            name="fk_service_case_department_code_department",
        ),
        sa.UniqueConstraint("case_no", name="uq_service_case_case_no"),
        # Room on each page: a rating's count update stays on its page (HOT, no index write).
        postgresql_with={"fillfactor": 80},
    )
    op.create_index(
        "ix_service_case_department_accepted_at",
        "service_case",
        ["department_code", "accepted_at"],
    )
    op.create_index("ix_service_case_accepted_at", "service_case", ["accepted_at"])
    op.create_table(
        "case_day",
        sa.Column("dimension", sa.String(12), primary_key=True),
        sa.Column("grain", sa.String(1), primary_key=True),
        sa.Column("bucket", sa.Date(), primary_key=True),
        sa.Column("department_code", sa.String(64), primary_key=True),
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("label", sa.String(200)),
        sa.Column("cases", sa.BigInteger(), nullable=False),
        sa.Column("finished", sa.BigInteger(), nullable=False),
        sa.Column("on_time", sa.BigInteger(), nullable=False),
        sa.Column("rated", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(
            "dimension IN ('department', 'window', 'staff', 'item')",
            name="ck_case_day_dimension",
        ),
        sa.CheckConstraint("grain IN ('m', 'd')", name="ck_case_day_grain"),
        postgresql_with={"fillfactor": 80},
    )
    op.create_index(
        "ix_rating_case_no",
        "rating",
        ["case_no"],
        postgresql_where=sa.text("case_no IS NOT NULL"),
    )
    op.execute(_TRIGGER_FUNCTION)
    # Ratings without a case never call the function (the WHEN is checked in C).
    op.execute(
        "CREATE TRIGGER rating_counts_for_case AFTER INSERT ON rating FOR EACH ROW "
        "WHEN (NEW.case_no IS NOT NULL) EXECUTE FUNCTION rating_counts_for_case()"
    )
    op.execute(
        "CREATE TRIGGER rating_status_counts_for_case AFTER UPDATE OF status ON rating "
        "FOR EACH ROW WHEN (NEW.case_no IS NOT NULL AND OLD.status IS DISTINCT FROM NEW.status) "
        "EXECUTE FUNCTION rating_counts_for_case()"
    )
    op.create_table(
        "survey",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("frame", sa.String(10), nullable=False),
        sa.Column("period_label", sa.String(40), nullable=False),
        sa.Column("period_start_at", _TZ, nullable=False),
        sa.Column("period_end_at", _TZ, nullable=False),
        sa.Column("seed", sa.String(64)),
        sa.Column("size", sa.Integer()),
        sa.Column("share", sa.Numeric(5, 2)),
        sa.Column("frame_size", sa.Integer(), nullable=False),
        sa.Column("created_by", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("created_at", _TZ, server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint(
            "channel IN ('phone_callback', 'onsite_survey')", name="ck_survey_channel"
        ),
        sa.CheckConstraint("frame IN ('cases', 'ratings', 'none')", name="ck_survey_frame"),
        sa.ForeignKeyConstraint(["created_by"], ["client.id"], name="fk_survey_created_by_client"),
    )
    op.create_index("ix_survey_period", "survey", ["period_start_at", "period_end_at"])
    op.create_table(
        "survey_item",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("survey_id", sa.BigInteger(), nullable=False),
        sa.Column("sample_no", sa.String(64), nullable=False),
        sa.Column("position", sa.Integer()),
        sa.Column("department_code", sa.String(64), nullable=False),
        sa.Column("window_no", sa.String(32)),
        sa.Column("staff_id", sa.String(64)),
        sa.Column("case_no", sa.String(64)),
        sa.Column("service_item_code", sa.String(64)),
        sa.Column("service_item_name", sa.String(200)),
        sa.Column("source_rating_id", sa.BigInteger()),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("invalid_reason", sa.String(20)),
        sa.Column("rating_id", sa.BigInteger()),
        sa.Column("surveyor", sa.String(100)),
        sa.Column("attempted_at", _TZ),
        sa.Column("recorded_by", postgresql.UUID(as_uuid=True)),
        sa.Column("attempt_hash", sa.LargeBinary(32)),
        sa.CheckConstraint("state IN ('pending', 'rated', 'invalid')", name="ck_survey_item_state"),
        sa.CheckConstraint(
            "(state = 'invalid') = (invalid_reason IS NOT NULL) AND (invalid_reason IS NULL OR "
            "invalid_reason IN ('unreachable', 'refused', 'wrong_number', 'not_applicant', "
            "'other'))",
            name="ck_survey_item_invalid_reason",
        ),
        sa.CheckConstraint(
            "(state = 'rated') = (rating_id IS NOT NULL)", name="ck_survey_item_rating"
        ),
        sa.ForeignKeyConstraint(
            ["survey_id"],
            ["survey.id"],
            name="fk_survey_item_survey_id_survey",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["department_code"],
            ["department.code"],
            name="fk_survey_item_department_code_department",
        ),
        sa.ForeignKeyConstraint(
            ["rating_id"], ["rating.id"], name="fk_survey_item_rating_id_rating"
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by"], ["client.id"], name="fk_survey_item_recorded_by_client"
        ),
        sa.UniqueConstraint("survey_id", "sample_no", name="uq_survey_item_survey_id_sample_no"),
    )
    op.create_index("ix_survey_item_survey_state", "survey_item", ["survey_id", "state", "id"])


def downgrade() -> None:
    op.drop_table("survey_item")
    op.drop_table("survey")
    op.execute("DROP TRIGGER rating_status_counts_for_case ON rating")
    op.execute("DROP TRIGGER rating_counts_for_case ON rating")
    op.execute("DROP FUNCTION rating_counts_for_case()")
    op.drop_index("ix_rating_case_no", table_name="rating")
    op.drop_table("case_day")
    op.drop_table("service_case")
