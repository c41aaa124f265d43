"""The direct path's one statement: re-check the key, insert the rating, write the audit row."""

from __future__ import annotations

import functools
from typing import Any

from app.audit.service import ENTRY_COLUMNS, ENTRY_VALUES
from app.auth.service import Principal
from app.config import IntegritySettings
from app.db import positional
from app.ratings.fastpath.principals import STILL_VALID, still_valid_params
from app.ratings.insert import ONE_EVENT, Shape, insert_params, insert_sql, note_flags, shape
from app.ratings.outcomes import Accepted

# The request's audit entry, one per stored rating (`ins`: none when nothing was stored).
_AUDIT = f"INSERT INTO audit_log ({ENTRY_COLUMNS}) SELECT {ENTRY_VALUES} FROM ins"


# One event and its request's audit row in one statement, on behalf of a principal that the
# statement itself re-checks (principals.STILL_VALID). Atomic on its own, so it needs no
# transaction block: one round trip. Always one row: whether the key held, and the
# stored rating's columns (NULL when nothing was stored). One statement per shape of event.
@functools.cache
def _insert_one_checked(of: Shape) -> tuple[str, tuple[str, ...]]:
    return positional(
        f"WITH k AS ({STILL_VALID}), "
        f"ins AS ({insert_sql(of, ONE_EVENT, 'AND EXISTS (SELECT 1 FROM k)')}), "
        f"aud AS ({_AUDIT}) "
        "SELECT EXISTS (SELECT 1 FROM k) AS key_valid, ins.* "
        "FROM (VALUES (1)) AS one(n) LEFT JOIN ins ON true"
    )


async def store_one(
    driver,
    principal: Principal,
    item: Accepted,
    audit_entry: dict[str, Any],
    integrity: IntegritySettings,
) -> tuple[bool, dict[str, Any] | None]:
    """Store one accepted event with its audit row, outside any transaction block.

    Returns whether the principal still held, and the stored record, or None when nothing was
    stored (the principal no longer holds, a retry of a stored event, an unknown or inactive
    department): then neither row was written."""
    params = insert_params(principal, [item], integrity)
    of = shape(principal, [item.values], integrity)
    sql, names = _insert_one_checked(of)
    params.update(audit_entry)
    params.update(still_valid_params(principal))
    row = await driver.fetchrow(sql, *[params[name] for name in names])
    if row["id"] is None and row["key_valid"] and of.continued:
        # The flood stopped (or a retry, an unknown department): nothing was written; the
        # whole statement decides.
        sql, names = _insert_one_checked(of.whole())
        row = await driver.fetchrow(sql, *[params[name] for name in names])
    if row["id"] is None:
        return row["key_valid"], None
    note_flags(principal.client_id, item.values["department_code"], row["flags"])
    record = item.values
    record.update(
        id=row["id"],
        received_at=row["received_at"],
        status=row["status"],
        flags=row["flags"],
        rater_erased_at=None,
    )
    return True, record
