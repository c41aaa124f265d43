"""Integrity flags: ratings that look scripted are stored and flagged, never dropped.

- ``rapid_device``: a device posts a rating within ``device_seconds`` of another of its own
  (a person cannot finish a case and rate that fast);
- ``repeat_phone``: one phone number rates one department for the ``phone_daily_limit``-th time
  or more in a day (Beijing time);
- ``identical_burst``: the ``burst_count``-th identical rating (department, window, level and
  comment) within ``burst_seconds``; ratings with neither a window nor a comment are left out,
  since a busy portal legitimately sends many bare "5"s for one department;
- ``bare_burst``: the ``bare_burst_count``-th bare rating (anonymous, no comment) of one
  department from one client with the same channel and level within ``bare_burst_seconds``:
  a portal replaying one "5" many times (a busy portal's real ratings carry their own times);
  the burst goes on while ratings of its pattern follow a flagged one within that gap;
- ``source_share``: one client sent at least ``share_percent``% of a department's last
  ``share_sample`` ratings within ``share_seconds`` before this one (counting this one and the
  earlier events of its request, taken as the latest): one source swamping a department.
  When the department's latest rating is the client's and has the flag, the probe stops there
  (the sample slides by one, and one more of the client's keeps the share).

No network address is kept: every sender is a system (a portal's server, a tablet), so the
request's address says nothing about the rater that the key (``client_id``) does not.

Each rule counts the stored ratings (index probes inside the INSERT: app/ratings/flag_sql.py)
plus the earlier events of the same request (here, in memory). The rating that completes a
pattern is flagged, not the earlier ones (that would be a second write). Two requests racing
each other do not see each other's rows: a burst split exactly across concurrent requests can
go unflagged.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from datetime import timedelta
from typing import Any, NamedTuple

from app.config import BUSINESS_TZ, IntegritySettings

FLAGS = ("rapid_device", "repeat_phone", "identical_burst", "bare_burst", "source_share")


def burst_eligible(values: dict[str, Any]) -> bool:
    return bool(values["comment"]) or values["window_no"] is not None


def bare(values: dict[str, Any]) -> bool:
    return not values["comment"] and values["rater_type"] == "anonymous"


class Priors(NamedTuple):
    """What the earlier events of one request contribute to each rule, per event."""

    fast: list[bool]  # a close neighbour from the same device
    phone: list[int]  # ratings by the same phone in the department that day
    burst: list[int]  # identical ratings within the burst window
    bare: list[int]  # identical bare ratings within the bare-burst window
    share: list[int]  # ratings of the same department within the share window


def batch_priors(
    rows: list[dict[str, Any]], *, device: bool, settings: IntegritySettings
) -> Priors:
    """For each row, what the earlier rows (by rated_at) of the same request contribute to
    each rule (all rows of a request come from one client)."""
    n = len(rows)
    fast = [False] * n
    phone_prior = [0] * n
    burst_prior = [0] * n
    bare_prior = [0] * n
    share_prior = [0] * n
    if n < 2:
        return Priors(fast, phone_prior, burst_prior, bare_prior, share_prior)
    order = sorted(range(n), key=lambda i: (rows[i]["rated_at"], i))
    if device and settings.device_seconds:
        gap = timedelta(seconds=settings.device_seconds)
        for previous, current in zip(order, order[1:], strict=False):
            if rows[current]["rated_at"] - rows[previous]["rated_at"] < gap:
                fast[current] = True
    by_phone: dict[tuple, int] = defaultdict(int)
    by_fingerprint: dict[tuple, list] = defaultdict(list)
    by_bare: dict[tuple, list] = defaultdict(list)
    by_department: dict[str, list] = defaultdict(list)
    window = timedelta(seconds=settings.burst_seconds)
    bare_window = timedelta(seconds=settings.bare_burst_seconds)
    share_window = timedelta(seconds=settings.share_seconds)
    for i in order:
        row = rows[i]
        if row["rater_phone_hash"] is not None:
            day = row["rated_at"].astimezone(BUSINESS_TZ).date()
            key = (row["rater_phone_hash"], row["department_code"], day)
            phone_prior[i] = by_phone[key]
            by_phone[key] += 1
        if burst_eligible(row):
            key = (row["department_code"], row["window_no"], row["level"], row["comment"])
            seen = by_fingerprint[key]
            burst_prior[i] = len(seen) - bisect_left(seen, row["rated_at"] - window)
            seen.append(row["rated_at"])
        if bare(row):
            seen = by_bare[(row["department_code"], row["channel"], row["level"])]
            bare_prior[i] = len(seen) - bisect_left(seen, row["rated_at"] - bare_window)
            seen.append(row["rated_at"])
        seen = by_department[row["department_code"]]
        share_prior[i] = len(seen) - bisect_left(seen, row["rated_at"] - share_window)
        seen.append(row["rated_at"])
    return Priors(fast, phone_prior, burst_prior, bare_prior, share_prior)
