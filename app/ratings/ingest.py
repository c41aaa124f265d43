"""Ingestion: judge each event, store the valid ones once, explain what was not stored."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncSession

from app import privacy
from app.auth.service import Principal
from app.config import Settings
from app.errors import field_error, pydantic_errors
from app.ratings import hooks, rules
from app.ratings.access import require_poster
from app.ratings.insert import insert
from app.ratings.models import Rating
from app.ratings.outcomes import Accepted, ItemOutcome
from app.ratings.schemas import RatingIn
from app.ratings.views import rating_view, row_dict
from app.registry import service as registry

_rating_adapter = TypeAdapter(RatingIn)


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


def judge(
    index: int, raw: Any, principal: Principal, *, settings: Settings, now: datetime
) -> tuple[ItemOutcome, Accepted | None]:
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
    item = Accepted(outcome, values, canonical, privacy.keyring().payload_digest(canonical))
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
    require_poster(principal)
    outcomes: list[ItemOutcome] = []
    accepted: list[Accepted] = []
    for index, raw in enumerate(raw_events):
        outcome, item = judge(index, raw, principal, settings=settings, now=now)
        outcomes.append(outcome)
        if item is not None:
            accepted.append(item)

    # Within one request, the first occurrence of an event_id is the one that counts.
    first: dict[str, Accepted] = {}
    repeats: list[Accepted] = []
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
    follow_ups: dict[str, Accepted] = {}
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
    created = await insert(session, principal, now_items, integrity=settings.integrity)
    if then_items:
        created.update(await insert(session, principal, then_items, integrity=settings.integrity))
    records = []
    for event_id, row in created.items():
        item = first[event_id]
        record = {
            **item.values,
            "id": row["id"],
            "received_at": row["received_at"],
            "status": row["status"],
            "flags": row["flags"],
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


async def _explain(session: AsyncSession, principal: Principal, items: list[Accepted]) -> None:
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


async def _stored(
    session: AsyncSession, client_id: uuid.UUID, event_ids: set[str]
) -> dict[str, Row]:
    rows = await session.execute(
        select(Rating).where(Rating.client_id == client_id, Rating.event_id.in_(event_ids))
    )
    return {r.event_id: row_dict(r) for r in rows.scalars()}
