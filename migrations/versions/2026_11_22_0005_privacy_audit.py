"""personal data encrypted at rest, integrity flags, append-only audit log

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 05:00:00+00:00

Existing names and phone numbers of raters (rating) and 12345 callers (complaint) are encrypted
in place with the configured data key (app/privacy.py: HAOCHAPING_DATA_KEYS, or the key file, or
the development key generated into the data directory) and their phones' keyed hashes filled
in. The downgrade decrypts them back (it needs the same keys).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | tuple[str, ...] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 2000

# (table, name column, phone column, hash column, erased column)
_PERSONAL = (
    ("rating", "rater_name", "rater_phone", "rater_phone_hash", "rater_erased_at"),
    ("complaint", "citizen_name", "citizen_phone", "citizen_phone_hash", "citizen_erased_at"),
)

_AUDIT_FUNCTIONS = (
    """
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Only audit_log_purge() deletes, and only entries older than 180 days.
    IF TG_OP = 'DELETE' AND current_setting('haochaping.audit_purge', true) = 'on'
       AND OLD.at < now() - interval '180 days' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$
""",
    """
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()
""",
    """
CREATE FUNCTION audit_log_purge(keep interval DEFAULT interval '180 days') RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    removed bigint;
BEGIN
    IF keep < interval '180 days' THEN
        RAISE EXCEPTION 'the audit log is kept at least 180 days';
    END IF;
    PERFORM set_config('haochaping.audit_purge', 'on', true);
    DELETE FROM audit_log WHERE at < now() - keep;
    GET DIAGNOSTICS removed = ROW_COUNT;
    PERFORM set_config('haochaping.audit_purge', 'off', true);
    RETURN removed;
END
$$
""",
)


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column(
            "at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("actor_key_id", sa.UUID(), nullable=True),
        sa.Column("actor_client_id", sa.UUID(), nullable=True),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("action", sa.String(length=200), nullable=False),
        sa.Column("target", sa.Text(), nullable=True),
        sa.Column("result", sa.String(length=40), nullable=False),
        sa.Column("request_id", sa.String(length=200), nullable=True),
        sa.Column("detail", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"], postgresql_using="brin")
    op.create_index("ix_audit_log_actor_client_id_id", "audit_log", ["actor_client_id", "id"])
    op.create_index("ix_audit_log_target_id", "audit_log", ["target", "id"])
    for statement in _AUDIT_FUNCTIONS:
        op.execute(statement)

    op.add_column("rating", sa.Column("flags", postgresql.ARRAY(sa.Text()), nullable=True))
    op.create_index(
        "ix_rating_flagged_rated_at_id",
        "rating",
        ["rated_at", "id"],
        postgresql_where=sa.text("flags IS NOT NULL"),
    )
    for table, name, phone, phone_hash, erased in _PERSONAL:
        op.alter_column(table, name, type_=sa.Text(), existing_nullable=True)
        op.alter_column(table, phone, type_=sa.Text(), existing_nullable=True)
        op.add_column(table, sa.Column(phone_hash, sa.LargeBinary(length=32), nullable=True))
        op.add_column(table, sa.Column(erased, sa.DateTime(timezone=True), nullable=True))
        _encrypt(table, name, phone, phone_hash)
    op.create_index(
        "ix_rating_phone_hash",
        "rating",
        ["rater_phone_hash", "department_code", "rated_at"],
        postgresql_where=sa.text("rater_phone_hash IS NOT NULL"),
    )
    op.create_index(
        "ix_rating_personal_data_rated_at",
        "rating",
        ["rated_at"],
        postgresql_where=sa.text("rater_name IS NOT NULL OR rater_phone IS NOT NULL"),
    )
    op.create_index(
        "ix_complaint_citizen_phone_hash",
        "complaint",
        ["citizen_phone_hash"],
        postgresql_where=sa.text("citizen_phone_hash IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_complaint_citizen_phone_hash", table_name="complaint")
    op.drop_index("ix_rating_personal_data_rated_at", table_name="rating")
    op.drop_index("ix_rating_phone_hash", table_name="rating")
    for table, name, phone, phone_hash, erased in _PERSONAL:
        _decrypt(table, name, phone)
        op.drop_column(table, erased)
        op.drop_column(table, phone_hash)
        op.alter_column(table, phone, type_=sa.String(length=20), existing_nullable=True)
        op.alter_column(table, name, type_=sa.String(length=100), existing_nullable=True)
    op.drop_index("ix_rating_flagged_rated_at_id", table_name="rating")
    op.drop_column("rating", "flags")
    op.execute("DROP TRIGGER audit_log_append_only ON audit_log")
    op.execute("DROP FUNCTION audit_log_purge(interval)")
    op.execute("DROP FUNCTION audit_log_append_only()")
    op.drop_index("ix_audit_log_target_id", table_name="audit_log")
    op.drop_index("ix_audit_log_actor_client_id_id", table_name="audit_log")
    op.drop_index("ix_audit_log_at", table_name="audit_log")
    op.drop_table("audit_log")


# --- data ---------------------------------------------------------------------------------------


def _rows(table: str, name: str, phone: str, after: int):
    bind = op.get_bind()
    return bind.execute(
        sa.text(
            f"SELECT id, {name} AS name, {phone} AS phone FROM {table} "
            f"WHERE id > :after AND ({name} IS NOT NULL OR {phone} IS NOT NULL) "
            f"ORDER BY id LIMIT {_BATCH}"
        ),
        {"after": after},
    ).all()


def _encrypt(table: str, name: str, phone: str, phone_hash: str) -> None:
    from app import privacy

    ring = None
    after = 0
    while rows := _rows(table, name, phone, after):
        ring = ring or privacy.keyring()
        params = [
            {
                "id": row.id,
                "name": None if privacy.is_envelope(row.name) else row.name,
                "phone": None if privacy.is_envelope(row.phone) else row.phone,
            }
            for row in rows
        ]
        op.get_bind().execute(
            sa.text(
                f"UPDATE {table} SET {name} = coalesce(:name_sealed, {name}), "
                f"{phone} = coalesce(:phone_sealed, {phone}), "
                f"{phone_hash} = coalesce(:phone_hash, {phone_hash}) WHERE id = :id"
            ),
            [
                {
                    "id": p["id"],
                    "name_sealed": ring.encrypt(p["name"], f"{table}.{name}"),
                    "phone_sealed": ring.encrypt(p["phone"], f"{table}.{phone}"),
                    "phone_hash": ring.phone_hash(p["phone"]),
                }
                for p in params
            ],
        )
        after = rows[-1].id


def _decrypt(table: str, name: str, phone: str) -> None:
    from app import privacy

    ring = None
    after = 0
    while rows := _rows(table, name, phone, after):
        ring = ring or privacy.keyring()
        op.get_bind().execute(
            sa.text(f"UPDATE {table} SET {name} = :name, {phone} = :phone WHERE id = :id"),
            [
                {
                    "id": row.id,
                    "name": ring.decrypt(row.name, f"{table}.{name}")
                    if privacy.is_envelope(row.name)
                    else row.name,
                    "phone": ring.decrypt(row.phone, f"{table}.{phone}")
                    if privacy.is_envelope(row.phone)
                    else row.phone,
                }
                for row in rows
            ],
        )
        after = rows[-1].id
