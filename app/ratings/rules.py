"""Posting rules: who may post which rating, in one place for both ingest paths.

Pure (no I/O): `refusals` judges what an event says against the key that sends it. What needs
the database — the window exists in the department and is active; a follow-up rating (追评)
follows a first rating of the same case from the same client, once — is the INSERT's condition
(`storable`, in app/ratings/insert.py's statement), backed by a unique index for the "once"; an
event it skips is explained afterwards with the messages below.

| key | may post channels |
|---|---|
| device | `window_device` only (its own department and window) |
| portal | every channel but `window_device` |
| hotline | `hotline` only (a 12345 call rated by the caller); complaints go to /v1/complaints |
| admin | every channel (imports from a previous system) |
"""

from __future__ import annotations

from typing import Any

from app.errors import field_error
from app.ratings.models import CHANNELS

CHANNELS_BY_ROLE: dict[str, frozenset[str]] = {
    "device": frozenset({"window_device"}),
    "portal": frozenset(CHANNELS) - {"window_device"},
    "hotline": frozenset({"hotline"}),
    "admin": frozenset(CHANNELS),
}
_WHY = {
    "device": "a device posts its own channel, window_device, only",
    "portal": "window_device ratings come from the window's device key only",
    "hotline": "a hotline key posts channel hotline ratings only (complaints: /v1/complaints)",
}


def refusals(role: str, channel: str, assess_number: int, case_no: str | None) -> list[dict]:
    """What the key may not post of this event (field errors, 422), empty when it may."""
    errors = []
    if channel not in CHANNELS_BY_ROLE.get(role, ()):
        errors.append(field_error("channel", _WHY.get(role, "not for this key"), "forbidden"))
    if assess_number == 2 and case_no is None:
        errors.append(
            field_error("case_no", "a follow-up rating (assess_number 2) names its case", "missing")
        )
    return errors


# The database's part, as the INSERT reads the event (`u.<name>`) and the client (:client_id).
# A device's window is its placement, not a claim (:placed): a device is stopped by deactivating
# it, and its window's state does not refuse its ratings.
WINDOW_EXISTS = """
    (u.window_no IS NULL OR CAST(:placed AS boolean) OR EXISTS (
       SELECT 1 FROM service_window w
        WHERE w.department_code = u.department_code AND w.window_no = u.window_no AND w.active))
"""
FIRST_RATING = """
    (u.assess_number = 1 OR EXISTS (
       SELECT 1 FROM rating f
        WHERE f.client_id = CAST(:client_id AS uuid) AND f.case_no = u.case_no
          AND f.assess_number = 1))
"""


def storable(*, window: bool, follow_up: bool) -> str:
    """The INSERT's condition for storing an event: the checks above that can refuse one of the
    events, those naming a window not their device's own (`window`), or follow-ups
    (`follow_up`)."""
    checks = [sql for needed, sql in ((window, WINDOW_EXISTS), (follow_up, FIRST_RATING)) if needed]
    return " AND ".join(checks) or "true"


def window_error(active: bool | None) -> dict[str, Any]:
    """Why a window was refused: unknown in the department (None) or inactive (False)."""
    if active is None:
        return field_error("window_no", "no such window in this department", "unknown")
    return field_error("window_no", "the window is inactive", "inactive")


NO_FIRST_RATING = field_error(
    "assess_number",
    "no first rating of this case_no from this client: a follow-up (assess_number 2) follows one",
    "no_first_rating",
)
FOLLOW_UP_EXISTS = field_error(
    "assess_number",
    "this case already has its follow-up rating from this client; a case is rated at most twice",
    "follow_up_exists",
)
