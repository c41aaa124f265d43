"""Integrity flags: ratings that look scripted are stored and flagged, never dropped.

- ``rapid_device``: a device posts a rating within ``device_seconds`` of another of its own
  (a person cannot finish a case and rate that fast);
- ``repeat_phone``: one phone number rates one department for the ``phone_daily_limit``-th time
  or more in a day (Beijing time);
- ``identical_burst``: the ``burst_count``-th identical rating (department, window, level and
  comment) within ``burst_seconds``; ratings with neither a window nor a comment are left out,
  since a busy portal legitimately sends many bare "5"s for one department.

Each rule counts the stored ratings (one index probe each, inside the INSERT) plus the earlier
events of the same request (here, in memory). The rating that completes a pattern is flagged,
not the earlier ones (that would be a second write). Two requests racing each other do not see
each other's rows: a burst split exactly across concurrent requests can go unflagged.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from datetime import timedelta
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.config import BUSINESS_TZ

FLAGS = ("rapid_device", "repeat_phone", "identical_burst")


class IntegritySettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="HAOCHAPING_FLAG_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    device_seconds: int = Field(default=10, ge=0)
    phone_daily_limit: int = Field(default=3, ge=2)
    burst_count: int = Field(default=3, ge=2)
    burst_seconds: int = Field(default=120, ge=1)


def burst_eligible(values: dict[str, Any]) -> bool:
    return bool(values["comment"]) or values["window_no"] is not None


def batch_priors(
    rows: list[dict[str, Any]], *, device: bool, settings: IntegritySettings
) -> tuple[list[bool], list[int], list[int]]:
    """For each row, what the earlier rows of the same request contribute to each rule.

    Returns (a close neighbour from the same device, earlier ratings by the same phone in the
    department that day, earlier identical ratings within the burst window)."""
    n = len(rows)
    fast = [False] * n
    phone_prior = [0] * n
    burst_prior = [0] * n
    if n < 2:
        return fast, phone_prior, burst_prior
    order = sorted(range(n), key=lambda i: (rows[i]["rated_at"], i))
    if device and settings.device_seconds:
        gap = timedelta(seconds=settings.device_seconds)
        for previous, current in zip(order, order[1:], strict=False):
            if rows[current]["rated_at"] - rows[previous]["rated_at"] < gap:
                fast[current] = True
    by_phone: dict[tuple, int] = defaultdict(int)
    by_fingerprint: dict[tuple, list] = defaultdict(list)
    window = timedelta(seconds=settings.burst_seconds)
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
    return fast, phone_prior, burst_prior
