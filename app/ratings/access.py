"""Who may post, read and see the flags of ratings: every role check of the rating domain."""

from __future__ import annotations

import uuid

from app.auth.service import Principal
from app.errors import Forbidden
from app.ratings.models import Rating

POSTING_ROLES = ("device", "portal", "hotline", "admin")


def may_post(principal: Principal) -> bool:
    """Devices, portals, the hotline and admins post ratings."""
    return principal.role in POSTING_ROLES


def require_poster(principal: Principal) -> None:
    """403 for a role that cannot post ratings."""
    if not may_post(principal):
        raise Forbidden(f"Role {principal.role} cannot post ratings")


def own_ratings_only(principal: Principal) -> uuid.UUID | None:
    """The client whose ratings a sender's key lists (its own); None for readers of many."""
    if principal.role in ("device", "portal", "hotline"):
        return principal.client_id
    return None


def sees_flags(principal: Principal) -> bool:
    """Senders are not told which of their ratings look scripted."""
    return principal.role in ("admin", "reader", "department")


def visible_department(principal: Principal, requested: str | None) -> str | None:
    """Department keys read their own department only; asking for another is 403."""
    if principal.role == "department":
        if requested is not None and requested != principal.department_code:
            raise Forbidden("A department key reads its own department's ratings only")
        return principal.department_code
    return requested


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
