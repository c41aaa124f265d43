"""How a rating is shown: personal data decrypted only to be masked; the audited clear read."""

from __future__ import annotations

import logging
from typing import Any

from app import privacy
from app.privacy.masking import mask_name, mask_phone, mask_text
from app.ratings.models import Rating
from app.timefmt import to_local

log = logging.getLogger(__name__)


class RowView(dict):
    """A dict that also answers attribute access, so ORM rows and inserted values look alike."""

    __getattr__ = dict.__getitem__

    @property
    def _mapping(self) -> dict:
        return self


def row_dict(rating: Rating) -> RowView:
    """The stored columns, personal data decrypted (for masking, never for output as is)."""
    values = RowView({c.key: getattr(rating, c.key) for c in Rating.__table__.columns})
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
    if not text:  # most ratings have no comment
        return text
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


def view(rating: Rating, *, with_flags: bool = False) -> dict[str, Any]:
    return rating_view(row_dict(rating), with_flags=with_flags)


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
