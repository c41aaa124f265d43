"""free text encrypted at rest: comments, complaint contents, work-order summaries

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 08:00:00+00:00

A comment such as "请回电13955554444 我叫孙七" was stored and shown in clear. Ratings' comments
and complaints' contents are sealed in place here with the configured data key (app/privacy.py
envelopes, contexts `rating.comment` and `complaint.content`), and each comment gets its keyed
digest (`rating.comment_hash`: the identical_burst flag compares digests, as sealed comments
differ). Work-order summaries are replaced by the masked form of their text (phones, 身份证号
and the rater's or caller's name masked, app/masking.py) and sealed (`work_order.summary`); the
whole text stays with the rating or complaint, for the audited read. Values already sealed are
left alone, so the upgrade may be run again. The retention job's partial indexes follow what it
now visits (commented ratings; every complaint once).

The downgrade opens everything back (it needs the same keys); summaries of rating and
complaint orders are rebuilt whole from their comment and content, as they were.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | tuple[str, ...] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 2000


def _batches(select: str):
    """Rows of `select` (which has `id > :after ... ORDER BY id LIMIT :limit`), batch by batch."""
    after = 0
    while rows := op.get_bind().execute(sa.text(select), {"after": after, "limit": _BATCH}).all():
        yield rows
        after = rows[-1].id


def _update(sql: str, params: list[dict]) -> None:
    if params:
        op.get_bind().execute(sa.text(sql), params)


def upgrade() -> None:
    from app import privacy
    from app.privacy.masking import mask_text

    op.add_column("rating", sa.Column("comment_hash", sa.LargeBinary(length=32), nullable=True))
    ring = privacy.keyring
    for rows in _batches(
        "SELECT id, comment FROM rating WHERE id > :after AND comment IS NOT NULL "
        "ORDER BY id LIMIT :limit"
    ):
        _update(
            "UPDATE rating SET comment = :comment, comment_hash = :comment_hash WHERE id = :id",
            [
                {
                    "id": row.id,
                    "comment": ring().seal_text(clear, "rating.comment"),
                    "comment_hash": ring().text_digest(clear),
                }
                for row in rows
                for clear in [ring().open_text(row.comment, "rating.comment")]
            ],
        )
    for rows in _batches(
        "SELECT id, content FROM complaint WHERE id > :after ORDER BY id LIMIT :limit"
    ):
        _update(
            "UPDATE complaint SET content = :content WHERE id = :id",
            [
                {"id": row.id, "content": ring().seal_text(row.content, "complaint.content")}
                for row in rows
                if not privacy.is_envelope(row.content)
            ],
        )
    # The summary's text with the name it was written by (the rater's or the caller's).
    for rows in _batches(
        "SELECT w.id, w.summary, r.rater_name, c.citizen_name FROM work_order w "
        "LEFT JOIN rating r ON r.id = w.rating_id "
        "LEFT JOIN complaint c ON c.id = w.complaint_id "
        "WHERE w.id > :after AND w.summary IS NOT NULL ORDER BY w.id LIMIT :limit"
    ):
        params = []
        for row in rows:
            if privacy.is_envelope(row.summary):
                continue
            name = ring().decrypt(row.rater_name, "rating.rater_name") or ring().decrypt(
                row.citizen_name, "complaint.citizen_name"
            )
            masked = mask_text(row.summary, (name,))
            params.append({"id": row.id, "summary": ring().seal_text(masked, "work_order.summary")})
        _update("UPDATE work_order SET summary = :summary WHERE id = :id", params)

    op.drop_index("ix_rating_personal_data_rated_at", table_name="rating")
    op.create_index(
        "ix_rating_personal_data_rated_at",
        "rating",
        ["rated_at"],
        postgresql_where=sa.text(
            "rater_name IS NOT NULL OR rater_phone IS NOT NULL OR comment_hash IS NOT NULL"
        ),
    )
    op.create_index(
        "ix_complaint_retention_received_at",
        "complaint",
        ["received_at"],
        postgresql_where=sa.text("citizen_erased_at IS NULL"),
    )


def downgrade() -> None:
    from app import privacy

    ring = privacy.keyring
    op.drop_index("ix_complaint_retention_received_at", table_name="complaint")
    op.drop_index("ix_rating_personal_data_rated_at", table_name="rating")
    op.create_index(
        "ix_rating_personal_data_rated_at",
        "rating",
        ["rated_at"],
        postgresql_where=sa.text("rater_name IS NOT NULL OR rater_phone IS NOT NULL"),
    )
    for rows in _batches(
        "SELECT id, comment FROM rating WHERE id > :after AND comment IS NOT NULL "
        "ORDER BY id LIMIT :limit"
    ):
        _update(
            "UPDATE rating SET comment = :comment WHERE id = :id",
            [
                {"id": row.id, "comment": ring().open_text(row.comment, "rating.comment")}
                for row in rows
                if privacy.is_envelope(row.comment)
            ],
        )
    for rows in _batches(
        "SELECT id, content FROM complaint WHERE id > :after ORDER BY id LIMIT :limit"
    ):
        _update(
            "UPDATE complaint SET content = :content WHERE id = :id",
            [
                {"id": row.id, "content": ring().open_text(row.content, "complaint.content")}
                for row in rows
                if privacy.is_envelope(row.content)
            ],
        )
    # Summaries as they were: the comment or content whole (now in clear again); an
    # inspection's own summary opened.
    op.execute(
        "UPDATE work_order w SET summary = r.comment FROM rating r "
        "WHERE r.id = w.rating_id AND w.source = 'rating'"
    )
    op.execute(
        "UPDATE work_order w SET summary = c.content FROM complaint c "
        "WHERE c.id = w.complaint_id AND w.source = 'complaint'"
    )
    for rows in _batches(
        "SELECT id, summary FROM work_order WHERE id > :after AND summary IS NOT NULL "
        "ORDER BY id LIMIT :limit"
    ):
        _update(
            "UPDATE work_order SET summary = :summary WHERE id = :id",
            [
                {"id": row.id, "summary": ring().open_text(row.summary, "work_order.summary")}
                for row in rows
                if privacy.is_envelope(row.summary)
            ],
        )
    op.drop_column("rating", "comment_hash")
