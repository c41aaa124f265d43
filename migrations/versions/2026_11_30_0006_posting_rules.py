"""posting rules: one follow-up rating per case and client; a client's cases looked up by index

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 06:00:00+00:00

A follow-up rating (追评, assess_number 2) follows a first rating of the same case_no from the
same client, once (app/ratings/rules.py). `uq_rating_follow_up` makes the "once" hold against
racing requests; `ix_rating_client_case_no` serves the look-up of the first rating.

Stored ratings are never changed here: where a client already has more than one follow-up of a
case (accepted before this rule), the upgrade stops and says which, for an administrator to
judge (an upheld appeal invalidates a rating but keeps it; only then can the index be built,
since it covers every follow-up whatever its status).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | tuple[str, ...] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_REPEATED = """
    SELECT client_id, case_no, count(*) AS n FROM rating
     WHERE assess_number = 2 GROUP BY client_id, case_no HAVING count(*) > 1
     ORDER BY client_id, case_no LIMIT 20
"""


def upgrade() -> None:
    repeated = op.get_bind().execute(sa.text(_REPEATED)).all()
    if repeated:
        listed = ", ".join(f"{r.client_id}/{r.case_no} ({r.n})" for r in repeated)
        raise RuntimeError(
            "cannot enforce one follow-up rating per case: these clients' cases have several "
            f"(client/case_no (follow-ups), at most 20 shown): {listed}. Review them "
            "(SELECT * FROM rating WHERE assess_number = 2 AND case_no = ...) and decide what "
            "to do with the surplus ones before upgrading."
        )
    op.create_index(
        "ix_rating_client_case_no",
        "rating",
        ["client_id", "case_no", "assess_number"],
        postgresql_where=sa.text("case_no IS NOT NULL"),
    )
    op.create_index(
        "uq_rating_follow_up",
        "rating",
        ["client_id", "case_no"],
        unique=True,
        postgresql_where=sa.text("assess_number = 2"),
    )


def downgrade() -> None:
    op.drop_index("uq_rating_follow_up", table_name="rating")
    op.drop_index("ix_rating_client_case_no", table_name="rating")
