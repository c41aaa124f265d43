"""who changes a rating's fate, and lateness kept per round

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 07:00:00+00:00

A withdrawal needs the rater's confirmation: a department asks (state `withdrawal_requested`,
its state before in `withdrawal_from`) and a supervisor confirms or refuses; the counts of
requests and refusals serve the figures. Every change of a rating's status is kept in
`rating_status_change` (who, when, why, the evidence), immutable like the timeline; the
withdrawals and upheld appeals already made are copied there from the timeline.

A reopen starts a new round: `rounds` keeps the earlier ones (deadlines, due/overdue times,
lateness) and `late_rounds` counts the late ones. Orders reopened before this revision had
their earlier round overwritten; their timelines still show it, the columns start empty.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | tuple[str, ...] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STATES_BEFORE = (
    "open", "contacted", "verified", "rectifying", "rectified", "called_back", "appealed",
    "closed",
)  # fmt: skip
_STATES = (*_STATES_BEFORE[:-1], "withdrawal_requested", "closed")


def _state_check(states: tuple[str, ...]) -> str:
    return f"state IN ({', '.join(repr(s) for s in states)})"


def upgrade() -> None:
    op.add_column(
        "work_order",
        sa.Column(
            "rounds",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'"),
            nullable=False,
        ),
    )
    op.add_column(
        "work_order",
        sa.Column("late_rounds", sa.SmallInteger(), server_default=sa.text("0"), nullable=False),
    )
    op.add_column("work_order", sa.Column("withdrawal_from", sa.String(length=20), nullable=True))
    for name in ("withdrawal_requests", "withdrawal_refusals"):
        op.add_column(
            "work_order",
            sa.Column(name, sa.SmallInteger(), server_default=sa.text("0"), nullable=False),
        )
    op.drop_constraint(op.f("ck_work_order_state"), "work_order", type_="check")
    op.create_check_constraint(op.f("ck_work_order_state"), "work_order", _state_check(_STATES))

    op.create_table(
        "rating_status_change",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("rating_id", sa.BigInteger(), nullable=False),
        sa.Column("work_order_id", sa.BigInteger(), nullable=True),
        sa.Column("status_before", sa.String(length=20), nullable=False),
        sa.Column("status_after", sa.String(length=20), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("action", sa.String(length=30), nullable=False),
        sa.Column("actor_key_id", sa.UUID(), nullable=True),
        sa.Column("actor_client_id", sa.UUID(), nullable=True),
        sa.Column("actor_name", sa.String(length=200), nullable=True),
        sa.Column("actor_role", sa.String(length=20), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column(
            "evidence",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["rating_id"], ["rating.id"], name=op.f("fk_rating_status_change_rating_id_rating")
        ),
        sa.ForeignKeyConstraint(
            ["work_order_id"],
            ["work_order.id"],
            name=op.f("fk_rating_status_change_work_order_id_work_order"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rating_status_change")),
    )
    op.create_index(
        "ix_rating_status_change_rating_id", "rating_status_change", ["rating_id", "id"]
    )
    op.execute(
        """
        CREATE FUNCTION rating_status_change_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'rating_status_change rows are immutable';
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER rating_status_change_immutable BEFORE UPDATE OR DELETE "
        "ON rating_status_change FOR EACH ROW EXECUTE FUNCTION rating_status_change_immutable()"
    )
    # The changes already made, from the timeline (no evidence was asked for then).
    op.execute(
        """
        INSERT INTO rating_status_change (rating_id, work_order_id, status_before, status_after,
            at, action, actor_key_id, actor_client_id, actor_name, actor_role, reason, evidence)
        SELECT w.rating_id, w.id, 'valid',
               CASE e.action WHEN 'uphold' THEN 'invalidated' ELSE 'withdrawn' END,
               e.at, e.action, e.actor_key_id, e.actor_client_id, e.actor_name, e.actor_role,
               e.note, '{"recorded_before_evidence_was_required": true}'::jsonb
          FROM work_order_event e
          JOIN work_order w ON w.id = e.work_order_id
         WHERE w.rating_id IS NOT NULL AND e.action IN ('withdraw', 'uphold')
         ORDER BY e.at, e.id
        """
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS rating_status_change_immutable ON rating_status_change")
    op.execute("DROP FUNCTION IF EXISTS rating_status_change_immutable()")
    op.drop_index("ix_rating_status_change_rating_id", table_name="rating_status_change")
    op.drop_table("rating_status_change")
    # A pending withdrawal request goes back to where the order was.
    op.execute(
        "UPDATE work_order SET state = coalesce(withdrawal_from, 'open') "
        "WHERE state = 'withdrawal_requested'"
    )
    op.drop_constraint(op.f("ck_work_order_state"), "work_order", type_="check")
    op.create_check_constraint(
        op.f("ck_work_order_state"), "work_order", _state_check(_STATES_BEFORE)
    )
    for name in ("withdrawal_refusals", "withdrawal_requests", "withdrawal_from", "late_rounds"):
        op.drop_column("work_order", name)
    op.drop_column("work_order", "rounds")
