"""POST /v1/ratings, the plain case, in one statement on the driver.

Nearly every request a service centre receives is one good rating from a known key. Through
FastAPI's routing and dependencies, a SQLAlchemy session and its commit, that cost about 3.3 ms
of Python CPU; here about 0.4 ms. This pure ASGI handler does the same work on a pooled
asyncpg connection: it remembers principals by key hash for a short while, and sends one
statement that re-checks the key (revoked? device moved?), inserts the rating with its integrity
flags and writes the request's audit row: atomic on its own, so no BEGIN and COMMIT round trips.

Everything that is not the plain case is handed, body and all, to the generic route, which
gives the one answer the API has for it: a body that is not a valid event (422), a missing,
unknown or revoked key (401), signed requests, a role that may not post, a 差评 (it opens a work
order), an event too old or one the posting rules refuse (app/ratings/rules.py: a channel the
key may not post, a follow-up without its case), a retry of a stored event (200, replayed) or a
reused event_id (422), an unknown department or window, a follow-up without its first rating
or a second one (409), a full pool, any unexpected error. The integrity flags are set by the
same INSERT as the generic route's (fastpath/sql.py), so both paths flag alike. A
database outage is answered here (503). Nothing is written before a hand-over; the principal
goes along when it still holds (so its rate-limit token is not spent twice), else its token is
given back. Once the statement has committed, the answer is this path's 201, never a hand-over.
"""

from __future__ import annotations

import logging
import time
from types import SimpleNamespace
from typing import Any

from pydantic import ValidationError
from pydantic_core import to_json

from app.audit import service as audit
from app.auth import signing
from app.auth.dependencies import HANDED_OVER
from app.auth.service import Principal, hash_key, key_shaped, principal_for_hash
from app.config import Settings
from app.errors import PROBLEM_MEDIA_TYPE, ServiceUnavailable, is_database_unavailable, problem_body
from app.observability import count_ratings, count_single_ingest
from app.ratelimit import RateLimited
from app.ratings import access, ingest, views
from app.ratings.fastpath.pool import PoolBusy
from app.ratings.fastpath.principals import PrincipalCache
from app.ratings.fastpath.sql import store_one
from app.ratings.outcomes import ItemOutcome
from app.ratings.schemas import RatingIn

log = logging.getLogger(__name__)

PATH = "/v1/ratings"
# What the metrics and the audit row name the route (as the generic route's template).
_ROUTE = SimpleNamespace(path=PATH, path_format=PATH)
_CHANGED = {"rating": 1}
_JSON_HEADERS = [(b"content-type", b"application/json")]
_UNAVAILABLE = to_json(
    problem_body(503, ServiceUnavailable.type, ServiceUnavailable.title, None, PATH)
)
_UNAVAILABLE_HEADERS = [(b"content-type", PROBLEM_MEDIA_TYPE.encode()), (b"retry-after", b"5")]
_SIGNING_HEADERS = frozenset(h.lower().encode() for h in signing.HEADERS)


class FastIngest:
    """Wraps the application; answers the plain single-event POST, hands over the rest."""

    def __init__(self, app, fastapi_app) -> None:
        self.app = app
        self.fastapi_app = fastapi_app
        self.principals = PrincipalCache()
        # The audit entry's parameters but its request id, by principal (all else is constant).
        self._audit_entries: dict[Principal, dict[str, Any]] = {}

    async def __call__(self, scope, receive, send) -> None:
        if (
            scope["type"] != "http"
            or scope["path"] != PATH
            or scope["method"] != "POST"
            or scope.get("query_string")
        ):
            return await self.app(scope, receive, send)
        state = self.fastapi_app.state
        pool = getattr(state, "fast_ingest_pool", None)
        if pool is None:  # turned off
            return await self.app(scope, receive, send)
        settings: Settings = state.settings
        key = _plain_request_key(scope["headers"], settings.max_body_bytes)
        if key is None:
            count_single_ingest("not_plain")
            return await self.app(scope, receive, send)

        body, more = await _read_body(receive)
        if more is not None:  # the client went away mid-body: let the generic route see it
            count_single_ingest("not_plain")
            return await self.app(scope, _replay(body, more, receive), send)
        spent: list[Principal] = []  # whose rate-limit token this request took, if any
        try:
            stored = await self._store(scope, pool, settings, key, body, spent)
        except PoolBusy:
            stored = "busy"  # the generic route's larger pool may serve it
        except Exception as exc:
            if not is_database_unavailable(exc):
                # Not stored, or stored by a statement whose answer was lost: the generic
                # route finds out which and answers (a retry of a stored event is a 200).
                log.exception("single-event ingest handed over after an error")
                stored = "error"
            else:
                log.warning("database unavailable: %s", exc.__class__.__name__)
                self._undo(scope, spent)
                count_single_ingest("unavailable")
                scope["route"] = _ROUTE
                await _send(send, 503, _UNAVAILABLE, _UNAVAILABLE_HEADERS)
                return
        if isinstance(stored, str):
            if stored != "not_stored":
                self._undo(scope, spent)
            count_single_ingest(stored)
            return await self.app(scope, _replay(body, None, receive), send)
        # Stored and committed: from here on the answer is this 201, never a hand-over (the
        # generic route would call a first attempt a replay).
        outcome, record = stored
        outcome.status = "created"
        outcome.rating = views.rating_view(record)
        count_ratings((outcome,))
        count_single_ingest("direct")
        await _send(send, 201, to_json(outcome.rating), _JSON_HEADERS)

    def _undo(self, scope, spent: list[Principal]) -> None:
        """Before a hand-over without the principal: give back its rate-limit token (the
        generic route takes its own) and clear what the scope was told."""
        for principal in spent:
            self.fastapi_app.state.rate_limiter.refund(principal.client_id, principal.role)
        spent.clear()
        scope.pop("route", None)
        state = scope.get("state") or {}
        state.pop("principal", None)
        state.pop(HANDED_OVER, None)

    async def _store(
        self, scope, pool, settings: Settings, key: str, body: bytes, spent: list[Principal]
    ) -> tuple[ItemOutcome, dict[str, Any]] | str:
        """The outcome and the stored record; or why the generic route must answer (then
        nothing was written)."""
        try:
            event = RatingIn.model_validate_json(body)
        except ValidationError:
            return "invalid_body"
        if event.level <= 2:  # a 差评 opens a work order: the generic route does that
            return "bad_review"
        if not key_shaped(key):
            return "unknown_key"
        state = self.fastapi_app.state
        key_hash = hash_key(key)
        clock = time.monotonic()
        now = state.clock()
        async with pool.acquire() as driver:
            principal = self.principals.get(key_hash, clock)
            if principal is None:
                principal = await principal_for_hash(driver, key_hash)
                if principal is None:
                    return "unknown_key"
                self.principals.put(key_hash, principal, clock)
            if principal.require_signature:
                return "signature_required"
            if not access.may_post(principal):
                return "role"
            outcome, item = ingest.judge(0, event, principal, settings=settings, now=now)
            if item is None or item.deferred:
                return "rejected"
            try:
                state.rate_limiter.enforce(principal.client_id, principal.role)
            except RateLimited:
                return "rate_limited"  # the generic route refuses it again (nothing spent)
            spent.append(principal)
            scope_state = scope.setdefault("state", {})
            scope_state["principal"] = principal
            scope["route"] = _ROUTE
            entry = self._audit_entries.get(principal)
            if entry is None:
                if len(self._audit_entries) >= 10_000:
                    self._audit_entries.clear()
                entry = self._audit_entries[principal] = audit.request_entry(scope, _CHANGED)
            entry = {**entry, "request_id": audit.scope_request_id(scope)}
            key_valid, record = await store_one(driver, principal, item, entry, settings.integrity)
        if not key_valid:
            # Revoked, or the principal changed: forget it; the generic route authenticates
            # afresh (and answers 401 for a revoked key).
            self.principals.drop(key_hash)
            return "key_changed"
        state.key_usage.note(principal.key_id)
        if record is None:  # a retry of a stored event, or an unknown or inactive department
            del scope["route"]
            scope_state[HANDED_OVER] = principal  # with its token: not spent twice
            return "not_stored"
        return outcome, record


def _plain_request_key(headers: list[tuple[bytes, bytes]], max_body_bytes: int) -> str | None:
    """The API key of a plain JSON request this handler may take, else None.

    Plain: an API key (not a signature), a JSON body of a declared length within the limit."""
    key = length = None
    json_body = seen_type = False
    for name, value in headers:
        if name == b"authorization":
            scheme, _, credentials = value.decode("latin-1").partition(" ")
            if scheme.lower() != "bearer" or key is not None:
                return None
            key = credentials.strip()
        elif name == b"x-api-key":
            if key is not None:
                return None
            key = value.decode("latin-1")
        elif name == b"content-length":
            if length is not None:
                return None
            length = value
        elif name == b"content-type":
            if seen_type:  # Starlette reads the first, a proxy may read the last: not plain
                return None
            seen_type = True
            json_body = value.split(b";", 1)[0].strip().lower() == b"application/json"
        elif name in _SIGNING_HEADERS:
            return None
    if not key or not json_body or length is None or not length.isdigit():
        return None
    if int(length) > max_body_bytes:
        return None
    return key


async def _read_body(receive) -> tuple[bytes, dict[str, Any] | None]:
    """The whole body, or what was read and the first message that was not more of it."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), message
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks), None


def _replay(body: bytes, pending: dict[str, Any] | None, receive):
    """A receive() that gives the body already read, then whatever the client sends next."""
    messages = [{"type": "http.request", "body": body, "more_body": pending is not None}]
    if pending is not None:
        messages.append(pending)

    async def replayed() -> dict[str, Any]:
        if messages:
            return messages.pop(0)
        return await receive()

    return replayed


async def _send(send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*headers, (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
