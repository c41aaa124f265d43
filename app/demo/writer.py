"""The walked orders written: COPY into staging tables, then set-based INSERTs with their ids."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from app.demo import centre as demo_centre
from app.demo.centre import Staged
from app.demo.order import DEPARTMENT
from app.demo.progress import Report
from app.demo.walker import Walker
from app.privacy import Keyring

_ORDER_STAGE = """
CREATE TEMP TABLE demo_order (
    source text, key text, department_code text, window_no text, staff_id text, summary text,
    real_name boolean, tags text[], state text, substantiated boolean, extended boolean,
    appeal_from text, appealed_before boolean, outcome text, opened_at timestamptz,
    deadline_basis_at timestamptz, policy text, deadlines text, provisional boolean,
    current_stage text, next_due_at timestamptz, resolve_due_at timestamptz,
    resolved_at timestamptz, contacted_at timestamptz, called_back_at timestamptz,
    callback_satisfied boolean, closed_at timestamptz, due_soon_at timestamptz,
    overdue_at timestamptz, reopen_count smallint, created_by uuid, updated_at timestamptz,
    rounds text, late_rounds smallint, withdrawal_from text, withdrawal_requests smallint,
    withdrawal_refusals smallint
) ON COMMIT DROP;
CREATE TEMP TABLE demo_event (
    source text, key text, seq integer, action text, at timestamptz, actor_client_id uuid,
    actor_name text, actor_role text, note text, state_before text, state_after text, data text
) ON COMMIT DROP;
"""
_ORDER_COLUMNS = (
    "source", "key", "department_code", "window_no", "staff_id", "summary", "real_name", "tags",
    "state", "substantiated", "extended", "appeal_from", "appealed_before", "outcome",
    "opened_at", "deadline_basis_at", "policy", "deadlines", "provisional", "current_stage",
    "next_due_at", "resolve_due_at", "resolved_at", "contacted_at", "called_back_at",
    "callback_satisfied", "closed_at", "due_soon_at", "overdue_at", "reopen_count",
    "created_by", "updated_at", "rounds", "late_rounds", "withdrawal_from",
    "withdrawal_requests", "withdrawal_refusals",
)  # fmt: skip
_EVENT_COLUMNS = (
    "source", "key", "seq", "action", "at", "actor_client_id", "actor_name", "actor_role",
    "note", "state_before", "state_after", "data",
)  # fmt: skip
# Each order joined to its rating (by the loader's client and event id) or its complaint.
_INSERT_ORDERS = """
INSERT INTO work_order (source, rating_id, complaint_id, department_code, window_no, staff_id,
    summary, real_name, tags, state, substantiated, extended, appeal_from, appealed_before,
    outcome, opened_at, deadline_basis_at, policy, deadlines, provisional, current_stage,
    next_due_at, resolve_due_at, resolved_at, contacted_at, called_back_at, callback_satisfied,
    closed_at, due_soon_at, overdue_at, reopen_count, created_by, created_at, updated_at,
    rounds, late_rounds, withdrawal_from, withdrawal_requests, withdrawal_refusals)
SELECT o.source, r.id, c.id, o.department_code, o.window_no, o.staff_id, o.summary,
       o.real_name, o.tags, o.state, o.substantiated, o.extended, o.appeal_from,
       o.appealed_before, o.outcome, o.opened_at, o.deadline_basis_at, o.policy::jsonb,
       o.deadlines::jsonb, o.provisional, o.current_stage, o.next_due_at, o.resolve_due_at,
       o.resolved_at, o.contacted_at, o.called_back_at, o.callback_satisfied, o.closed_at,
       o.due_soon_at, o.overdue_at, o.reopen_count, o.created_by, o.opened_at, o.updated_at,
       o.rounds::jsonb, o.late_rounds, o.withdrawal_from, o.withdrawal_requests,
       o.withdrawal_refusals
  FROM demo_order o
  LEFT JOIN rating r ON o.source = 'rating' AND r.client_id = $1 AND r.event_id = o.key
  LEFT JOIN complaint c ON o.source = 'complaint' AND c.order_no = o.key
 ORDER BY o.opened_at
"""
_INSERT_EVENTS = """
INSERT INTO work_order_event (work_order_id, seq, action, at, actor_key_id, actor_client_id,
    actor_name, actor_role, note, state_before, state_after, data)
SELECT e.work_order_id, e.seq, e.action, e.at, NULL, e.actor_client_id, e.actor_name,
       e.actor_role, e.note, e.state_before, e.state_after, e.data::jsonb
  FROM (SELECT w.id AS work_order_id, e.*
          FROM demo_event e
          JOIN rating r ON r.client_id = $1 AND r.event_id = e.key
          JOIN work_order w ON w.rating_id = r.id
         WHERE e.source = 'rating'
        UNION ALL
        SELECT w.id, e.*
          FROM demo_event e
          JOIN complaint c ON c.order_no = e.key
          JOIN work_order w ON w.complaint_id = c.id
         WHERE e.source = 'complaint') AS e
 ORDER BY e.work_order_id, e.seq
"""
# Every rating status change of the demo's orders, kept as the service keeps it (from the
# timeline: the confirmed withdrawal or upheld appeal, its actor, note and evidence).
_INSERT_STATUS_CHANGES = """
INSERT INTO rating_status_change (rating_id, work_order_id, status_before, status_after, at,
    action, actor_key_id, actor_client_id, actor_name, actor_role, reason, evidence)
SELECT w.rating_id, w.id, 'valid',
       CASE e.action WHEN 'uphold' THEN 'invalidated' ELSE 'withdrawn' END, e.at, e.action,
       NULL, e.actor_client_id, e.actor_name, e.actor_role, e.note, e.data -> 'evidence'
  FROM work_order_event e
  JOIN work_order w ON w.id = e.work_order_id
  JOIN rating r ON r.id = w.rating_id AND r.client_id = $1
 WHERE e.action IN ('confirm_withdrawal', 'withdraw', 'uphold')
   AND NOT EXISTS (SELECT 1 FROM rating_status_change c WHERE c.work_order_id = w.id)
 ORDER BY e.at, e.id
"""


def _order_records(staged: list[Staged], created_by: dict[str, uuid.UUID | None]) -> list[tuple]:
    out = []
    for s in staged:
        o = s.order
        out.append(
            (
                s.source, s.key, s.department_code, s.window_no, s.staff_id, s.summary,
                o.real_name, s.tags, o.state, o.substantiated, o.extended, o.appeal_from,
                o.appealed_before, o.outcome, o.opened_at, o.deadline_basis_at,
                json.dumps(o.policy), json.dumps(o.deadlines_iso()), o.provisional,
                o.current_stage, o.next_due_at, o.resolve_due_at, o.resolved_at, o.contacted_at,
                o.called_back_at, o.callback_satisfied, o.closed_at, o.due_soon_at,
                o.overdue_at, o.reopen_count, created_by[s.source], o.updated_at,
                json.dumps(o.rounds), o.late_rounds, o.withdrawal_from, o.withdrawal_requests,
                o.withdrawal_refusals,
            )
        )  # fmt: skip
    return out


def _event_records(
    staged: list[Staged], actors: dict[tuple[str, str | None], tuple[Any, str, str | None]]
) -> list[tuple]:
    out = []
    for s in staged:
        for e in s.order.history:
            key = (e.actor, s.department_code if e.actor == DEPARTMENT else None)
            client_id, name, role = actors[key]
            data = e.data
            requester = data.get("evidence", {}).get("requested_by")
            if requester is not None:
                # who asked: the walker names the actor, the demo's clients are known here
                asker = requester["actor"]
                by_id, by_name, by_role = actors[
                    (asker, s.department_code if asker == DEPARTMENT else None)
                ]
                by = {"client_id": str(by_id) if by_id else None, "name": by_name, "role": by_role}
                data = {**data, "evidence": {**data["evidence"], "requested_by": by}}
            out.append(
                (
                    s.source, s.key, e.seq, e.action, e.at, client_id, name, role, e.note,
                    e.state_before, e.state_after, json.dumps(data, ensure_ascii=False),
                )
            )  # fmt: skip
    return out


async def write_orders(
    conn,
    centre: demo_centre.Centre,
    walker: Walker,
    staged: list[Staged],
    *,
    ring: Keyring,
    portal: uuid.UUID,
    hotline: uuid.UUID,
    actors: dict,
    start: datetime,
    end: datetime,
    count: int,
    seed: int,
    prefix: str,
    report: Report,
) -> dict[str, Any]:
    """The 12345 complaints, then every order and its history, set-based in one transaction."""
    complaint_rows, complaint_orders = demo_centre.complaints(
        centre,
        count,
        client_id=hotline,
        start=start,
        end=end,
        walker=walker,
        ring=ring,
        seed=seed,
        id_prefix=prefix,
    )
    staged = staged + complaint_orders
    orders = _order_records(staged, {"rating": None, "complaint": hotline})
    events = _event_records(staged, actors)
    total = len(orders) + len(events)
    report("work orders", 0, total)
    async with conn.transaction():
        await conn.copy_records_to_table(
            "complaint", records=complaint_rows, columns=demo_centre.COMPLAINT_COLUMNS
        )
        await conn.execute(_ORDER_STAGE)
        await conn.copy_records_to_table("demo_order", records=orders, columns=_ORDER_COLUMNS)
        await conn.copy_records_to_table("demo_event", records=events, columns=_EVENT_COLUMNS)
        inserted = await conn.execute(_INSERT_ORDERS, portal)
        if int(inserted.split()[-1]) != len(orders):
            raise RuntimeError(f"{inserted}: expected {len(orders)} work orders")
        report("work orders", len(orders), total)
        inserted = await conn.execute(_INSERT_EVENTS, portal)
        if int(inserted.split()[-1]) != len(events):
            raise RuntimeError(f"{inserted}: expected {len(events)} history rows")
        await conn.execute(_INSERT_STATUS_CHANGES, portal)
        report("work orders", total, total)
    by_state: dict[str, int] = {}
    for s in staged:
        by_state[s.order.state] = by_state.get(s.order.state, 0) + 1
    overdue = sum(1 for s in staged if s.order.next_due_at and s.order.next_due_at < end)
    return {
        "complaints": len(complaint_rows),
        "work_orders": len(orders),
        "history_rows": len(events),
        "by_state": dict(sorted(by_state.items())),
        "overdue": overdue,
    }
