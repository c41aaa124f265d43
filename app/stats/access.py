"""Who may read which statistics: the typed guard, the rule and the department a key sees."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from app.auth.dependencies import require_roles
from app.auth.service import Principal
from app.errors import Forbidden

READ_ROLES = ("admin", "reader", "department")

StatsReader = Annotated[Principal, Depends(require_roles(*READ_ROLES))]


def authorise(principal: Principal, department_code: str | None = None) -> None:
    """Admin and reader read all; a department key its own department and the centre totals."""
    if principal.role not in READ_ROLES:
        raise Forbidden(f"Role {principal.role} cannot read statistics")
    if (
        principal.role == "department"
        and department_code is not None
        and department_code != principal.department_code
    ):
        raise Forbidden("A department key reads its own department's figures only")


def only_department(principal: Principal) -> str | None:
    """The one department whose rows the key sees in a table (None: all of them)."""
    return principal.department_code if principal.role == "department" else None
