"""The push to provincial targets: a feeder queues, a sender delivers (two job rounds).

The feeder reads new ratings past each target's cursor (`rating_cursor`) and closed work orders
since `rectification_since`, and writes one push_item per document and target; ingestion writes
nothing for the push, so an unreachable target costs it nothing. A rating id is drawn before its
transaction commits, so a lower id may commit after a higher one: the feeder takes ratings only
once they are `lag` old, and the daily reconciliation (service.reconciliation) shows, and a
re-push of the day queues, any that slipped past. Work orders are taken again over the last
`lag` (the unique key drops those already queued).

The sender locks due items (FOR UPDATE SKIP LOCKED), posts each document built from the stored
rating or order, and records the answer in the same transaction: at least once, retried with
the webhooks' backoff (app/notify RetryPolicy), kept across restarts.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app import privacy
from app.notify.dispatcher import RetryPolicy
from app.provincial.mapping import rating_document, rectification_document
from app.provincial.models import CREDENTIALS_CONTEXT, PushItem, PushTarget
from app.provincial.profile import Profile

log = logging.getLogger(__name__)

_NEXT_RATINGS = text(
    "SELECT id, rated_at, received_at, is_default FROM rating WHERE id > :cursor "
    "ORDER BY id LIMIT :limit"
)
_QUEUE = text(
    """
    INSERT INTO push_item (target_id, kind, ref_id, ref_at, created_at, next_attempt_at)
    SELECT :target_id, :kind, r.ref_id, r.ref_at, :now, :now
      FROM unnest(CAST(:ids AS bigint[]), CAST(:ats AS timestamptz[])) AS r(ref_id, ref_at)
    ON CONFLICT DO NOTHING
    """
)
_FEED_LOCK = text("SELECT pg_try_advisory_xact_lock(7470015)")
_SINCE_STEP = timedelta(minutes=1)
# How many items wait for the target (bounded by the cap: it never counts a long backlog).
_PENDING = text(
    "SELECT count(*) FROM (SELECT 1 FROM push_item WHERE target_id = :target_id "
    "AND acknowledged_at IS NULL AND failed_at IS NULL LIMIT :cap) AS p"
)
_CLOSED_ORDERS = text(
    "SELECT id, closed_at FROM work_order WHERE source = 'rating' AND closed_at > :since "
    "AND closed_at <= :now ORDER BY closed_at LIMIT :limit"
)


async def queue(session: AsyncSession, target_id, kind: str, refs: list, now: datetime) -> None:
    """Queue (ref_id, ref_at) documents for a target; those already queued are left alone."""
    if refs:
        await session.execute(
            _QUEUE,
            {
                "target_id": target_id,
                "kind": kind,
                "ids": [r[0] for r in refs],
                "ats": [r[1] for r in refs],
                "now": now,
            },
        )


async def feed(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    now: datetime,
    lag: timedelta,
    max_pending: int = 1000,
    batch_size: int = 1000,
) -> int:
    """Queue what is new for every active target; returns the number of documents looked at.

    A target with `max_pending` items waiting gets no more ratings until it takes some: while a
    platform is down the queue stops growing (no writes for it at all), and its cursor keeps
    the place, so nothing is lost; it refills as the platform drains it."""
    seen = 0
    async with sessionmaker() as session, session.begin():
        # One feeder at a time (several server processes): an advisory lock, not row locks, so
        # that a round with nothing new writes nothing (no transaction id, no commit to flush).
        if not (await session.execute(_FEED_LOCK)).scalar_one():
            return 0
        targets = (await session.execute(select(PushTarget).where(PushTarget.active))).scalars()
        for target in list(targets):
            if "ratings" in target.events:
                pending = (
                    await session.execute(_PENDING, {"target_id": target.id, "cap": max_pending})
                ).scalar_one()
                room = min(batch_size, max_pending - pending)
                if room > 0:
                    seen += await _feed_ratings(session, target, now=now, lag=lag, size=room)
            if "rectifications" in target.events:
                rows = (
                    await session.execute(
                        _CLOSED_ORDERS,
                        {
                            "since": target.rectification_since - lag,
                            "now": now,
                            "limit": batch_size,
                        },
                    )
                ).all()
                await queue(session, target.id, "rectification", [tuple(r) for r in rows], now)
                seen += len(rows)
                # A full batch: go on from its last one next round. Otherwise move on to now,
                # but only once a minute: the window reread meanwhile is short, and a quiet
                # round then writes nothing.
                if len(rows) == batch_size:
                    target.rectification_since = rows[-1][1] + lag
                elif now - target.rectification_since >= _SINCE_STEP:
                    target.rectification_since = now
    return seen


async def _feed_ratings(
    session: AsyncSession, target: PushTarget, *, now: datetime, lag: timedelta, size: int
) -> int:
    rows = (
        await session.execute(_NEXT_RATINGS, {"cursor": target.rating_cursor, "limit": size})
    ).all()
    ready = []
    for row in rows:
        if row.received_at > now - lag:
            break
        ready.append(row)
    # Default ratings came from the platform itself: they are not sent back.
    refs = [(r.id, r.rated_at) for r in ready if not r.is_default]
    await queue(session, target.id, "rating", refs, now)
    if ready:
        target.rating_cursor = ready[-1].id
    # One batch a round: the room left under the cap is counted again next round.
    return len(ready)


@dataclass(frozen=True, slots=True)
class Answer:
    acknowledged: bool
    code: str | None
    error: str | None


def judge_answer(response: httpx.Response, profile: Profile) -> Answer:
    """Whether the platform took the document: HTTP 2xx and its own codes as the profile says."""
    if not 200 <= response.status_code < 300:
        return Answer(False, None, f"HTTP {response.status_code}")
    if not profile.push.success:
        return Answer(True, None, None)
    try:
        body = response.json()
    except ValueError:
        return Answer(False, None, "the answer is not JSON")
    found, wrong = [], []
    for path, expected in profile.push.success.items():
        value: Any = body
        for part in path.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        found.append(f"{path}={value}")
        if str(value) != str(expected):
            wrong.append(f"{path} is {value!r}, not {expected!r}")
    code = ",".join(found)[:200]
    return Answer(not wrong, code, "; ".join(wrong) or None)


# A target that does not answer: its due items wait as long as the one just tried.
_POSTPONE = text(
    """
    UPDATE push_item SET next_attempt_at = :until
     WHERE id IN (SELECT id FROM push_item
                   WHERE target_id = :target_id AND acknowledged_at IS NULL
                     AND failed_at IS NULL AND next_attempt_at <= :now
                     FOR UPDATE SKIP LOCKED)
    """
)
_RATINGS = text(
    """
    SELECT r.id, r.case_no, r.service_item_code, r.service_item_name, r.department_code,
           d.name AS department_name, r.channel, r.level, r.tags, r.comment, r.rated_at,
           r.assess_number, r.rater_type, r.rater_name
      FROM rating r JOIN department d ON d.code = r.department_code
     WHERE r.id = ANY(:ids)
    """
)
_ORDERS = text(
    """
    SELECT w.id, w.rating_id, w.department_code, w.closed_at, w.outcome AS result,
           r.case_no, r.level, r.assess_number
      FROM work_order w JOIN rating r ON r.id = w.rating_id
     WHERE w.id = ANY(:ids)
    """
)


async def _documents(
    session: AsyncSession, items: list[tuple[PushItem, PushTarget]], profiles: dict[str, Profile]
) -> dict[int, dict]:
    """Each item's document in its target's format, by item id."""
    ring = privacy.keyring()
    ids = {
        kind: [i.ref_id for i, _ in items if i.kind == kind] for kind in ("rating", "rectification")
    }
    ratings = {}
    if ids["rating"]:
        for row in await session.execute(_RATINGS, {"ids": ids["rating"]}):
            record = dict(row._mapping)
            record["rater_name"] = ring.decrypt(record["rater_name"], "rating.rater_name")
            record["comment"] = ring.open_text(record["comment"], "rating.comment")
            ratings[record["id"]] = record
    orders = {}
    if ids["rectification"]:
        for row in await session.execute(_ORDERS, {"ids": ids["rectification"]}):
            orders[row.id] = dict(row._mapping)
    out = {}
    for item, target in items:
        profile = profiles[target.profile]
        if item.kind == "rating" and item.ref_id in ratings:
            out[item.id] = rating_document(ratings[item.ref_id], profile, target.area_code)
        elif item.kind == "rectification" and item.ref_id in orders:
            out[item.id] = rectification_document(orders[item.ref_id], profile, target.area_code)
    return out


def credentials_headers(target: PushTarget) -> dict[str, str]:
    if target.credentials is None:
        return {}
    return json.loads(privacy.keyring().decrypt(target.credentials, CREDENTIALS_CONTEXT))


async def send_due(
    sessionmaker: async_sessionmaker[AsyncSession],
    http: httpx.AsyncClient,
    profiles: dict[str, Profile],
    *,
    now: datetime,
    retry: RetryPolicy,
    batch_size: int = 50,
    max_batches: int = 20,
) -> int:
    """Send the due documents; returns the number of attempts made."""
    attempts = 0
    down: set = set()  # a target that did not answer is not tried again this round
    for _ in range(max_batches):
        async with sessionmaker() as session, session.begin():
            rows = (
                await session.execute(
                    select(PushItem, PushTarget)
                    .join(PushTarget, PushTarget.id == PushItem.target_id)
                    .where(
                        PushItem.acknowledged_at.is_(None),
                        PushItem.failed_at.is_(None),
                        PushItem.next_attempt_at <= now,
                        PushTarget.active,
                        PushTarget.id.not_in(down) if down else True,
                    )
                    .order_by(PushItem.next_attempt_at, PushItem.id)
                    .limit(batch_size)
                    .with_for_update(of=PushItem, skip_locked=True)
                )
            ).all()
            if not rows:
                break
            by_target: dict = {}
            for item, target in rows:
                by_target.setdefault(target.id, []).append((item, target))
            for group in by_target.values():
                attempts += await _send_group(http, session, group, profiles, now, retry, down)
    return attempts


async def _send_group(
    http: httpx.AsyncClient,
    session: AsyncSession,
    group: list[tuple[PushItem, PushTarget]],
    profiles: dict[str, Profile],
    now: datetime,
    retry: RetryPolicy,
    down: set,
) -> int:
    """One target's items of a batch. The first goes alone: when the target does not answer,
    the others wait as long as it does, without a try (and without building their documents)."""
    attempts = 0
    first, rest = group[:1], group[1:]
    for chunk in (first, rest):
        if not chunk:
            continue
        documents = await _documents(session, chunk, profiles)
        for position, (item, target) in enumerate(chunk):
            attempts += 1
            if not await _attempt(http, item, target, documents, profiles, now, retry):
                down.add(target.id)
                later = chunk[position + 1 :] + (rest if chunk is first else [])
                for waiting, _ in later:
                    waiting.next_attempt_at = item.next_attempt_at
                # and every other due item of the target that no other sender holds
                await session.execute(
                    _POSTPONE, {"target_id": target.id, "now": now, "until": item.next_attempt_at}
                )
                return attempts
    return attempts


async def _attempt(
    http: httpx.AsyncClient,
    item: PushItem,
    target: PushTarget,
    documents: dict[int, dict],
    profiles: dict[str, Profile],
    now: datetime,
    retry: RetryPolicy,
) -> bool:
    """One attempt; False when the target could not be reached."""
    item.attempts += 1
    item.sent_at = now
    document = documents.get(item.id)
    reached = True
    if document is None:  # the rating or order is gone (erased, deleted): nothing to send
        item.failed_at, item.last_error = now, "the rating or work order no longer exists"
        return reached
    headers = {"User-Agent": "haochaping-push/1", **credentials_headers(target)}
    try:
        response = await http.post(target.url, json=document, headers=headers)
    except httpx.HTTPError as exc:
        item.last_status_code, reached = None, False
        answer = Answer(False, None, f"{type(exc).__name__}: {exc}"[:500])
    else:
        item.answered_at = now
        item.last_status_code = response.status_code
        answer = judge_answer(response, profiles[target.profile])
        item.last_answer_code = answer.code
    item.last_error = answer.error
    if answer.acknowledged:
        item.acknowledged_at = now
    elif item.attempts >= retry.max_attempts:
        item.failed_at = now
        log.warning("provincial push %s given up after %s attempts", item.id, item.attempts)
    else:
        item.next_attempt_at = now + retry.delay(item.attempts)
    return reached
