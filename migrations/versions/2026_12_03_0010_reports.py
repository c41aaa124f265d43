"""reports: staff register, department region codes, complaint source and category, staff tags

Revision ID: 0010
Revises: 0013
Create Date: 2026-12-03 08:00:00+00:00

Seed 002's tables (windows and staff across the centre, 12345 complaints per window) need:
a staff register (`staff`: 工号 → name, department, window) so that tables show names; an
optional administrative-division code (行政区划, GB/T 2260, 6–12 digits) on departments, for
the region ranking of seed 003; a complaint's `source` (12345, 政务服务平台, 办不成事窗口,
现场/意见簿, other; existing complaints came from 12345) and `category_code` (a reason class
shared with the rating tags; the free `category` stays as detail); and the rating tags per
window and staff member (`rating_staff_tag_rollup`, praise counts in the staff table), filled
here from the ratings already rolled up (id <= the watermark), as the roll-up job then keeps it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | tuple[str, ...] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SOURCES = "('hotline_12345', 'gov_platform', 'cannot_do_window', 'onsite', 'other')"
_GRAIN = "grain IN ('y', 'q', 'm', 'd')"
_BUCKET = """CASE g.grain WHEN 'y' THEN date_trunc('year', s.day::timestamp)::date
                         WHEN 'q' THEN date_trunc('quarter', s.day::timestamp)::date
                         WHEN 'm' THEN date_trunc('month', s.day::timestamp)::date
                         ELSE s.day END"""


def upgrade() -> None:
    op.add_column("department", sa.Column("region_code", sa.String(length=12), nullable=True))
    op.create_check_constraint(
        "region_code", "department", "region_code IS NULL OR region_code ~ '^[0-9]{6,12}$'"
    )
    op.create_index("ix_department_region_code", "department", ["region_code"])
    op.create_table(
        "staff",
        sa.Column("staff_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("department_code", sa.String(length=64), nullable=True),
        sa.Column("window_no", sa.String(length=32), nullable=True),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["department_code"], ["department.code"], name=op.f("fk_staff_department_code_department")
        ),
        sa.PrimaryKeyConstraint("staff_id", name=op.f("pk_staff")),
    )
    op.add_column(
        "complaint",
        sa.Column(
            "source", sa.String(length=20), server_default="hotline_12345", nullable=False
        ),
    )
    op.add_column("complaint", sa.Column("category_code", sa.String(length=32), nullable=True))
    op.create_check_constraint("source", "complaint", f"source IN {_SOURCES}")
    op.create_index("ix_complaint_received_at", "complaint", ["received_at"])
    op.create_table(
        "rating_staff_tag_rollup",
        sa.Column("department_code", sa.String(length=64), nullable=False),
        sa.Column("grain", sa.String(length=1), nullable=False),
        sa.Column("bucket", sa.Date(), nullable=False),
        sa.Column("window_no", sa.String(length=32), nullable=False),
        sa.Column("staff_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("tag", sa.String(length=32), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(_GRAIN, name=op.f("ck_rating_staff_tag_rollup_grain")),
        sa.PrimaryKeyConstraint(
            "department_code", "grain", "bucket", "window_no", "staff_id", "status", "tag",
            name=op.f("pk_rating_staff_tag_rollup"),
        ),
        postgresql_with={"fillfactor": 80},
    )
    op.create_index(
        "ix_rating_staff_rollup_bucket", "rating_staff_rollup", ["grain", "bucket"]
    )
    op.create_index(
        "ix_rating_staff_tag_rollup_bucket", "rating_staff_tag_rollup", ["grain", "bucket"]
    )
    op.execute(
        f"""
        WITH src AS (
            SELECT (rated_at AT TIME ZONE 'Asia/Shanghai')::date AS day, department_code,
                   coalesce(window_no, '') AS window_no, coalesce(staff_id, '') AS staff_id,
                   status, t.tag, count(*) AS n
              FROM rating CROSS JOIN LATERAL unnest(tags) AS t(tag)
             WHERE id <= coalesce((SELECT rolled_to FROM rating_rollup_watermark WHERE id = 1), 0)
             GROUP BY 1, 2, 3, 4, 5, 6
        ),
        g AS (SELECT * FROM (VALUES ('y'), ('q'), ('m'), ('d')) AS g(grain))
        INSERT INTO rating_staff_tag_rollup
               (department_code, grain, bucket, window_no, staff_id, status, tag, n)
        SELECT s.department_code, g.grain, {_BUCKET}, s.window_no, s.staff_id, s.status, s.tag,
               sum(s.n)
          FROM src s CROSS JOIN g
         GROUP BY 1, 2, 3, 4, 5, 6, 7
        """
    )


def downgrade() -> None:
    op.drop_index("ix_rating_staff_rollup_bucket", table_name="rating_staff_rollup")
    op.drop_table("rating_staff_tag_rollup")
    op.drop_index("ix_complaint_received_at", table_name="complaint")
    op.drop_constraint(op.f("ck_complaint_source"), "complaint", type_="check")
    op.drop_column("complaint", "category_code")
    op.drop_column("complaint", "source")
    op.drop_table("staff")
    op.drop_index("ix_department_region_code", table_name="department")
    op.drop_constraint(op.f("ck_department_region_code"), "department", type_="check")
    op.drop_column("department", "region_code")
