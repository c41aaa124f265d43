"""Rating ingestion (exactly once per client and event_id) and listing."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import Row, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app import privacy
from app.audit import service as audit
from app.auth.service import Principal
from app.config import BUSINESS_TZ, Settings
from app.db import driver_connection, positional
from app.errors import Forbidden, NotFound, field_error, pydantic_errors
from app.pagination import decode_cursor, encode_cursor, row_id
from app.privacy.masking import mask_name, mask_phone, mask_text
from app.ratings import flags, hooks, rules
from app.ratings.models import Rating
from app.ratings.schemas import RatingIn
from app.registry import service as registry
from app.timefmt import to_local

log = logging.getLogger(__name__)

POSTING_ROLES = ("device", "portal", "hotline", "admin")
_rating_adapter = TypeAdapter(RatingIn)


@dataclass(slots=True)
class ItemOutcome:
    index: int
    event_id: str | None
    status: str = "rejected"  # created | duplicate | rejected
    rating: dict[str, Any] | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)
    # HTTP status for a rejection when the event came alone (422, or 403 for another's data).
    http_status: int = 422
    problem_type: str = "validation-error"


@dataclass(slots=True)
class _Accepted:
    outcome: ItemOutcome
    values: dict[str, Any]
    # The event as sent, in canonical form, and its keyed digest (privacy.payload_digest).
    canonical: bytes
    payload_hash: bytes
    # Refusals that depend on when or where the event arrives (too old, department since
    # deactivated): they apply to a new event, not to a retry of one already stored.
    deferred: list[dict[str, Any]] = field(default_factory=list)


def _normalise(
    event: RatingIn, principal: Principal, outcome: ItemOutcome
) -> dict[str, Any] | None:
    """Apply the key's rules: a device posts for its own department and window only."""
    department_code, window_no, channel = event.department_code, event.window_no, event.channel
    if principal.role == "device":
        if principal.device_active is False:
            outcome.errors.append(field_error("(key)", "this device is deactivated", "inactive"))
            return None
        if department_code is not None and department_code != principal.department_code:
            outcome.errors.append(
                field_error(
                    "department_code", "a device posts for its own department only", "forbidden"
                )
            )
            outcome.http_status, outcome.problem_type = 403, "forbidden"
            return None
        if window_no is not None and window_no != principal.window_no:
            outcome.errors.append(
                field_error("window_no", "a device posts for its own window only", "forbidden")
            )
            outcome.http_status, outcome.problem_type = 403, "forbidden"
            return None
        department_code, window_no = principal.department_code, principal.window_no
        channel = channel or "window_device"
    if channel is None:
        outcome.errors.append(field_error("channel", "Field required", "missing"))
    if department_code is None:
        outcome.errors.append(field_error("department_code", "Field required", "missing"))
    if channel is not None:
        outcome.errors += rules.refusals(
            principal.role, channel, event.assess_number, event.case_no
        )
    if outcome.errors:
        return None
    rater = event.rater
    return {
        "event_id": event.event_id,
        "channel": channel,
        "department_code": department_code,
        "window_no": window_no,
        "staff_id": event.staff_id,
        "case_no": event.case_no,
        "service_item_code": event.service_item_code,
        "service_item_name": event.service_item_name,
        "level": event.level,
        "tags": list(event.tags),
        "comment": event.comment,
        "rater_type": rater.type if rater else "anonymous",
        "rater_name": rater.name if rater else None,
        "rater_phone": rater.phone if rater else None,
        "rated_at": event.rated_at.astimezone(UTC),
        "assess_number": event.assess_number,
    }


def canonical_payload(event: RatingIn) -> bytes:
    """The event as sent (rated_at as a UTC instant), in one fixed form: what a retry must
    repeat. Stored only as a keyed digest (privacy.Keyring.payload_digest).

    Not of the stored values: what the server fills in (a device's department and window, which
    change when the tablet is moved; `historical`, which depends on the day of arrival) must not
    turn a retry into a mismatch."""
    # model_dump_json serialises in the model's field order (a fixed, canonical form) in Rust:
    # a seventh of the per-event cost of a batch when it went through json.dumps.
    if event.rated_at.utcoffset():  # at offset 0 it serialises as "...Z" already
        event = event.model_copy(update={"rated_at": event.rated_at.astimezone(UTC)})
    return event.model_dump_json().encode()


# The event's values as the INSERT reads them (`u.<name>`), with their PostgreSQL types.
_EVENT_COLUMNS = (
    ("event_id", "text"),
    ("payload_hash", "bytea"),
    ("channel", "text"),
    ("department_code", "text"),
    ("window_no", "text"),
    ("staff_id", "text"),
    ("case_no", "text"),
    ("service_item_code", "text"),
    ("service_item_name", "text"),
    ("level", "smallint"),
    ("tags", "text"),
    ("comment", "text"),
    ("comment_hash", "bytea"),
    ("rater_type", "text"),
    ("rater_name", "text"),
    ("rater_phone", "text"),
    ("rater_phone_hash", "bytea"),
    ("rated_at", "timestamptz"),
    ("assess_number", "smallint"),
    ("historical", "boolean"),
    ("fast", "boolean"),
    ("phone_prior", "integer"),
    ("burst_prior", "integer"),
    ("bare_prior", "integer"),
    ("share_prior", "integer"),
    ("day_start", "timestamptz"),
)
_EVENT_NAMES = ", ".join(name for name, _ in _EVENT_COLUMNS)
# Many events arrive as one array per column; one event as one row of scalars. A single event
# gets its own statement: PostgreSQL plans the unnest form afresh on every execution (0.8 ms),
# the one-row form once per connection. Once: behind OFFSET 0 the event's values are columns
# of a subquery, not constants the planner folds into the rest. Without that, a custom plan
# (one for the event's own values, dropping the rules that cannot apply to it) always costs
# less than the generic one, whose probes are all there though unused; so PostgreSQL planned
# the statement afresh on every execution: 0.3 ms of its 0.5 ms.
_MANY = "unnest({}) AS u({})".format(
    ", ".join(f"CAST(:{name} AS {type_}[])" for name, type_ in _EVENT_COLUMNS), _EVENT_NAMES
)
_ONE = "(SELECT * FROM (VALUES ({})) AS v({}) OFFSET 0) AS u".format(
    ", ".join(f"CAST(:{name} AS {type_})" for name, type_ in _EVENT_COLUMNS), _EVENT_NAMES
)
_INSERT_TEMPLATE = """
    INSERT INTO rating (client_id, event_id, payload_hash, channel, department_code, window_no,
                        staff_id, case_no, service_item_code, service_item_name, level, tags,
                        comment, comment_hash, rater_type, rater_name, rater_phone,
                        rater_phone_hash, rated_at, assess_number, historical, flags, received_at)
    SELECT CAST(:client_id AS uuid), u.event_id, u.payload_hash, u.channel, u.department_code,
           u.window_no, u.staff_id, u.case_no, u.service_item_code, u.service_item_name, u.level,
           string_to_array(u.tags, ','), u.comment, u.comment_hash, u.rater_type, u.rater_name,
           u.rater_phone, u.rater_phone_hash, u.rated_at, u.assess_number, u.historical,
           -- integrity flags (app/ratings/flags.py): stored ratings by index probes, plus what
           -- the earlier events of this request contribute (computed in Python)
           nullif(array_remove(ARRAY[
             CASE WHEN u.fast OR (CAST(:is_device AS boolean) AND EXISTS (
                    SELECT 1 FROM rating r
                     WHERE r.department_code = u.department_code AND r.client_id = :client_id
                       AND r.rated_at > u.rated_at - CAST(:device_gap AS interval)
                       AND r.rated_at < u.rated_at + CAST(:device_gap AS interval)))
                  THEN 'rapid_device' END,
             CASE WHEN u.rater_phone_hash IS NOT NULL AND u.phone_prior + (
                    SELECT count(*) FROM (
                      SELECT 1 FROM rating r
                       WHERE r.rater_phone_hash = u.rater_phone_hash
                         AND r.department_code = u.department_code
                         AND r.rated_at >= u.day_start
                         AND r.rated_at < u.day_start + interval '1 day'
                       LIMIT :phone_limit) AS p) >= :phone_limit - 1
                  THEN 'repeat_phone' END,
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
                  THEN 'identical_burst' END,
             CASE WHEN coalesce(u.comment, '') = '' AND u.rater_type = 'anonymous'
                   AND (u.bare_prior >= :bare_count - 1 OR (
                    -- a burst goes on: the latest of its pattern just before is flagged
                    SELECT 'bare_burst' = ANY(r.flags) FROM rating r
                     WHERE r.department_code = u.department_code
                       AND r.rated_at > u.rated_at - CAST(:bare_gap AS interval)
                       AND r.rated_at <= u.rated_at
                       AND r.client_id = :client_id
                       AND r.channel = u.channel AND r.level = u.level
                       AND r.rater_type = 'anonymous' AND coalesce(r.comment, '') = ''
                     ORDER BY r.rated_at DESC LIMIT 1) OR u.bare_prior + (
                    SELECT count(*) FROM (
                      SELECT 1 FROM rating r
                       WHERE r.department_code = u.department_code
                         AND r.rated_at > u.rated_at - CAST(:bare_gap AS interval)
                         AND r.rated_at < u.rated_at + CAST(:bare_gap AS interval)
                         AND r.client_id = :client_id
                         AND r.channel = u.channel AND r.level = u.level
                         AND r.rater_type = 'anonymous' AND coalesce(r.comment, '') = ''
                       LIMIT :bare_count) AS b) >= :bare_count - 1)
                  THEN 'bare_burst' END,
             -- the department's latest ratings before this one: the request's earlier events
             -- (arriving now), then the stored ones
             CASE WHEN u.share_prior >= :share_sample - 1 OR (
                    -- the department's latest rating is this client's and had the share: with
                    -- this one the share can only hold (the sample slides by one)
                    SELECT r.client_id = :client_id AND 'source_share' = ANY(r.flags)
                      FROM rating r
                     WHERE r.department_code = u.department_code
                       AND r.rated_at > u.rated_at - CAST(:share_gap AS interval)
                       AND r.rated_at <= u.rated_at
                     ORDER BY r.rated_at DESC LIMIT 1) OR (
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
                  THEN 'source_share' END
           ], NULL), '{}'),
           -- received at the app's clock (app/clock.py): deadlines and the outbox count from it
           CAST(:received_at AS timestamptz)
      FROM __EVENTS__
      JOIN department d ON d.code = u.department_code AND d.active
     WHERE __STORABLE__ __WHERE__
     -- one lock order for every batch, so that racing batches cannot deadlock
     ORDER BY u.event_id
    -- any unique index: (client_id, event_id), and one follow-up per case (rules.STORABLE)
    ON CONFLICT DO NOTHING
    RETURNING id, event_id, received_at, status, flags
"""
_INSERT_TEMPLATE = _INSERT_TEMPLATE.replace("__STORABLE__", rules.STORABLE)
_INSERT_MANY = positional(_INSERT_TEMPLATE.replace("__EVENTS__", _MANY).replace("__WHERE__", ""))
_INSERT_ONE = positional(_INSERT_TEMPLATE.replace("__EVENTS__", _ONE).replace("__WHERE__", ""))

_COLUMNS = (
    "event_id",
    "channel",
    "department_code",
    "window_no",
    "staff_id",
    "case_no",
    "service_item_code",
    "service_item_name",
    "level",
    "comment",
    "rater_type",
    "rated_at",
    "assess_number",
    "historical",
)


def judge(
    index: int, raw: Any, principal: Principal, *, settings: Settings, now: datetime
) -> tuple[ItemOutcome, _Accepted | None]:
    """One event on its own: its outcome so far, and what to store unless it was rejected."""
    event_id = raw.get("event_id") if isinstance(raw, dict) else getattr(raw, "event_id", None)
    outcome = ItemOutcome(index, event_id if isinstance(event_id, str) else None)
    try:
        event = raw if isinstance(raw, RatingIn) else _rating_adapter.validate_python(raw)
    except ValidationError as exc:
        outcome.errors = pydantic_errors(list(exc.errors()))
        return outcome, None
    values = _normalise(event, principal, outcome)
    if values is None:
        return outcome, None
    rated_at = values["rated_at"]
    if rated_at > now + settings.future_tolerance:
        outcome.errors.append(
            field_error("rated_at", "is in the future (beyond the clock tolerance)", "future")
        )
        return outcome, None
    canonical = canonical_payload(event)
    item = _Accepted(outcome, values, canonical, privacy.keyring().payload_digest(canonical))
    values["historical"] = rated_at < now - settings.max_event_age
    values["received_at"] = now
    if values["historical"] and not principal.is_admin:
        item.deferred.append(
            field_error(
                "rated_at",
                f"is older than {settings.max_event_age_days} days; only an admin may import "
                "historical events",
                "too_old",
            )
        )
    return outcome, item


async def ingest(
    session: AsyncSession,
    principal: Principal,
    raw_events: list[Any],
    *,
    settings: Settings,
    now: datetime,
) -> list[ItemOutcome]:
    """Judge each event alone; store the valid ones once; report created, duplicate or rejected."""
    if principal.role not in POSTING_ROLES:
        raise Forbidden(f"Role {principal.role} cannot post ratings")
    outcomes: list[ItemOutcome] = []
    accepted: list[_Accepted] = []
    for index, raw in enumerate(raw_events):
        outcome, item = judge(index, raw, principal, settings=settings, now=now)
        outcomes.append(outcome)
        if item is not None:
            accepted.append(item)

    # Within one request, the first occurrence of an event_id is the one that counts.
    first: dict[str, _Accepted] = {}
    repeats: list[_Accepted] = []
    for item in accepted:
        if item.values["event_id"] in first:
            repeats.append(item)
        else:
            first[item.values["event_id"]] = item

    # The insert itself skips unknown and inactive departments and windows, follow-ups without
    # their first rating and second follow-ups (one statement on the hot path); whatever it did
    # not store is explained below. A follow-up whose first rating comes in the same request
    # goes in a second statement, which sees the first's row.
    storing = [i for i in first.values() if not i.deferred]
    firsts = {i.values["case_no"] for i in storing if i.values["assess_number"] == 1}
    follow_ups: dict[str, _Accepted] = {}
    now_items, then_items = [], []
    for item in storing:
        case_no = item.values["case_no"]
        if item.values["assess_number"] == 2:
            if case_no in follow_ups:  # the request's first follow-up of a case goes alone
                repeats.append(item)
                continue
            follow_ups[case_no] = item
            if case_no in firsts:
                then_items.append(item)
                continue
        now_items.append(item)
    created = await _insert(session, principal, now_items)
    if then_items:
        created.update(await _insert(session, principal, then_items))
    records = []
    for event_id, row in created.items():
        item = first[event_id]
        record = {
            **item.values,
            "id": row.id,
            "received_at": row.received_at,
            "status": row.status,
            "flags": row.flags,
            "rater_erased_at": None,
        }
        records.append(record)
        item.outcome.status = "created"
        item.outcome.rating = rating_view(record)
    if records:
        await on_ratings_created(session, records)

    pending = [item for item in first.values() if item.values["event_id"] not in created]
    pending += repeats
    if pending:
        stored = await _stored(
            session, principal.client_id, {i.values["event_id"] for i in pending}
        )
        # A retry of a stored event is a duplicate even if its department or window has since
        # been deactivated or the event has grown too old; a new event is refused for either.
        await _explain(
            session, principal, [i for i in pending if i.values["event_id"] not in stored]
        )
        for item in pending:
            row = stored.get(item.values["event_id"])
            if row is None:
                if not item.outcome.errors:
                    item.outcome.errors.extend(item.deferred)
                if not item.outcome.errors:  # cannot happen: a conflicting row is committed
                    item.outcome.errors.append(
                        field_error("event_id", "could not be stored; retry")
                    )
                    item.outcome.http_status = 409
                continue
            if privacy.keyring().payload_matches(bytes(row.payload_hash), item.canonical):
                item.outcome.status = "duplicate"
                item.outcome.rating = rating_view(row._mapping)
            else:
                item.outcome.errors.append(
                    field_error(
                        "event_id",
                        "this event_id was already used by this client with a different payload",
                        "event_id_reused",
                    )
                )
                item.outcome.problem_type = "event-id-reused"
    return outcomes


async def on_ratings_created(session: AsyncSession, records: list[dict[str, Any]]) -> None:
    """What must happen in the same transaction as new ratings (work orders for 差评).

    Each record holds the stored columns (unmasked) with its id."""
    await hooks.created(session, records)


async def set_status(session: AsyncSession, rating_id: int, new_status: str) -> dict[str, Any]:
    """Withdraw or invalidate a rating (or restore it), adjusting what depends on it."""
    rating = (
        await session.execute(select(Rating).where(Rating.id == rating_id).with_for_update())
    ).scalar_one_or_none()
    if rating is None:
        raise NotFound(f"No rating {rating_id}")
    old_status = rating.status
    if old_status == new_status:
        return _row_dict(rating)
    rating.status = new_status
    rating.status_changed_at = func.now()
    await session.flush()
    await session.refresh(rating)
    record = _row_dict(rating)
    await hooks.status_changed(session, record, old_status, new_status)
    return record


async def _explain(session: AsyncSession, principal: Principal, items: list[_Accepted]) -> None:
    """Why new events were not stored: the department, the window, or the follow-up rule."""
    if not items:
        return
    codes = {a.values["department_code"] for a in items}
    active = await registry.active_departments(session, codes)
    places = {(a.values["department_code"], a.values["window_no"]) for a in items}
    windows = await registry.active_windows(session, {p for p in places if p[1] is not None})
    cases = {a.values["case_no"] for a in items if a.values["assess_number"] == 2}
    assessed = await _assessed(session, principal.client_id, cases)
    for item in items:
        values, outcome = item.values, item.outcome
        code = values["department_code"]
        window = windows.get((code, values["window_no"]))  # None: no such window
        if code not in active:
            outcome.errors.append(field_error("department_code", "unknown department", "unknown"))
        elif not active[code]:
            outcome.errors.append(
                field_error("department_code", "the department is inactive", "inactive")
            )
        elif values["window_no"] is not None and not window and principal.role != "device":
            outcome.errors.append(rules.window_error(window))
        if values["assess_number"] == 2 and not outcome.errors:
            numbers = assessed.get(values["case_no"], ())
            if 2 in numbers:  # a second follow-up: the case has had both its ratings
                outcome.errors.append(rules.FOLLOW_UP_EXISTS)
                outcome.http_status, outcome.problem_type = 409, "follow-up-exists"
            elif 1 not in numbers:
                outcome.errors.append(rules.NO_FIRST_RATING)


async def _assessed(
    session: AsyncSession, client_id: uuid.UUID, cases: set[str]
) -> dict[str, set[int]]:
    """case_no -> the assess_numbers this client has stored for it."""
    if not cases:
        return {}
    rows = await session.execute(
        select(Rating.case_no, Rating.assess_number)
        .where(Rating.client_id == client_id, Rating.case_no.in_(cases))
        .distinct()
    )
    found: dict[str, set[int]] = {}
    for case_no, number in rows:
        found.setdefault(case_no, set()).add(number)
    return found


async def _insert(
    session: AsyncSession, principal: Principal, items: list[_Accepted]
) -> dict[str, _RowView]:
    if not items:
        return {}
    # The hot statement goes straight to the driver (see app.db.driver_connection).
    driver = await driver_connection(session)
    sql, names = _INSERT_ONE if len(items) == 1 else _INSERT_MANY
    params = _insert_params(principal, items)
    result = await driver.fetch(sql, *[params[name] for name in names])
    audit.count_change("rating", len(result))
    return {row["event_id"]: _RowView(dict(row)) for row in result}


@lru_cache(maxsize=2)
def _rule_params(device: bool) -> dict[str, Any]:
    rules = integrity_settings()
    return {
        "is_device": device and rules.device_seconds > 0,
        "placed": device,
        "device_gap": timedelta(seconds=rules.device_seconds),
        "phone_limit": rules.phone_daily_limit,
        "burst_gap": timedelta(seconds=rules.burst_seconds),
        "burst_count": rules.burst_count,
        "bare_gap": timedelta(seconds=rules.bare_burst_seconds),
        "bare_count": rules.bare_burst_count,
        "share_gap": timedelta(seconds=rules.share_seconds),
        "share_sample": rules.share_sample,
        "share_needed": rules.share_needed,
    }


def _insert_params(principal: Principal, items: list[_Accepted]) -> dict[str, Any]:
    """The INSERT's parameters: for one event one scalar each, for several one array each."""
    ring = privacy.keyring()
    for item in items:
        item.values["rater_phone_hash"] = ring.phone_hash(item.values["rater_phone"])
    if len(items) == 1:  # nothing earlier in the request to count (the direct path's case)
        params = _event_params(items[0], ring, _NO_PRIORS)
    else:
        priors = flags.batch_priors(
            [i.values for i in items],
            device=principal.role == "device",
            settings=integrity_settings(),
        )
        events = [
            _event_params(item, ring, flags.Priors(*rule_priors))
            for item, rule_priors in zip(items, zip(*priors, strict=True), strict=True)
        ]
        params = {name: [e[name] for e in events] for name in events[0]}
    params["client_id"] = principal.client_id
    params["received_at"] = items[0].values["received_at"]  # one request, one `now`
    params.update(_rule_params(principal.role == "device"))
    return params


_NO_PRIORS = flags.Priors(False, 0, 0, 0, 0)


def _event_params(item: _Accepted, ring: privacy.Keyring, priors: flags.Priors) -> dict[str, Any]:
    """One event's values as the INSERT reads them (`u.<name>`), personal data sealed."""
    values = item.values
    params = {name: values[name] for name in _COLUMNS}
    params.update(
        tags=",".join(values["tags"]),
        payload_hash=item.payload_hash,
        rater_name=ring.encrypt(values["rater_name"], "rating.rater_name"),
        rater_phone=ring.encrypt(values["rater_phone"], "rating.rater_phone"),
        # The comment is free text that may hold a phone or a name (µs per commented event).
        comment=ring.seal_text(values["comment"], "rating.comment"),
        comment_hash=ring.text_digest(values["comment"]),
        rater_phone_hash=values["rater_phone_hash"],
        day_start=_local_day_start(values["rated_at"]),
        fast=priors.fast,
        phone_prior=priors.phone,
        burst_prior=priors.burst,
        bare_prior=priors.bare,
        share_prior=priors.share,
    )
    return params


def _local_day_start(instant: datetime) -> datetime:
    local = instant.astimezone(BUSINESS_TZ)
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


@lru_cache
def integrity_settings() -> flags.IntegritySettings:
    return flags.IntegritySettings()


async def _stored(
    session: AsyncSession, client_id: uuid.UUID, event_ids: set[str]
) -> dict[str, Row]:
    rows = await session.execute(
        select(Rating).where(Rating.client_id == client_id, Rating.event_id.in_(event_ids))
    )
    return {r.event_id: _row_dict(r) for r in rows.scalars()}


class _RowView(dict):
    """A dict that also answers attribute access, so ORM rows and inserted values look alike."""

    __getattr__ = dict.__getitem__

    @property
    def _mapping(self) -> dict:
        return self


def _row_dict(rating: Rating) -> _RowView:
    """The stored columns, personal data decrypted (for masking, never for output as is)."""
    values = _RowView({c.key: getattr(rating, c.key) for c in Rating.__table__.columns})
    if values["rater_name"] is not None or values["rater_phone"] is not None:
        ring = privacy.keyring()
        try:
            values["rater_name"] = ring.decrypt(values["rater_name"], "rating.rater_name")
            values["rater_phone"] = ring.decrypt(values["rater_phone"], "rating.rater_phone")
        except privacy.DataKeyError as exc:
            # Shown masked as unreadable; the listing must not fail for one row.
            log.error("rating %s: personal data unreadable: %s", values["id"], exc)
            values["rater_name"] = values["rater_name"] and UNREADABLE
            values["rater_phone"] = values["rater_phone"] and UNREADABLE
    if values["comment"]:
        try:
            values["comment"] = privacy.keyring().open_text(values["comment"], "rating.comment")
        except privacy.DataKeyError as exc:
            log.error("rating %s: comment unreadable: %s", values["id"], exc)
            values["comment"] = UNREADABLE
    return values


UNREADABLE = "\x00unreadable"


def _masked(value: str | None, mask) -> str | None:
    return "***" if value == UNREADABLE else mask(value)


def _masked_text(text: str | None, name: str | None) -> str | None:
    """A free text as every response shows it: phones, 身份证号 and the writer's name masked."""
    if text == UNREADABLE:
        return "***"
    return mask_text(text, () if name == UNREADABLE else (name,))


def rating_view(values: Any, *, with_flags: bool = False) -> dict[str, Any]:
    """The API's view of a rating: personal data masked; integrity flags for readers only."""
    rater = None
    if values["rater_type"] != "anonymous":
        rater = {
            "type": values["rater_type"],
            "name": _masked(values["rater_name"], mask_name),
            "phone": _masked(values["rater_phone"], mask_phone),
            "real_name": bool(
                values["rater_name"] or values["rater_phone"] or values.get("rater_erased_at")
            ),
        }
    return {
        "id": values["id"],
        "event_id": values["event_id"],
        "channel": values["channel"],
        "department_code": values["department_code"],
        "window_no": values["window_no"],
        "staff_id": values["staff_id"],
        "case_no": values["case_no"],
        "service_item_code": values["service_item_code"],
        "service_item_name": values["service_item_name"],
        "level": values["level"],
        "is_bad": values["level"] <= 2,
        "tags": list(values["tags"] or []),
        "comment": _masked_text(values["comment"], values["rater_name"]),
        "rater": rater,
        # At +08:00: both ingest paths serialise this dict themselves (pydantic_core.to_json).
        "rated_at": to_local(values["rated_at"]),
        "received_at": to_local(values["received_at"]),
        "assess_number": values["assess_number"],
        "historical": values["historical"],
        "status": values["status"],
        "flags": list(values.get("flags") or []) if with_flags else None,
    }


def sees_flags(principal: Principal) -> bool:
    """Senders are not told which of their ratings look scripted."""
    return principal.role in ("admin", "reader", "department")


# --- reading -----------------------------------------------------------------------------------


def in_range(instant: datetime) -> bool:
    """Whether an aware datetime can be converted to UTC (years 1 and 9999 may not)."""
    try:
        instant.astimezone(UTC)
    except OverflowError:
        return False
    return True


def _rating_key(fields: list[str]) -> tuple[datetime, int]:
    stamp, rating_id = fields
    rated_at = datetime.fromisoformat(stamp)
    if rated_at.tzinfo is None or not in_range(rated_at):
        raise ValueError(stamp)
    return rated_at, row_id(rating_id)


@dataclass(slots=True)
class RatingFilter:
    department_code: str | None = None
    channel: str | None = None
    level: int | None = None
    bad: bool | None = None
    rated_from: datetime | None = None
    rated_to: datetime | None = None
    status: str | None = None
    client_id: uuid.UUID | None = None
    flagged: bool | None = None
    # HMACs of one phone number under every data key (an admin's lookup).
    phone_hashes: list[bytes] | None = None


def visible_department(principal: Principal, requested: str | None) -> str | None:
    """Department keys read their own department only; asking for another is 403."""
    if principal.role == "department":
        if requested is not None and requested != principal.department_code:
            raise Forbidden("A department key reads its own department's ratings only")
        return principal.department_code
    return requested


async def list_ratings(
    session: AsyncSession,
    filters: RatingFilter,
    *,
    limit: int,
    cursor: str | None,
    with_flags: bool = False,
) -> tuple[list[dict[str, Any]], str | None]:
    """Newest first by rated_at, keyset-paginated."""
    query = select(Rating)
    if filters.department_code:
        query = query.where(Rating.department_code == filters.department_code)
    if filters.channel:
        query = query.where(Rating.channel == filters.channel)
    if filters.level is not None:
        query = query.where(Rating.level == filters.level)
    if filters.bad is not None:
        query = query.where(Rating.is_bad == filters.bad)
    if filters.rated_from:
        query = query.where(Rating.rated_at >= filters.rated_from)
    if filters.rated_to:
        query = query.where(Rating.rated_at < filters.rated_to)
    if filters.status:
        query = query.where(Rating.status == filters.status)
    if filters.client_id:
        query = query.where(Rating.client_id == filters.client_id)
    if filters.flagged is not None:
        query = query.where(
            Rating.flags.is_not(None) if filters.flagged else Rating.flags.is_(None)
        )
    if filters.phone_hashes is not None:
        query = query.where(Rating.rater_phone_hash.in_(filters.phone_hashes))
    if cursor:
        after_at, after_id = decode_cursor(cursor, _rating_key)
        query = query.where(
            (Rating.rated_at < after_at) | ((Rating.rated_at == after_at) & (Rating.id < after_id))
        )
    query = query.order_by(Rating.rated_at.desc(), Rating.id.desc()).limit(limit + 1)
    rows = list((await session.execute(query)).scalars())
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor(rows[-1].rated_at, rows[-1].id)
    return [rating_view(_row_dict(r), with_flags=with_flags) for r in rows], next_cursor


async def get_rating(session: AsyncSession, rating_id: int) -> Rating:
    rating = await session.get(Rating, rating_id)
    if rating is None:
        raise NotFound(f"No rating {rating_id}")
    return rating


def readable(principal: Principal, rating: Rating) -> None:
    """Who may read one rating: admin and reader all; a department its own; a sender its own."""
    if principal.role in ("admin", "reader"):
        return
    if principal.role == "department" and rating.department_code == principal.department_code:
        return
    if (
        principal.role in ("device", "portal", "hotline")
        and rating.client_id == principal.client_id
    ):
        return
    raise Forbidden("This key may not read this rating")


def view(rating: Rating, *, with_flags: bool = False) -> dict[str, Any]:
    return rating_view(_row_dict(rating), with_flags=with_flags)


_FLAGGED_COUNTS = text(
    """
    SELECT department_code, count(*) AS n
      FROM rating
     WHERE flags IS NOT NULL AND rated_at >= :start_at AND rated_at < :end_at
       AND status = 'valid'
     GROUP BY department_code
    """
)


async def flagged_counts(
    session: AsyncSession, start_at: datetime, end_at: datetime
) -> dict[str, int]:
    """Counted (valid) ratings carrying integrity flags, per department, rated in [start, end).

    For the statistics' `flagged` beside the rates; reads the small partial index of flagged
    ratings, not the rollups."""
    rows = await session.execute(_FLAGGED_COUNTS, {"start_at": start_at, "end_at": end_at})
    return {row.department_code: row.n for row in rows}


def personal_data(rating: Rating) -> dict[str, Any]:
    """The rater's name and phone, and the comment whole, in clear (an admin's audited read)."""
    ring = privacy.keyring()
    return {
        "id": rating.id,
        "rater_type": rating.rater_type,
        "name": ring.decrypt(rating.rater_name, "rating.rater_name"),
        "phone": ring.decrypt(rating.rater_phone, "rating.rater_phone"),
        "comment": ring.open_text(rating.comment, "rating.comment"),
        "erased_at": rating.rater_erased_at,
    }


# Expired ratings with personal data left: the rater's name or phone, or a comment not yet
# reduced to its masked form (comment_hash is cleared when it is), oldest first; rows other
# transactions hold are left for the next batch.
_EXPIRED = text(
    """
    SELECT id, rater_name, comment FROM rating
     WHERE (rater_name IS NOT NULL OR rater_phone IS NOT NULL OR comment_hash IS NOT NULL)
       AND rated_at < :before
     ORDER BY rated_at
     LIMIT :limit
       FOR UPDATE SKIP LOCKED
    """
)
_ERASE = text(
    """
    UPDATE rating r
       SET rater_name = NULL, rater_phone = NULL, rater_phone_hash = NULL,
           rater_erased_at = CASE WHEN r.rater_name IS NOT NULL OR r.rater_phone IS NOT NULL
                                  THEN CAST(:now AS timestamptz) ELSE r.rater_erased_at END,
           comment = e.comment, comment_hash = NULL
      FROM unnest(CAST(:ids AS bigint[]), CAST(:comments AS text[])) AS e(id, comment)
     WHERE r.id = e.id
    """
)


async def erase_rater_data(
    session: AsyncSession, *, before: datetime, now: datetime, limit: int = 5000
) -> int:
    """Erase the rater's name and phone of up to `limit` ratings made before `before`, and
    reduce their comments to the masked form (phones, 身份证号 and the rater's name masked,
    sealed again): what every response showed of them is what is kept.

    The rating stays (and counts); `rater_erased_at` says that it was real-name."""
    rows = (await session.execute(_EXPIRED, {"before": before, "limit": limit})).all()
    if not rows:
        return 0
    ring = privacy.keyring()
    comments = []
    for row in rows:
        try:
            name = ring.decrypt(row.rater_name, "rating.rater_name")
            comment = ring.open_text(row.comment, "rating.comment")
        except privacy.DataKeyError as exc:
            # Unreadable: nothing of it can be shown or kept; the comment goes with the rest.
            log.error("rating %s: personal data unreadable, erased whole: %s", row.id, exc)
            name, comment = None, None
        comments.append(ring.seal_text(mask_text(comment, (name,)), "rating.comment"))
    await session.execute(_ERASE, {"ids": [r.id for r in rows], "comments": comments, "now": now})
    return len(rows)
