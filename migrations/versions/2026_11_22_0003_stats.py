"""statistics: rating rollups behind a watermark

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-22 03:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_GRAIN = "grain IN ('y', 'q', 'm', 'd')"


def upgrade() -> None:
    op.create_table(
        "rating_rollup_watermark",
        sa.Column("id", sa.SmallInteger(), nullable=False),
        sa.Column("rolled_to", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("epoch", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("id = 1", name=op.f("ck_rating_rollup_watermark_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rating_rollup_watermark")),
    )
    op.create_table(
        "rating_rollup",
        sa.Column("grain", sa.String(length=1), nullable=False),
        sa.Column("bucket", sa.Date(), nullable=False),
        sa.Column("department_code", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("rater_type", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(_GRAIN, name=op.f("ck_rating_rollup_grain")),
        sa.PrimaryKeyConstraint(
            "grain",
            "bucket",
            "department_code",
            "channel",
            "rater_type",
            "status",
            "level",
            name=op.f("pk_rating_rollup"),
        ),
        # room on each page, so that adding to a count is a HOT update
        postgresql_with={"fillfactor": 80},
    )
    op.create_table(
        "rating_department_rollup",
        sa.Column("grain", sa.String(length=1), nullable=False),
        sa.Column("bucket", sa.Date(), nullable=False),
        sa.Column("department_code", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(_GRAIN, name=op.f("ck_rating_department_rollup_grain")),
        sa.PrimaryKeyConstraint(
            "grain",
            "bucket",
            "department_code",
            "status",
            "level",
            name=op.f("pk_rating_department_rollup"),
        ),
        postgresql_with={"fillfactor": 80},
    )
    op.create_table(
        "rating_split_rollup",
        sa.Column("grain", sa.String(length=1), nullable=False),
        sa.Column("bucket", sa.Date(), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("rater_type", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(_GRAIN, name=op.f("ck_rating_split_rollup_grain")),
        sa.PrimaryKeyConstraint(
            "grain",
            "bucket",
            "channel",
            "rater_type",
            "status",
            "level",
            name=op.f("pk_rating_split_rollup"),
        ),
        postgresql_with={"fillfactor": 80},
    )
    op.create_table(
        "rating_staff_rollup",
        sa.Column("department_code", sa.String(length=64), nullable=False),
        sa.Column("grain", sa.String(length=1), nullable=False),
        sa.Column("bucket", sa.Date(), nullable=False),
        sa.Column("window_no", sa.String(length=32), nullable=False),
        sa.Column("staff_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(_GRAIN, name=op.f("ck_rating_staff_rollup_grain")),
        sa.PrimaryKeyConstraint(
            "department_code",
            "grain",
            "bucket",
            "window_no",
            "staff_id",
            "status",
            "level",
            name=op.f("pk_rating_staff_rollup"),
        ),
        # room on each page, so that adding to a count is a HOT update
        postgresql_with={"fillfactor": 80},
    )
    op.create_table(
        "rating_tag_rollup",
        sa.Column("grain", sa.String(length=1), nullable=False),
        sa.Column("bucket", sa.Date(), nullable=False),
        sa.Column("department_code", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("rater_type", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("is_bad", sa.Boolean(), nullable=False),
        sa.Column("tag", sa.String(length=32), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(_GRAIN, name=op.f("ck_rating_tag_rollup_grain")),
        sa.PrimaryKeyConstraint(
            "grain",
            "bucket",
            "department_code",
            "channel",
            "rater_type",
            "status",
            "is_bad",
            "tag",
            name=op.f("pk_rating_tag_rollup"),
        ),
        # room on each page, so that adding to a count is a HOT update
        postgresql_with={"fillfactor": 80},
    )
    # The roll-up only passes ids whose inserting transactions have finished, judged by the
    # transaction ids still running. A transaction gets its id at its first write, which is
    # after nextval() has handed out the rating id; this statement trigger assigns it before
    # any rating id is drawn, so "id drawn before T" implies "transaction id assigned before T".
    op.execute(
        """
        CREATE FUNCTION stats_assign_xact_id() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_current_xact_id();
            RETURN NULL;
        END $$;
        """
    )
    op.execute(
        "CREATE TRIGGER stats_assign_xact_id BEFORE INSERT ON rating "
        "FOR EACH STATEMENT EXECUTE FUNCTION stats_assign_xact_id()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS stats_assign_xact_id ON rating")
    op.execute("DROP FUNCTION IF EXISTS stats_assign_xact_id()")
    op.drop_table("rating_tag_rollup")
    op.drop_table("rating_staff_rollup")
    op.drop_table("rating_split_rollup")
    op.drop_table("rating_department_rollup")
    op.drop_table("rating_rollup")
    op.drop_table("rating_rollup_watermark")
