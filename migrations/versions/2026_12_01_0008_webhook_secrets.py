"""webhook secrets encrypted at rest

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 08:00:00+00:00

The HMAC secrets of webhook subscriptions were stored in clear. They are sealed in place here
with the configured data key, as personal data is (app/privacy.py: an AES-GCM envelope with its
key id, context `webhook_subscription.secret`); secrets already sealed are left alone, so the
upgrade may be run again. The downgrade opens them back (it needs the same keys).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | tuple[str, ...] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CONTEXT = "webhook_subscription.secret"


def _secrets() -> list:
    return op.get_bind().execute(sa.text("SELECT id, secret FROM webhook_subscription")).all()


def _write(rows: list[dict]) -> None:
    if rows:
        op.get_bind().execute(
            sa.text("UPDATE webhook_subscription SET secret = :secret WHERE id = :id"), rows
        )


def upgrade() -> None:
    from app import privacy

    rows = [row for row in _secrets() if not privacy.is_envelope(row.secret)]
    if rows:
        ring = privacy.keyring()
        _write([{"id": row.id, "secret": ring.encrypt(row.secret, _CONTEXT)} for row in rows])


def downgrade() -> None:
    from app import privacy

    rows = [row for row in _secrets() if privacy.is_envelope(row.secret)]
    if rows:
        ring = privacy.keyring()
        _write([{"id": row.id, "secret": ring.decrypt(row.secret, _CONTEXT)} for row in rows])
