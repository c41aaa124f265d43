"""Audit: one row per request that changed something, per key change and per unmasked read.

Writes are audited without each route's help. A middleware opens an `AuditContext` for the
request; an engine event counts the rows each INSERT, UPDATE or DELETE statement of that request
changed; and just before its session commits, one `audit_log` row is written in the same
transaction: a change is never committed without its audit row, and a request that rolls back
leaves neither. Rating ingestion is therefore one row per request or batch (with counts), not one
per rating. Reads of personal data in clear call `record()` themselves.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import event, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session as OrmSession

from app.audit.models import AuditEntry
from app.pagination import decode_cursor, encode_cursor, row_id
from app.timefmt import json_default

# Bookkeeping that is no change of business data: spent nonces, the audit log itself.
# A console session's last_seen_at moves on every page; sign-in and sign-out are recorded apart.
UNAUDITED_TABLES = frozenset({"audit_log", "request_nonce", "alembic_version", "console_session"})
_MAX_REQUEST_ID = 200

_WRITE = re.compile(
    r"\b(?:INSERT\s+INTO|DELETE\s+FROM|(?<!FOR\s)(?<!KEY\s)(?<!DO\s)UPDATE)\s+\"?(\w+)\"?(?:\s+(?:AS\s+)?\w+)?\s*(?:\(|SET\b|"
    r"VALUES\b|SELECT\b|WHERE\b|USING\b|DEFAULT\b|OVERRIDING\b|$)",
    re.IGNORECASE,
)


@dataclass(slots=True)
class AuditContext:
    """What one request (or job, or command) has changed so far, and who it is."""

    actor: str | None = None
    scope: dict[str, Any] | None = None
    action: str | None = None
    target: str | None = None
    changes: dict[str, int] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)

    def pending(self) -> bool:
        return bool(self.changes)


_current: contextvars.ContextVar[AuditContext | None] = contextvars.ContextVar(
    "haochaping_audit", default=None
)


def current() -> AuditContext | None:
    return _current.get()


@contextlib.contextmanager
def acting(actor: str, action: str | None = None, target: str | None = None) -> Iterator[None]:
    """Audit the writes made inside the block as `actor` (jobs, the CLI)."""
    token = _current.set(AuditContext(actor=actor, action=action, target=target))
    try:
        yield
    finally:
        _current.reset(token)


def note(**values: Any) -> None:
    """Add details to this request's audit row (e.g. counts of created ratings)."""
    ctx = _current.get()
    if ctx is not None:
        ctx.notes.update(values)


class AuditMiddleware:
    """Opens the audit context of each HTTP request (pure ASGI: the handler runs in this task)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        token = _current.set(AuditContext(scope=scope))
        try:
            await self.app(scope, receive, send)
        finally:
            _current.reset(token)


# --- who, what, which request -------------------------------------------------------------------


def _principal(ctx: AuditContext):
    if ctx.scope is None:
        return None
    return (ctx.scope.get("state") or {}).get("principal")


def _actor(ctx: AuditContext) -> tuple[uuid.UUID | None, uuid.UUID | None, str]:
    principal = _principal(ctx)
    if principal is not None:
        return principal.key_id, principal.client_id, f"{principal.role}:{principal.client_name}"
    return None, None, ctx.actor or "anonymous"


def request_id(ctx: AuditContext | None) -> str | None:
    """The request-id middleware's id (request.state.request_id), else the X-Request-ID header."""
    if ctx is None or ctx.scope is None:
        return None
    return scope_request_id(ctx.scope)


def scope_request_id(scope: dict[str, Any]) -> str | None:
    """request_id() of an HTTP request's ASGI scope."""
    value = (scope.get("state") or {}).get("request_id")
    if value is None:
        for name, raw in scope.get("headers") or ():
            if name == b"x-request-id":
                value = raw.decode("latin-1")
                break
    if value is None:
        return None
    value = str(value)
    if not value.isprintable():  # the middleware's ids always are: the check is the hot path
        value = "".join(ch for ch in value if ch.isprintable())
    return value[:_MAX_REQUEST_ID] or None


def _action_and_target(ctx: AuditContext) -> tuple[str, str | None]:
    if ctx.scope is None:
        return ctx.action or "change", ctx.target
    route = ctx.scope.get("route")
    template = getattr(route, "path", None) or ctx.scope.get("path", "")
    action = ctx.action or f"{ctx.scope.get('method', '?')} {template}"
    return action, ctx.target or ctx.scope.get("path")


# An entry's columns and its values as parameters (the `_row` dict's names), for statements
# that write and audit at once (app/ratings/fastpath/sql.py).
ENTRY_COLUMNS = "actor_key_id, actor_client_id, actor, action, target, result, request_id, detail"
# Typed: in INSERT ... SELECT, PostgreSQL does not infer parameter types from the columns.
ENTRY_VALUES = (
    "CAST(:actor_key_id AS uuid), CAST(:actor_client_id AS uuid), CAST(:actor AS text), "
    "CAST(:action AS text), CAST(:target AS text), CAST(:result AS text), "
    "CAST(:request_id AS text), CAST(:detail AS jsonb)"
)
_INSERT = text(f"INSERT INTO audit_log ({ENTRY_COLUMNS}) VALUES ({ENTRY_VALUES})")


def _row(
    ctx: AuditContext | None,
    *,
    action: str,
    target: str | None,
    result: str,
    detail: dict[str, Any] | None,
    actor: str | None = None,
) -> dict[str, Any]:
    key_id, client_id, who = _actor(ctx) if ctx is not None else (None, None, "system")
    return {
        "actor_key_id": key_id,
        "actor_client_id": client_id,
        "actor": actor or who,
        "action": action,
        "target": target,
        "result": result,
        "request_id": request_id(ctx),
        "detail": json.dumps(detail, ensure_ascii=False, default=json_default) if detail else None,
    }


async def record(
    session: AsyncSession,
    action: str,
    target: str | None,
    *,
    result: str = "ok",
    detail: dict[str, Any] | None = None,
    actor: str | None = None,
) -> None:
    """Append one entry in the session's transaction (an unmasked read, a job's run).

    Changes made so far in this request are reported here instead of in a second entry."""
    ctx = current()
    if ctx is not None and ctx.scope is None and ctx.pending():
        await session.flush()
        detail = {"changed": dict(sorted(ctx.changes.items())), **(detail or {})}
        ctx.changes.clear()
    await session.execute(
        _INSERT, _row(ctx, action=action, target=target, result=result, detail=detail, actor=actor)
    )


def request_entry(scope: dict[str, Any], changed: dict[str, int]) -> dict[str, Any]:
    """The parameters of the automatic entry of an HTTP request (its scope carrying the route
    and the principal) that changed these tables, for a statement that writes it itself."""
    ctx = AuditContext(scope=scope, changes=dict(changed))
    action, target = _action_and_target(ctx)
    return _row(
        ctx,
        action=action,
        target=target,
        result="ok",
        detail={"changed": dict(sorted(changed.items()))},
    )


# --- the automatic entry for writes -------------------------------------------------------------


def count_change(table: str, rows: int) -> None:
    """Count writes sent past SQLAlchemy (straight on the driver) for this request's entry."""
    ctx = _current.get()
    if ctx is not None and rows and table not in UNAUDITED_TABLES:
        ctx.changes[table] = ctx.changes.get(table, 0) + rows


@event.listens_for(Engine, "after_cursor_execute")
def _count_changes(conn, cursor, statement, parameters, context, executemany) -> None:
    ctx = _current.get()
    if ctx is None:
        return
    match = _WRITE.search(statement)
    if match is None:
        return
    table = match.group(1).lower()
    if table in UNAUDITED_TABLES:
        return
    rows = cursor.rowcount
    if rows is None or rows < 0:
        rows = 1  # unknown (executemany): assume it changed something
    if rows:
        ctx.changes[table] = ctx.changes.get(table, 0) + rows


@event.listens_for(OrmSession, "before_commit")
def _audit_before_commit(session: OrmSession) -> None:
    ctx = _current.get()
    if ctx is None:
        return
    # The commit's own flush comes after this hook: flush now so that its changes count.
    session.flush()
    if not ctx.pending():
        return
    action, target = _action_and_target(ctx)
    detail = {"changed": dict(sorted(ctx.changes.items())), **ctx.notes}
    ctx.changes.clear()
    session.execute(_INSERT, _row(ctx, action=action, target=target, result="ok", detail=detail))


@event.listens_for(OrmSession, "after_rollback")
def _forget_changes(session: OrmSession) -> None:
    ctx = _current.get()
    if ctx is not None:
        ctx.changes.clear()


# --- reading ------------------------------------------------------------------------------------


@dataclass(slots=True)
class AuditFilter:
    actor: uuid.UUID | None = None
    action: str | None = None
    target: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def _like_prefix(value: str) -> str:
    return value[:-1].replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


async def list_entries(
    session: AsyncSession, filters: AuditFilter, *, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """Newest first, keyset-paginated on id; `action` and `target` match exactly, or as a
    prefix when they end in '*'."""
    query = select(AuditEntry)
    if filters.actor is not None:
        query = query.where(
            (AuditEntry.actor_client_id == filters.actor)
            | (AuditEntry.actor_key_id == filters.actor)
        )
    for column, value in ((AuditEntry.action, filters.action), (AuditEntry.target, filters.target)):
        if value is None:
            continue
        if value.endswith("*"):
            query = query.where(column.like(_like_prefix(value), escape="\\"))
        else:
            query = query.where(column == value)
    if filters.since is not None:
        query = query.where(AuditEntry.at >= filters.since)
    if filters.until is not None:
        query = query.where(AuditEntry.at < filters.until)
    if cursor:
        query = query.where(AuditEntry.id < decode_cursor(cursor, _entry_key))
    rows = list(
        (await session.execute(query.order_by(AuditEntry.id.desc()).limit(limit + 1))).scalars()
    )
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor("a", rows[-1].id)
    return [entry_view(r) for r in rows], next_cursor


def entry_view(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "at": entry.at,
        "actor": entry.actor,
        "actor_key_id": entry.actor_key_id,
        "actor_client_id": entry.actor_client_id,
        "action": entry.action,
        "target": entry.target,
        "result": entry.result,
        "request_id": entry.request_id,
        "detail": entry.detail,
    }


def _entry_key(fields: list[str]) -> int:
    tag, entry_id = fields
    if tag != "a":
        raise ValueError(tag)
    return row_id(entry_id)
