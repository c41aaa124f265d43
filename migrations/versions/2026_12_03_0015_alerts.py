"""early warning: alert rules and alerts (one open episode per rule and subject)

Revision ID: 0015
Revises: 0009
Create Date: 2026-12-03 08:00:00+00:00

Supervisors set alert rules (a burst of 差评 at a window, a department's good rate over its
last ratings, a silent tablet, a work order due soon); a job raises an alert once per episode
of a rule's condition on a subject. The partial unique index on (rule, subject) among open
episodes keeps two evaluation rounds from raising the same episode twice.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0015"
down_revision: str | tuple[str, ...] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KINDS = "'window_bad_burst', 'department_good_rate', 'device_silent', 'order_due_soon'"
_SUBJECTS = "'window', 'department', 'device', 'order'"


def upgrade() -> None:
    op.create_table(
        "alert_rule",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("department_code", sa.String(length=64), nullable=True),
        sa.Column("params", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(f"kind IN ({_KINDS})", name=op.f("ck_alert_rule_kind")),
        sa.ForeignKeyConstraint(
            ["department_code"],
            ["department.code"],
            name=op.f("fk_alert_rule_department_code_department"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_rule")),
    )
    op.create_table(
        "alert",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("rule_id", sa.BigInteger(), nullable=True),
        sa.Column("rule_name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("subject_type", sa.String(length=20), nullable=False),
        sa.Column("subject_key", sa.String(length=200), nullable=False),
        sa.Column("department_code", sa.String(length=64), nullable=True),
        sa.Column("window_no", sa.String(length=32), nullable=True),
        sa.Column("evidence", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cleared_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by_key_id", sa.UUID(), nullable=True),
        sa.Column("acknowledged_by_client_id", sa.UUID(), nullable=True),
        sa.Column("acknowledged_by_name", sa.String(length=200), nullable=True),
        sa.Column("acknowledged_by_role", sa.String(length=20), nullable=True),
        sa.Column("ack_note", sa.Text(), nullable=True),
        sa.CheckConstraint(f"subject_type IN ({_SUBJECTS})", name=op.f("ck_alert_subject_type")),
        sa.ForeignKeyConstraint(
            ["rule_id"],
            ["alert_rule.id"],
            name=op.f("fk_alert_rule_id_alert_rule"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert")),
    )
    op.create_index(
        "uq_alert_open_episode",
        "alert",
        ["rule_id", "subject_key"],
        unique=True,
        postgresql_where=sa.text("cleared_at IS NULL"),
    )
    op.create_index("ix_alert_department_id", "alert", ["department_code", "id"])
    op.create_index(
        "ix_alert_unacknowledged_id",
        "alert",
        ["id"],
        postgresql_where=sa.text("acknowledged_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_alert_unacknowledged_id", table_name="alert")
    op.drop_index("ix_alert_department_id", table_name="alert")
    op.drop_index("uq_alert_open_episode", table_name="alert")
    op.drop_table("alert")
    op.drop_table("alert_rule")
