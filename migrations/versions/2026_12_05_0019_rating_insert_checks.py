"""the checks PostgreSQL makes on every rating insert made cheaper; clients and departments kept

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-05 08:00:00+00:00

Two costs every INSERT into `rating` paid that buy nothing the service does not already have:

- The foreign keys to `client` and `department`. PostgreSQL checks each new row with a query
  that locks the parent row FOR KEY SHARE: every rating writes a lock on its client's and its
  department's row, and concurrent ratings of one portal or one department (the usual case)
  turn those locks into multixacts. The insert itself already names an existing, active
  department (it joins `department`), and its client is the principal's, whose key the direct
  path re-checks in the same statement. What the keys added was that a parent cannot go
  away: here a guard on each parent refuses that outright. A client or a department is never
  deleted, nor its key changed (ratings, work orders, figures and the audit log name them):
  a client's keys are revoked, a department is deactivated.
- The CHECKs on channel, rater_type and status, written `IN ('a', 'b', ...)`, which PostgreSQL
  stores as an array built of one cast constant per value and reads back from text on every
  INSERT statement; as one constant array (`= ANY ('{a,b}'::text[])`) they allow the same
  values and read back in a fraction of the time.

Measured with bench/ingest.py (README "Performance"): together with the one-event INSERT
without its Sort node, about 0.02-0.03 ms of CPU less per single-event POST, 0.004 ms per event
in batches.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0019"
down_revision: str | tuple[str, ...] | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (constraint, column, allowed values), as app/ratings/models.py declares them.
_CHECKS = (
    (
        "ck_rating_channel",
        "channel",
        (
            "window_device",
            "pc",
            "mobile",
            "self_service",
            "qr_code",
            "sms",
            "hotline",
            "phone_callback",
            "onsite_survey",
        ),
    ),
    ("ck_rating_rater_type", "rater_type", ("individual", "enterprise", "anonymous")),
    ("ck_rating_status", "status", ("valid", "withdrawn", "invalidated")),
)

_GUARD = """
CREATE FUNCTION parent_kept() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '%', TG_ARGV[0] USING ERRCODE = 'restrict_violation';
END
$$
"""
# (table, key column, the refusal's message)
_PARENTS = (
    (
        "client",
        "id",
        "a client is never deleted nor its id changed (its ratings, work orders and audit "
        "entries name it): revoke its keys instead",
    ),
    (
        "department",
        "code",
        "a department is never deleted nor its code changed (its ratings, work orders and "
        "figures name it): deactivate it instead",
    ),
)


def upgrade() -> None:
    op.drop_constraint("fk_rating_client_id_client", "rating", type_="foreignkey")
    op.drop_constraint("fk_rating_department_code_department", "rating", type_="foreignkey")
    op.execute(_GUARD)
    for table, key, message in _PARENTS:
        for event, when in (("DELETE", ""), (f"UPDATE OF {key}", f"WHEN (OLD.{key} <> NEW.{key})")):
            op.execute(
                f"CREATE TRIGGER {table}_kept_{event.split()[0].lower()} BEFORE {event} ON {table} "
                f"FOR EACH ROW {when} EXECUTE FUNCTION parent_kept('{message}')"
            )
    for name, column, values in _CHECKS:
        op.execute(
            f"ALTER TABLE rating DROP CONSTRAINT {name}, ADD CONSTRAINT {name} "
            f"CHECK ({column}::text = ANY ('{{{','.join(values)}}}'::text[]))"
        )


def downgrade() -> None:
    for name, column, values in _CHECKS:
        listed = ", ".join(f"'{value}'" for value in values)
        op.execute(
            f"ALTER TABLE rating DROP CONSTRAINT {name}, "
            f"ADD CONSTRAINT {name} CHECK ({column} IN ({listed}))"
        )
    for table, _key, _message in _PARENTS:
        op.execute(f"DROP TRIGGER {table}_kept_delete ON {table}")
        op.execute(f"DROP TRIGGER {table}_kept_update ON {table}")
    op.execute("DROP FUNCTION parent_kept()")
    op.create_foreign_key(
        "fk_rating_department_code_department", "rating", "department", ["department_code"], ["code"]
    )
    op.create_foreign_key("fk_rating_client_id_client", "rating", "client", ["client_id"], ["id"])
