"""Young tables analysed as they grow, so that the statements' cached plans follow them.

PostgreSQL plans a prepared statement afresh five times, then keeps one generic plan for the
connection. On a new installation those first executions come while `rating` holds a handful
of rows and has never been analysed: every index then costs about one page, and the plan keeps
whichever came first in a tie. The integrity probes of the INSERT (app/ratings/insert.py) were
planned on ix_rating_rated_at_id (every department's ratings in the time window) and on the
client's unique index (all of its ratings) and kept them, reading 155 + 709 index rows per event
in bench/ingest.py --traffic spread where the department's index reads about 8, until
autovacuum's first ANALYZE (up to a minute later, then 10% of the table each time) made
PostgreSQL plan them again. The same happens after a bulk load into a small table.

This job closes that gap: a table that is still small (fewer than YOUNG_ROWS at its last
analysis, or never analysed) and has changed by at least its own size since (and at least
MIN_CHANGES rows) is analysed at once. ANALYZE updates the table's statistics, which discards
every cached plan that reads it; the next execution plans with the table as it now is. A grown
table is autovacuum's alone: this job does nothing there. One round is one query on the
statistics views; several server processes may run it (SKIP_LOCKED: one ANALYZE at a time).
"""

from __future__ import annotations

import logging

from sqlalchemy import text

from app.jobs import JobContext, Jobs

log = logging.getLogger(__name__)

YOUNG_ROWS = 100_000
MIN_CHANGES = 1_000
EVERY_SECONDS = 1.0

_DUE = text(
    """
    SELECT format('%I.%I', s.schemaname, s.relname) AS name
      FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
     WHERE c.reltuples < :young
       AND s.n_mod_since_analyze >= greatest(:min_changes, c.reltuples)
    """
)


async def analyze_young_tables(context: JobContext) -> list[str]:
    """Analyse the tables that are due (see the module's text); their names."""
    async with context.engine.connect() as conn:
        due = [
            row.name
            for row in await conn.execute(_DUE, {"young": YOUNG_ROWS, "min_changes": MIN_CHANGES})
        ]
        await conn.commit()
        for name in due:  # each in its own transaction: its lock held no longer than needed
            await conn.execute(text(f"ANALYZE (SKIP_LOCKED) {name}"))
            await conn.commit()
    if due:
        log.debug("analysed %s", ", ".join(due))
    return due


def register(jobs: Jobs) -> None:
    jobs.add("planner statistics", analyze_young_tables, every=EVERY_SECONDS, first="run")
