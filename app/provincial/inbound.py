"""Ratings received in a provincial interface's fields, stored as ordinary ratings.

Each document is mapped by its profile (mapping.py) and handed to the rating domain's ingest:
the same validation, the same exactly-once rule (event id `prov:<projectNo>:<assessNumber>`,
unique per sending key), the same work orders for 差评. A default rating (系统默认评价) is then
marked `is_default` in the same transaction: counted apart, never an active rating.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.service import Principal
from app.config import Settings
from app.errors import Forbidden, field_error, pydantic_errors
from app.provincial.mapping import ProvincialRatingIn, provincial_field, to_rating
from app.provincial.profile import Profile
from app.ratings import service as ratings

POSTING_ROLES = ("portal", "admin")
_adapter = TypeAdapter(ProvincialRatingIn)


def _ident(raw: Any, name: str) -> Any:
    value = raw.get(name) if isinstance(raw, dict) else getattr(raw, name, None)
    return value if isinstance(value, str | int) else None


async def ingest(
    session: AsyncSession,
    principal: Principal,
    docs: list[Any],
    profile: Profile,
    *,
    settings: Settings,
    now: datetime,
) -> list[dict[str, Any]]:
    """Judge and store each document; one result per document, in order."""
    if principal.role not in POSTING_ROLES:
        raise Forbidden(f"Role {principal.role} cannot post provincial ratings (portal, admin)")
    results: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    defaults: list[bool] = []
    for index, raw in enumerate(docs):
        result = {
            "index": index,
            "projectNo": _ident(raw, "projectNo"),
            "assessNumber": _ident(raw, "assessNumber"),
            "status": "rejected",
            "rating_id": None,
            "is_default": False,
            "errors": None,
            "http_status": 422,
        }
        results.append(result)
        try:
            doc = raw if isinstance(raw, ProvincialRatingIn) else _adapter.validate_python(raw)
        except ValidationError as exc:
            result["errors"] = pydantic_errors(list(exc.errors()))
            continue
        event, is_default, errors = to_rating(doc, profile)
        result["is_default"] = is_default
        if event is None:
            result["errors"] = errors
            continue
        result["_event"] = len(events)
        events.append(event)
        defaults.append(is_default)
    outcomes = await ratings.ingest(session, principal, events, settings=settings, now=now)
    by_event = {r.pop("_event"): r for r in results if "_event" in r}
    marks: list[int] = []
    duplicates: dict[int, dict[str, Any]] = {}
    for position, outcome in enumerate(outcomes):
        result = by_event[position]
        result["status"] = outcome.status
        if outcome.status == "rejected":
            result["errors"] = [
                {**e, "field": provincial_field(e["field"])} for e in outcome.errors
            ]
            result["http_status"] = outcome.http_status
            continue
        result["rating_id"] = outcome.rating["id"]
        if outcome.status == "created" and defaults[position]:
            marks.append(outcome.rating["id"])
        elif outcome.status == "duplicate":
            duplicates[outcome.rating["id"]] = result
    if marks:
        await session.execute(
            text("UPDATE rating SET is_default = true WHERE id = ANY(:ids)"), {"ids": marks}
        )
    if duplicates:
        await _check_default_retries(session, duplicates)
    return results


async def _check_default_retries(session: AsyncSession, duplicates: dict[int, dict]) -> None:
    """A retry must say default or active as the stored rating does (pf 7 and pf 1 differ)."""
    rows = await session.execute(
        text("SELECT id, is_default FROM rating WHERE id = ANY(:ids)"), {"ids": list(duplicates)}
    )
    for rating_id, stored_default in rows:
        result = duplicates[rating_id]
        if stored_default != result["is_default"]:
            result.update(
                status="rejected",
                rating_id=None,
                errors=[
                    field_error(
                        "pf",
                        "this projectNo and assessNumber were stored with another pf "
                        "(a default rating and an active one)",
                        "event_id_reused",
                    )
                ],
            )
