"""kiosk: device enrolments, the staff on duty at a device, rating links (QR codes)

Revision ID: 0013
Revises: 0015
Create Date: 2026-12-03 08:00:00+00:00

The tablet page (/kiosk) is enrolled once through a one-time link (`device_enrolment`: the
token's SHA-256, its expiry, when it was redeemed and the key it handed over); the staff member
on duty and the case being handled at a device are `device_session`; the QR-code page
(/r/{token}) is authorised by a `rating_link`, for one window (long-lived, rotatable, its token
also sealed with the data key so that its QR code can be drawn again) or one case. The
downgrade drops the three tables (the ratings posted through them stay).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0013"
down_revision: str | tuple[str, ...] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "device_enrolment",
        sa.Column(
            "id",
            postgresql.UUID(as_uuid=True),
            server_default=sa.text("gen_random_uuid()"),
            nullable=False,
        ),
        sa.Column("device_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("token_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("created_at", _TZ, nullable=False),
        sa.Column("expires_at", _TZ, nullable=False),
        sa.Column("redeemed_at", _TZ, nullable=True),
        sa.Column("key_id", postgresql.UUID(as_uuid=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["device_id"], ["device.id"], name="fk_device_enrolment_device_id_device"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_device_enrolment"),
        sa.UniqueConstraint("token_hash", name="uq_device_enrolment_token_hash"),
    )
    op.create_index("ix_device_enrolment_device_id", "device_enrolment", ["device_id"])
    op.create_table(
        "device_session",
        sa.Column("device_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("staff_id", sa.String(64), nullable=True),
        sa.Column("case_no", sa.String(64), nullable=True),
        sa.Column("set_by", sa.String(20), nullable=False),
        sa.Column("updated_at", _TZ, server_default=sa.func.now(), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"], ["device.id"], name="fk_device_session_device_id_device"
        ),
        sa.PrimaryKeyConstraint("device_id", name="pk_device_session"),
    )
    op.create_table(
        "rating_link",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("token_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("token_sealed", sa.Text(), nullable=True),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("department_code", sa.String(64), nullable=False),
        sa.Column("window_no", sa.String(32), nullable=True),
        sa.Column("case_no", sa.String(64), nullable=True),
        sa.Column("staff_id", sa.String(64), nullable=True),
        sa.Column("created_at", _TZ, nullable=False),
        sa.Column("expires_at", _TZ, nullable=True),
        sa.Column("revoked_at", _TZ, nullable=True),
        sa.CheckConstraint("kind IN ('window', 'case')", name="ck_rating_link_kind"),
        sa.CheckConstraint(
            "(kind = 'case') = (case_no IS NOT NULL)", name="ck_rating_link_case_bound"
        ),
        sa.ForeignKeyConstraint(
            ["department_code"],
            ["department.code"],
            name="fk_rating_link_department_code_department",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_rating_link"),
        sa.UniqueConstraint("token_hash", name="uq_rating_link_token_hash"),
    )
    op.create_index(
        "uq_rating_link_window",
        "rating_link",
        ["department_code", "window_no"],
        unique=True,
        postgresql_where=sa.text("kind = 'window' AND revoked_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("uq_rating_link_window", table_name="rating_link")
    op.drop_table("rating_link")
    op.drop_table("device_session")
    op.drop_index("ix_device_enrolment_device_id", table_name="device_enrolment")
    op.drop_table("device_enrolment")
