"""12345 complaints: received once per order number, read, shown masked, erased in time."""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app import privacy
from app.auth.service import Principal
from app.config import Settings
from app.errors import NotFound, ProblemError, ValidationProblem, field_error
from app.privacy.masking import mask_name, mask_phone, mask_text
from app.workorders import repository
from app.workorders.access import visible_filter
from app.workorders.models import Complaint, WorkOrder
from app.workorders.opening import active_department, open_for_complaint
from app.workorders.repository import OrderFilter
from app.workorders.timing import current_policy

log = logging.getLogger(__name__)


class OrderNoReused(ProblemError):
    status, type, title = (
        422,
        "order-no-reused",
        "This order number was already used with a different payload",
    )


_COMPLAINT_FIELDS = (
    "order_no",
    "department_code",
    "window_no",
    "staff_id",
    "category",
    "content",
    "citizen_name",
    "citizen_phone",
    "received_at",
    "urgency",
)


def _complaint_canonical(values: dict[str, Any]) -> bytes:
    """The complaint as sent, in one fixed form (stored only as a keyed digest)."""
    canonical = {
        k: (values[k].isoformat() if isinstance(values[k], datetime) else values[k])
        for k in _COMPLAINT_FIELDS
    }
    # Only when not the default: a complaint stored before these fields existed, sent again
    # as it was, still matches its digest.
    if values.get("source", "hotline_12345") != "hotline_12345":
        canonical["source"] = values["source"]
    if values.get("category_code") is not None:
        canonical["category_code"] = values["category_code"]
    return json.dumps(canonical, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


async def receive_complaint(
    session: AsyncSession,
    principal: Principal,
    values: dict[str, Any],
    *,
    now: datetime,
    settings: Settings,
) -> tuple[Complaint, WorkOrder, bool]:
    """Store a 12345 complaint once per order number and open its order; (…, created).

    The key is the hotline's or an admin's (access.ComplaintSender)."""
    values = {**values, "received_at": values["received_at"]}
    if values["received_at"] > now + settings.future_tolerance:
        raise ValidationProblem(
            "received_at is in the future",
            errors=[field_error("received_at", "is in the future", "future")],
        )
    canonical = _complaint_canonical(values)
    digest = privacy.keyring().payload_digest(canonical)
    existing = await repository.complaint_by_no(session, values["order_no"])
    if existing is None:
        await active_department(session, values["department_code"], "department_code")
        row = (
            await session.execute(
                text(
                    """
                    INSERT INTO complaint (order_no, client_id, payload_hash, department_code,
                        window_no, staff_id, category, content, citizen_name, citizen_phone,
                        citizen_phone_hash, received_at, urgency, source, category_code)
                    VALUES (:order_no, :client_id, :payload_hash, :department_code, :window_no,
                        :staff_id, :category, :content, :citizen_name, :citizen_phone,
                        :citizen_phone_hash, :received_at, :urgency, :source, :category_code)
                    ON CONFLICT (order_no) DO NOTHING
                    RETURNING id
                    """
                ),
                {
                    **{k: values[k] for k in _COMPLAINT_FIELDS},
                    "source": values.get("source", "hotline_12345"),
                    "category_code": values.get("category_code"),
                    **_sealed_citizen(values),
                    "content": privacy.keyring().seal_text(values["content"], "complaint.content"),
                    "client_id": principal.client_id,
                    "payload_hash": digest,
                },
            )
        ).one_or_none()
        if row is not None:
            complaint = await session.get(Complaint, row.id)
            order = await open_for_complaint(
                session, principal, complaint, values, now=now, policy=current_policy(settings)
            )
            return complaint, order, True
        # A concurrent request stored it first (its transaction has committed).
        existing = await repository.complaint_by_no(session, values["order_no"])
    if existing.client_id != principal.client_id or not privacy.keyring().payload_matches(
        bytes(existing.payload_hash), canonical
    ):
        raise OrderNoReused(
            f"Order number {values['order_no']!r} was already used with a different payload",
            errors=[field_error("order_no", "already used with a different payload", "reused")],
        )
    order = await repository.order_of_complaint(session, existing.id, OrderFilter())
    return existing, order, False


async def get_complaint(
    session: AsyncSession, principal: Principal, order_no: str
) -> tuple[Complaint, WorkOrder]:
    """The complaint and its order if this key may see them; 404 otherwise."""
    complaint = await repository.complaint_by_no(session, order_no)
    if complaint is None:
        raise NotFound(f"No complaint {order_no!r}")
    filters = visible_filter(principal, OrderFilter())
    order = await repository.order_of_complaint(session, complaint.id, filters)
    if order is None:
        raise NotFound(f"No complaint {order_no!r}")
    return complaint, order


def _sealed_citizen(values: dict[str, Any]) -> dict[str, Any]:
    """The caller's name and phone as stored: encrypted, with the phone's keyed hash."""
    ring = privacy.keyring()
    return {
        "citizen_name": ring.encrypt(values["citizen_name"], "complaint.citizen_name"),
        "citizen_phone": ring.encrypt(values["citizen_phone"], "complaint.citizen_phone"),
        "citizen_phone_hash": ring.phone_hash(values["citizen_phone"]),
    }


def _citizen(complaint: Complaint) -> tuple[str | None, str | None]:
    ring = privacy.keyring()
    return (
        ring.decrypt(complaint.citizen_name, "complaint.citizen_name"),
        ring.decrypt(complaint.citizen_phone, "complaint.citizen_phone"),
    )


def complaint_view(complaint: Complaint) -> dict[str, Any]:
    citizen, name = None, None
    if complaint.citizen_name or complaint.citizen_phone:
        try:
            name, phone = _citizen(complaint)
            citizen = {"name": mask_name(name), "phone": mask_phone(phone)}
        except privacy.DataKeyError as exc:
            log.error("complaint %s: personal data unreadable: %s", complaint.id, exc)
            citizen = {"name": "***", "phone": "***"}
    try:
        content = privacy.keyring().open_text(complaint.content, "complaint.content")
        content = mask_text(content, (name,))
    except privacy.DataKeyError as exc:
        log.error("complaint %s: content unreadable: %s", complaint.id, exc)
        content = "***"
    return {
        "order_no": complaint.order_no,
        "department_code": complaint.department_code,
        "window_no": complaint.window_no,
        "staff_id": complaint.staff_id,
        "category": complaint.category,
        "source": complaint.source,
        "category_code": complaint.category_code,
        "content": content,
        "citizen": citizen,
        "received_at": complaint.received_at,
        "urgency": complaint.urgency,
    }


def complaint_personal_data(complaint: Complaint) -> dict[str, Any]:
    """The caller's name and phone, and the content whole, in clear (an admin's audited read)."""
    name, phone = _citizen(complaint)
    return {
        "order_no": complaint.order_no,
        "name": name,
        "phone": phone,
        "content": privacy.keyring().open_text(complaint.content, "complaint.content"),
        "erased_at": complaint.citizen_erased_at,
    }


# Every complaint is visited once past its time (its content is free text, whoever called):
# citizen_erased_at says that it was.
_EXPIRED_COMPLAINTS = text(
    """
    SELECT id, citizen_name, content FROM complaint
     WHERE citizen_erased_at IS NULL AND received_at < :before
     ORDER BY received_at
     LIMIT :limit
       FOR UPDATE SKIP LOCKED
    """
)
_ERASE_CITIZENS = text(
    """
    UPDATE complaint c
       SET citizen_name = NULL, citizen_phone = NULL, citizen_phone_hash = NULL,
           citizen_erased_at = :now, content = e.content
      FROM unnest(CAST(:ids AS bigint[]), CAST(:contents AS text[])) AS e(id, content)
     WHERE c.id = e.id
    """
)


async def erase_citizen_data(
    session: AsyncSession, *, before: datetime, now: datetime, limit: int = 5000
) -> int:
    """Erase the caller's name and phone of up to `limit` complaints received before `before`,
    and reduce their contents to the masked form (sealed again), as the ratings' comments."""
    rows = (await session.execute(_EXPIRED_COMPLAINTS, {"before": before, "limit": limit})).all()
    if not rows:
        return 0
    ring = privacy.keyring()
    contents = []
    for row in rows:
        try:
            name = ring.decrypt(row.citizen_name, "complaint.citizen_name")
            content = mask_text(ring.open_text(row.content, "complaint.content"), (name,))
        except privacy.DataKeyError as exc:
            log.error("complaint %s: personal data unreadable, erased whole: %s", row.id, exc)
            content = "***"  # the column is NOT NULL
        contents.append(ring.seal_text(content, "complaint.content"))
    await session.execute(
        _ERASE_CITIZENS, {"ids": [r.id for r in rows], "contents": contents, "now": now}
    )
    return len(rows)
