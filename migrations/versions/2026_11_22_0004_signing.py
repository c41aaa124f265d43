"""signed requests: client.require_signature, spent nonces; merges the two heads

Revision ID: 0004
Revises: 0002, 0003
Create Date: 2026-11-22 04:00:00+00:00

Existing device clients keep require_signature = false: their tablets post unsigned today and
would all be refused the moment the migration ran. An administrator turns it on per device
(PATCH /v1/clients/{id}) once its firmware signs; devices registered from now on start with it on.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | tuple[str, ...] | None = ("0002", "0003")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "client",
        sa.Column(
            "require_signature", sa.Boolean(), server_default=sa.text("false"), nullable=False
        ),
    )
    op.create_table(
        "request_nonce",
        sa.Column("key_id", sa.UUID(), nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key_id", "nonce", name=op.f("pk_request_nonce")),
    )
    op.create_index("ix_request_nonce_expires_at", "request_nonce", ["expires_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_request_nonce_expires_at", table_name="request_nonce")
    op.drop_table("request_nonce")
    op.drop_column("client", "require_signature")
