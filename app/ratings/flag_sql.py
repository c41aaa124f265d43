"""The integrity flags (app/ratings/flags.py) as SQL: one expression per rule for the INSERT
(app/ratings/insert.py), giving the flag's name or NULL, in two forms for the two rules that
read the department's latest ratings."""

from __future__ import annotations

# A stored rating of the event's bare pattern (flags.bare): the same client, channel and level,
# anonymous, no comment.
_OF_THE_PATTERN = (
    "r.client_id IS NOT DISTINCT FROM :client_id AND r.channel = u.channel"
    " AND r.level = u.level AND r.rater_type = 'anonymous' AND coalesce(r.comment, '') = ''"
)

# An event of the bare pattern: no comment, anonymous (flags.bare).
_BARE = "coalesce(u.comment, '') = '' AND u.rater_type = 'anonymous'"
# The continuation checks, each one backward index scan stopping at its first row.
# A burst goes on: the latest of the event's pattern at or just before it is flagged.
_BARE_GOES_ON = f"""
                    SELECT 'bare_burst' = ANY(r.flags) FROM rating r
                     WHERE r.department_code = u.department_code
                       AND r.rated_at > u.rated_at - CAST(:bare_gap AS interval)
                       AND r.rated_at <= u.rated_at
                       AND {_OF_THE_PATTERN}
                     ORDER BY r.rated_at DESC LIMIT 1"""
# A share goes on: the department's latest rating is this client's and had the share; with
# this one the share can only hold (the sample slides by one).
_SHARE_GOES_ON = """
                    SELECT r.client_id = :client_id AND 'source_share' = ANY(r.flags)
                      FROM rating r
                     WHERE r.department_code = u.department_code
                       AND r.rated_at > u.rated_at - CAST(:share_gap AS interval)
                       AND r.rated_at <= u.rated_at
                     ORDER BY r.rated_at DESC LIMIT 1"""

# The integrity flags (app/ratings/flags.py), each an expression giving its name or NULL: the
# stored ratings by index probes, plus what the earlier events of this request contribute
# (computed in Python). A probe names its client with IS NOT DISTINCT FROM, which no index
# takes: with `=`, a plan made while `rating` was small (app/planner.py) could read the client's
# ratings through uq_rating_client_id_event_id (all of them) instead of the department's
# window through ix_rating_department_rated_at_id.
FLAG_SQL = {
    "rapid_device": """
             CASE WHEN u.fast OR (CAST(:is_device AS boolean) AND EXISTS (
                    SELECT 1 FROM rating r
                     WHERE r.department_code = u.department_code
                       AND r.client_id IS NOT DISTINCT FROM :client_id
                       AND r.rated_at > u.rated_at - CAST(:device_gap AS interval)
                       AND r.rated_at < u.rated_at + CAST(:device_gap AS interval)))
                  THEN 'rapid_device' END""",
    "repeat_phone": """
             CASE WHEN u.rater_phone_hash IS NOT NULL AND u.phone_prior + (
                    SELECT count(*) FROM (
                      SELECT 1 FROM rating r
                       WHERE r.rater_phone_hash = u.rater_phone_hash
                         AND r.department_code = u.department_code
                         AND r.rated_at >= u.day_start
                         AND r.rated_at < u.day_start + interval '1 day'
                       LIMIT :phone_limit) AS p) >= :phone_limit - 1
                  THEN 'repeat_phone' END""",
    "identical_burst": """
             CASE WHEN (coalesce(u.comment, '') <> '' OR u.window_no IS NOT NULL)
                   AND u.burst_prior + (
                    SELECT count(*) FROM (
                      SELECT 1 FROM rating r
                       WHERE r.department_code = u.department_code
                         AND r.rated_at > u.rated_at - CAST(:burst_gap AS interval)
                         AND r.rated_at < u.rated_at + CAST(:burst_gap AS interval)
                         AND r.level = u.level
                         AND r.window_no IS NOT DISTINCT FROM u.window_no
                         -- comments are sealed: equal ones have equal keyed digests
                         AND r.comment_hash IS NOT DISTINCT FROM u.comment_hash
                       LIMIT :burst_count) AS b) >= :burst_count - 1
                  THEN 'identical_burst' END""",
    "bare_burst": f"""
             CASE WHEN {_BARE} AND (u.bare_prior >= :bare_count - 1 OR (
{_BARE_GOES_ON}) OR u.bare_prior + (
                    SELECT count(*) FROM (
                      SELECT 1 FROM rating r
                       WHERE r.department_code = u.department_code
                         AND r.rated_at > u.rated_at - CAST(:bare_gap AS interval)
                         AND r.rated_at < u.rated_at + CAST(:bare_gap AS interval)
                         AND {_OF_THE_PATTERN}
                       LIMIT :bare_count) AS b) >= :bare_count - 1)
                  THEN 'bare_burst' END""",
    "source_share": f"""
             -- the department's latest ratings before this one: the request's earlier events
             -- (arriving now), then the stored ones
             CASE WHEN u.share_prior >= :share_sample - 1 OR (
{_SHARE_GOES_ON}) OR (
                    -- the stored part of the sample (the latest share_sample - 1 - share_prior)
                    -- is all there, with at most share_sample - share_needed of others: the
                    -- running count of others stops the scan once over (a run condition), so
                    -- ordinary traffic reads a few rows, not the whole sample
                    SELECT count(*) >= :share_sample - 1 - u.share_prior FROM (
                      SELECT count(CASE WHEN s.client_id <> :client_id THEN 1 END)
                               OVER (ORDER BY s.rated_at DESC, s.id DESC ROWS UNBOUNDED PRECEDING)
                               AS others
                        FROM (
                          SELECT r.client_id, r.rated_at, r.id FROM rating r
                           WHERE r.department_code = u.department_code
                             AND r.rated_at > u.rated_at - CAST(:share_gap AS interval)
                             AND r.rated_at <= u.rated_at
                           ORDER BY r.rated_at DESC, r.id DESC
                           LIMIT :share_sample - 1 - u.share_prior) AS s) AS w
                     WHERE w.others <= :share_sample - :share_needed)
                  THEN 'source_share' END""",
}

# The same two rules reading the stored ratings in one scan each, not two: the continuation
# check (the latest of the pattern, the department's latest) is answered by the rows the count
# reads. Which form a statement takes is the shape's `one_scan`: a batch always (the request's
# own earlier events, the priors, settle a flood after its first few events), one event unless
# its client's latest single rating of the department, as this process stored it, was
# flagged: in a flood the continuation check stops at the first row, where the count would
# read the whole sample (GOES_ON below, then the two-scan form if the flood stopped); in
# ordinary traffic every probe runs, and one scan a rule reads less.
# All forms flag alike (tests/ratings/test_flag_sql_batch.py).
FLAG_SQL_MANY = {
    **FLAG_SQL,
    "bare_burst": f"""
             CASE WHEN {_BARE} AND (u.bare_prior >= :bare_count - 1 OR (
                    -- the latest of the pattern up to this one is flagged (a burst goes on),
                    -- or enough of the pattern around it; the rows newest first, so that the
                    -- first at or before this one is the latest (array_agg keeps their order)
                    SELECT coalesce((array_agg('bare_burst' = ANY(b.flags))
                                       FILTER (WHERE b.rated_at <= u.rated_at))[1], false)
                           OR u.bare_prior + count(*) >= :bare_count - 1
                      FROM (
                        SELECT r.rated_at, r.flags FROM rating r
                         WHERE r.department_code = u.department_code
                           AND r.rated_at > u.rated_at - CAST(:bare_gap AS interval)
                           AND r.rated_at < u.rated_at + CAST(:bare_gap AS interval)
                           AND {_OF_THE_PATTERN}
                         ORDER BY r.rated_at DESC
                         LIMIT :bare_count) AS b))
                  THEN 'bare_burst' END""",
    "source_share": """
             CASE WHEN u.share_prior >= :share_sample - 1 OR (
                    -- the department's latest rating is this client's with the flag, or the
                    -- stored part of the sample is all there with few enough others (as
                    -- FLAG_SQL's two probes, from one scan of the latest ratings)
                    SELECT count(*) >= :share_sample - 1 - u.share_prior
                           OR coalesce(bool_or(w.position = 1 AND w.mine_flagged), false)
                      FROM (
                        SELECT count(CASE WHEN s.client_id <> :client_id THEN 1 END)
                                 OVER latest AS others,
                               count(*) OVER latest AS position,
                               s.client_id = :client_id AND 'source_share' = ANY(s.flags)
                                 AS mine_flagged
                          FROM (
                            SELECT r.client_id, r.flags, r.rated_at, r.id FROM rating r
                             WHERE r.department_code = u.department_code
                               AND r.rated_at > u.rated_at - CAST(:share_gap AS interval)
                               AND r.rated_at <= u.rated_at
                             ORDER BY r.rated_at DESC, r.id DESC
                             LIMIT :share_sample - 1 - u.share_prior) AS s
                        WINDOW latest AS (ORDER BY s.rated_at DESC, s.id DESC
                                          ROWS UNBOUNDED PRECEDING)) AS w
                     WHERE w.others <= :share_sample - :share_needed)
                  THEN 'source_share' END""",
}

# A flood's single event (insert.Shape.continued): stored only where both rules go on — then
# both flags hold whatever the counts say, so they are constants and the count subqueries are
# not in the statement at all (PostgreSQL sets up every subquery on each execution, run or
# not). An event where either stops is not stored; the two-scan form then decides.
GOES_ON = {
    "bare_burst": f"({_BARE} AND (u.bare_prior >= :bare_count - 1 OR ({_BARE_GOES_ON})))",
    "source_share": f"(u.share_prior >= :share_sample - 1 OR ({_SHARE_GOES_ON}))",
}
