"""provincial docking: default-rating marker, push targets and their push log

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 08:00:00+00:00

`rating.is_default` marks a default rating (系统默认评价, Zhejiang's pf 7): stored, counted apart,
never an active rating. `push_target` is a provincial platform that receives our ratings and
rectification results in its profile's format; `push_item` is one document for one target,
its attempts and the target's answer (the push log, 推送日志). The push reads new ratings past a
per-target cursor (`rating_cursor`), so ingestion writes nothing for it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0012"
down_revision: str | tuple[str, ...] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A constant default: no table rewrite (PostgreSQL 11+ stores it in the catalogue).
    op.add_column(
        "rating", sa.Column("is_default", sa.Boolean(), server_default=sa.false(), nullable=False)
    )
    op.create_table(
        "push_target",
        sa.Column(
            "id",
            postgresql.UUID(as_uuid=True),
            server_default=sa.text("gen_random_uuid()"),
            nullable=False,
        ),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("profile", sa.String(64), nullable=False),
        sa.Column("credentials", sa.Text(), nullable=True),
        sa.Column("area_code", sa.String(12), nullable=True),
        sa.Column("events", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("rating_cursor", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("rectification_since", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_push_target")),
    )
    op.create_table(
        "push_item",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("target_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("ref_id", sa.BigInteger(), nullable=False),
        sa.Column("ref_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("repushes", sa.Integer(), server_default="0", nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_status_code", sa.SmallInteger(), nullable=True),
        sa.Column("last_answer_code", sa.Text(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("kind IN ('rating', 'rectification')", name=op.f("ck_push_item_kind")),
        sa.ForeignKeyConstraint(
            ["target_id"],
            ["push_target.id"],
            name=op.f("fk_push_item_target_id_push_target"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_push_item")),
        sa.UniqueConstraint(
            "target_id",
            "kind",
            "ref_id",
            "ref_at",
            name=op.f("uq_push_item_target_id_kind_ref_id_ref_at"),
        ),
    )
    op.create_index(
        "ix_push_item_pending",
        "push_item",
        ["next_attempt_at", "id"],
        postgresql_where=sa.text("acknowledged_at IS NULL AND failed_at IS NULL"),
    )
    op.create_index("ix_push_item_target_ref_at", "push_item", ["target_id", "ref_at"])


def downgrade() -> None:
    op.drop_index("ix_push_item_target_ref_at", table_name="push_item")
    op.drop_index("ix_push_item_pending", table_name="push_item")
    op.drop_table("push_item")
    op.drop_table("push_target")
    op.drop_column("rating", "is_default")
